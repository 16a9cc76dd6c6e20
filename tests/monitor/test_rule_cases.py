"""Every rule's example cases, found in the registry and run through the whole engine."""

from __future__ import annotations

import pytest

from monitor.rules import RULES
from monitor.rules.base import Case, RuleSpec
from tests.monitor.caserun import run_case

ALL_CASES = [
    pytest.param(spec, case, id=f"{spec.control}:{case.expect}:{case.name}")
    for spec in RULES.values()
    if spec.kind == "alert"
    for case in spec.cases
]


@pytest.mark.parametrize(("spec", "case"), ALL_CASES)
def test_rule_case(spec: RuleSpec, case: Case) -> None:
    alerts, result = run_case(case)
    assert not result.engine.stats.rule_errors, f"rules raised: {dict(result.engine.stats.rule_errors)}"
    # a rule with nothing to keep returns None, so the engine drops its state (bench/README, "State")
    empty = sorted({c for states in result.engine.rule_state.values() for c, v in states.items()
                    if isinstance(v, dict | list | set | frozenset | tuple) and not v})  # fmt: skip
    assert not empty, f"rules keep an empty state: {empty}"
    mine = [a for a in alerts if a.control == spec.control]
    if case.expect == "none":
        assert mine == [], f"expected no {spec.control} alert, got: {[a.summary for a in mine]}"
        return
    assert mine, f"expected a {spec.control} alert; got only {[a.control for a in alerts]}"
    if case.severity is not None:
        assert case.severity in {a.severity for a in mine}, [a.severity for a in mine]
    if case.status is not None:
        assert case.status in {a.status for a in mine}, [a.status for a in mine]
    for a in mine:
        assert a.summary and a.next_step and a.sources and a.evidence
