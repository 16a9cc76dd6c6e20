"""LVR-05: the leaver report's cases, its deadline logic, its text table and its JSON."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from monitor.facts import Duty
from monitor.report import LeaverRow, duty_row, format_report, leaver_report, report_json
from monitor.rules import RULES
from monitor.rules.base import Case
from tests.monitor.caserun import run_case

SPEC = RULES["LVR-05"]
T = datetime(2026, 11, 6, 17, tzinfo=UTC)
DEADLINE = T + timedelta(hours=24)


def _first_hr_person(case: Case) -> str:
    return next(e["data"]["person_id"] for e in case.events if e["type"].startswith("hr."))


@pytest.mark.parametrize("case", SPEC.cases, ids=[f"{c.expect}:{c.name}" for c in SPEC.cases])
def test_report_case(case: Case) -> None:
    _, result = run_case(case)
    assert not result.engine.stats.rule_errors
    person = _first_hr_person(case)
    rows = [r for r in leaver_report(result.engine) if r.person_id == person]
    if case.expect == "none":
        assert rows == []
    else:
        assert rows, f"no report row for {person}"


def test_lvr_05_is_a_report() -> None:
    assert SPEC.kind == "report" and SPEC.severity is None and not SPEC.on


def test_report_rows_from_a_replay() -> None:
    case = next(c for c in SPEC.cases if "rotated" in c.name)
    _, result = run_case(case)
    [row] = leaver_report(result.engine)
    assert (row.person_id, row.kind, row.account_id, row.cause) == ("p-1", "leaver", "acc-1", "hr-1")
    assert row.knew_credential and row.rotation_evidence == "v-1"
    assert row.status == "done" and row.met_deadline is True
    assert row.done_at == datetime(2026, 11, 6, 18, tzinfo=UTC)
    assert row.deadline == T + result.engine.params.leaver_deadline


def _duty(**kw: object) -> Duty:
    base: dict[str, object] = {
        "kind": "leaver",
        "person_id": "p-1",
        "due_from": T,
        "cause": "hr-1",
        "had_seat": True,
        "knew_credential": True,
    }
    return Duty(**{**base, **kw})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("duty", "now", "status", "met", "done_at"),
    [
        (_duty(), DEADLINE, "pending", None, None),
        (_duty(), DEADLINE + timedelta(seconds=1), "overdue", False, None),
        (_duty(seat_removed_at=T, rotated_at=DEADLINE), DEADLINE + timedelta(days=3), "done", True, DEADLINE),
        (
            _duty(seat_removed_at=T, rotated_at=DEADLINE + timedelta(minutes=1)),
            DEADLINE + timedelta(days=3),
            "done",
            False,
            DEADLINE + timedelta(minutes=1),
        ),
        (_duty(rotated_at=T), DEADLINE + timedelta(days=3), "overdue", False, None),
        (_duty(had_seat=False, knew_credential=False), T, "done", True, T),
        (_duty(cancelled_at=T - timedelta(days=1)), DEADLINE + timedelta(days=3), "cancelled", None, None),
        (
            _duty(kind="mover", confirmed_at=T + timedelta(hours=1)),
            DEADLINE + timedelta(days=3),
            "kept (confirmed)",
            True,
            T + timedelta(hours=1),
        ),
    ],
    ids=[
        "at-deadline-pending",
        "past-deadline-overdue",
        "done-exactly-at-deadline",
        "done-late",
        "half-done-overdue",
        "nothing-to-do",
        "cancelled",
        "mover-confirmed",
    ],
)
def test_status_and_met_deadline(
    duty: Duty, now: datetime, status: str, met: bool | None, done_at: datetime | None
) -> None:
    row = duty_row("acc-1", duty, DEADLINE, now)
    assert (row.status, row.met_deadline, row.done_at) == (status, met, done_at)


def _rows() -> list[LeaverRow]:
    return [
        duty_row("acc-1", _duty(seat_removed_at=T, rotated_at=T + timedelta(hours=2)), DEADLINE, DEADLINE),
        duty_row("acc-22", _duty(person_id="p-10", kind="mover"), DEADLINE, DEADLINE + timedelta(days=1)),
    ]


def test_format_report_is_a_fixed_width_table() -> None:
    text = format_report(_rows())
    lines = text.splitlines()
    assert len(lines) == 4
    assert lines[0].split()[:3] == ["person", "kind", "account"]
    assert set(lines[1]) <= {"-", " "}
    assert lines[2].index("leaver") == lines[3].index("mover") == lines[0].index("kind")
    assert lines[2].index("acc-1") == lines[3].index("acc-22") == lines[0].index("account")
    assert "removed 2026-11-06 17:00Z" in lines[2] and "rotated 2026-11-06 19:00Z" in lines[2]
    assert "done" in lines[2] and "yes" in lines[2]
    assert "STILL ON" in lines[3] and "NOT ROTATED" in lines[3] and "overdue" in lines[3] and "NO" in lines[3]


def test_format_report_says_kept_not_missing_when_no_removal_was_due() -> None:
    rows = [
        duty_row("acc-1", _duty(kind="mover", confirmed_at=T), DEADLINE, DEADLINE),
        duty_row("acc-2", _duty(cancelled_at=T), DEADLINE, DEADLINE),
    ]
    text = format_report(rows)
    assert "STILL ON" not in text and "NOT ROTATED" not in text
    assert "kept (confirmed)" in text and "cancelled" in text


def test_format_report_of_nothing() -> None:
    assert format_report([]) == "No leavers or movers on record."


def test_rows_dump_as_json() -> None:
    rows = _rows()
    data = json.loads(report_json(rows))
    assert [d["person_id"] for d in data] == ["p-1", "p-10"]
    assert data[0]["due_from"] == "2026-11-06T17:00:00Z" and data[1]["met_deadline"] is False
    assert LeaverRow.model_validate(data[0]) == rows[0]
    assert json.loads(rows[1].model_dump_json())["status"] == "overdue"
