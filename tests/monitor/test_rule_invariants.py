"""Invariants across all rules: every control implemented once, named consistently, with cases both ways."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

from monitor.policy import CONTROL_IDS, load_profile
from monitor.rules import RULES
from tests.shared import CONTROLS_MD


def _catalogue() -> dict[str, str]:
    """Control ID -> default severity, from the tables in shared/CONTROLS.md."""
    out: dict[str, str] = {}
    for line in CONTROLS_MD.read_text(encoding="utf-8").splitlines():
        m = re.match(r"^\| ([A-Z]{3}-\d\d) \|", line)
        if m:
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            out[m.group(1)] = cells[3]
    return out


CATALOGUE = _catalogue()


def test_catalogue_and_code_agree_on_the_control_ids() -> None:
    assert len(CATALOGUE) == 30
    assert tuple(CATALOGUE) == CONTROL_IDS


def test_every_control_is_implemented() -> None:
    missing = [c for c in CATALOGUE if c not in RULES]
    assert not missing, f"controls without a rule: {missing}"


def test_every_rule_has_positive_and_negative_cases() -> None:
    for cid, spec in RULES.items():
        kinds = {c.expect for c in spec.cases}
        assert kinds == {"alert", "none"}, f"{cid} has cases {sorted(kinds)}; it needs both 'alert' and 'none'"
        names = [c.name for c in spec.cases]
        assert len(names) == len(set(names)), f"{cid} has two cases with one name"


def test_rule_file_function_and_control_agree() -> None:
    for cid, spec in RULES.items():
        stem = cid.lower().replace("-", "_")
        module = Path(inspect.getfile(spec.fn)).stem
        assert module.startswith(stem + "_"), f"{cid} lives in {module}.py"
        assert spec.fn.__name__ == module, f"{cid}: function {spec.fn.__name__} in {module}.py"
        assert spec.fn.__doc__, f"{cid}: {spec.fn.__name__} has no docstring"


def test_default_severity_matches_the_catalogue() -> None:
    for cid, spec in RULES.items():
        if spec.kind == "report":
            assert CATALOGUE[cid] == "-"
            continue
        assert spec.severity is not None
        assert spec.severity in CATALOGUE[cid], f"{cid}: {spec.severity} vs catalogue {CATALOGUE[cid]!r}"


def test_rule_sources_are_what_the_default_profile_cites() -> None:
    default = load_profile("default")
    for cid, spec in RULES.items():
        assert tuple(spec.sources) == default.controls[cid].sources, cid


def test_rules_read_only_known_event_types() -> None:
    from schemas.events import EVENT_TYPES

    for cid, spec in RULES.items():
        unknown = spec.on - EVENT_TYPES - {"tick"}
        assert not unknown, f"{cid} listens to unknown types {unknown}"
