"""RuleSpec.quiet_when holds: a rule the engine skips under a precondition would have done nothing."""

from __future__ import annotations

from typing import Any

import pytest

from monitor.engine import Engine
from monitor.rules import RULES
from monitor.rules.base import Case, Context, RuleSpec
from tests.monitor.caserun import run_case

_CASES = [(spec, case) for spec in RULES.values() for case in spec.cases]


def _checked(spec: RuleSpec, wrong: list[str]) -> Any:
    """The rule's function, noting each call where its quiet claim applies and it did something (the engine's loop
    catches what a rule raises, so an assertion here would not fail the test)."""
    fn = spec.fn

    def run(event: Any, state: Any, ctx: Context) -> Any:
        new_state, actions = fn(event, state, ctx)
        cond = spec.quiet_when.get(event.type)
        quiet = cond is not None and state is None and cond(event.data, ctx.account)
        if quiet and (new_state is not None or actions):
            wrong.append(f"{spec.control} is not quiet on {event.type} {event.id}")
        return new_state, actions

    return run


@pytest.mark.parametrize(("spec", "case"), _CASES, ids=[f"{s.control}:{c.name}" for s, c in _CASES])
def test_quiet_claims_hold_in_every_rule_case(spec: RuleSpec, case: Case, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every rule is called, unskipped, on every case of every rule; where it claims quiet, it is."""
    wrong: list[str] = []
    init = Engine.__init__

    def unskipped(self: Engine, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        self._quiet = {}
        wrap = {c: (c, _checked(RULES[c], wrong), i, s) for t in self._dispatch.values() for c, _, i, s in t}
        self._dispatch = {t: tuple(wrap[s[0]] for s in slots) for t, slots in self._dispatch.items()}
        self._not_left = {t: tuple(wrap[s[0]] for s in slots) for t, slots in self._not_left.items()}

    monkeypatch.setattr(Engine, "__init__", unskipped)
    _, result = run_case(case)
    assert not wrong
    assert not result.engine.stats.rule_errors


def test_quiet_rules_are_skipped_on_an_ordinary_sign_in() -> None:
    """An ordinary sign-in reaches only the sign-in rules that keep state of their own."""
    case = next(c for c in RULES["SIG-02"].cases if c.expect == "none")
    _, result = run_case(case)
    engine = result.engine
    conds, variants = engine._quiet["login.succeeded"]
    slots, _ = variants[(1 << len(conds)) - 1]
    skipped = {c for c, _, initial, _ in slots if initial is not None and initial.__name__ == "_quiet"}
    assert {"CRD-04", "DIR-01", "MFA-02", "SIG-01", "SIG-02", "SIG-04"} <= skipped
