"""The register checks' summaries say what is true of the account, in the words the person receiving them reads."""

from __future__ import annotations

from monitor.rules import RULES
from tests.monitor.caserun import run_case


def _summaries(control: str, case_name: str) -> list[str]:
    case = next(c for c in RULES[control].cases if c.name == case_name)
    alerts, _ = run_case(case)
    return [a.summary for a in alerts if a.control == control]


def test_dir_03_does_not_say_no_longer_of_a_manager_who_never_was_staff() -> None:
    (summary,) = _summaries("DIR-03", "the manager is not in the directory's people: alert")
    assert "no longer" not in summary
    assert "its account manager is not current staff (p-3 is not in the directory's people)" in summary


def test_dir_03_names_when_the_manager_left() -> None:
    (summary,) = _summaries("DIR-03", "the manager leaves: alert at their leaving time")
    assert "its account manager is not current staff (p-3 left at 2026-11-04 17:00Z)" in summary
