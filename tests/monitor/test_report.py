"""LVR-05: the leaver report's cases, its deadline logic, its text table and its JSON."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from monitor.facts import Duty
from monitor.report import NO_ACCOUNT, LeaverRow, duty_row, format_report, leaver_report, report_json
from monitor.rules import RULES
from monitor.rules._fixtures import account, leaver, login, person, role_changed
from monitor.rules.base import Case, ev
from tests.monitor.caserun import run_case

SPEC = RULES["LVR-05"]
T = datetime(2026, 11, 6, 17, tzinfo=UTC)
DEADLINE = T + timedelta(hours=24)


def _first_hr_person(case: Case) -> str:
    return next(e["data"]["person_id"] for e in case.events if e["type"].startswith("hr."))


def _first_hr_event(case: Case) -> str:
    return next(e["id"] for e in case.events if e["type"].startswith("hr."))


@pytest.mark.parametrize("case", SPEC.cases, ids=[f"{c.expect}:{c.name}" for c in SPEC.cases])
def test_report_case(case: Case) -> None:
    _, result = run_case(case)
    assert not result.engine.stats.rule_errors
    person = _first_hr_person(case)
    rows = [r for r in leaver_report(result.engine) if r.person_id == person]
    if case.expect == "none":  # HR's report is seen to have arrived: one row, with no account
        assert [(r.account_id, r.status in NO_ACCOUNT) for r in rows] == [(None, True)], rows
        named = result.engine.people[person].in_directory
        assert rows[0].status == ("nothing to revoke" if named else "not in the register")
        assert (rows[0].cause, rows[0].met_deadline, rows[0].done_at) == (_first_hr_event(case), None, None)
    else:
        assert rows and all(r.account_id is not None for r in rows), f"no report row on an account for {person}"


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
        (_duty(had_seat=False, knew_credential=False), T, "no access on record", None, None),
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


def test_a_leaver_with_no_account_is_a_row_with_none_in_the_table_and_the_json() -> None:
    """HR reported p-7 (in the register, no account) and p-77 (a mistyped id): each is listed, beside p-1's duty, so
    HR sees the report arrived and why nothing is checked; p-8's report was withdrawn, so p-8 is not; nor is p-6, who
    has no role on an account but signed in to one after leaving: that is no "nothing to revoke" (LVR-03 alerts)."""
    case = next(c for c in SPEC.cases if "with access" in c.name and c.events[0]["data"]["person_id"] == "p-1")
    directory = {**case.directory, "people": [*case.directory["people"], person("p-8"), person("p-6")]}
    events = (
        *case.events,
        leaver("2026-11-02T09:30:00Z", "hr-6", "p-6", "2026-11-06T17:00:00Z"),
        login("2026-11-07T08:00:00Z", "l-6", person_id="p-6"),
        leaver("2026-11-02T10:00:00Z", "hr-7", "p-7", "2026-11-06T17:00:00Z"),
        leaver("2026-11-02T11:00:00Z", "hr-77", "p-77", "2026-11-07T17:00:00Z"),
        leaver("2026-11-02T12:00:00Z", "hr-8", "p-8", "2026-11-07T17:00:00Z"),
        ev("hr.leaver_cancelled", "2026-11-03T12:00:00Z", "hr-9", person_id="p-8"),
    )
    _, result = run_case(Case("mixed", "alert", events, directory, until="2026-11-09T00:00:00Z"))
    rows = leaver_report(result.engine)
    assert [(r.person_id, r.account_id, r.status) for r in rows] == [
        ("p-1", "acc-1", "overdue"), ("p-7", None, "nothing to revoke"), ("p-77", None, "not in the register"),
    ]  # fmt: skip
    assert rows[2].due_from == datetime(2026, 11, 7, 17, tzinfo=UTC) and rows[2].cause == "hr-77"
    lines = format_report(rows).splitlines()
    assert lines[3].split() == ["p-7", "leaver", "(none)", "2026-11-06", "17:00Z", "2026-11-07", "17:00Z", "-", "-",
                                "nothing", "to", "revoke", "-", "-"]  # fmt: skip
    assert "not in the register" in lines[4] and "STILL ON" not in lines[4] and "NOT ROTATED" not in lines[4]
    data = json.loads(report_json(rows))
    assert data[1]["account_id"] is None and LeaverRow.model_validate(data[2]) == rows[2]


def test_a_mover_given_access_after_the_move_is_still_seen_reported_with_nothing_to_revoke() -> None:
    """Access gained after the move is for the new role (no duty): the mover dropped out of the report altogether."""
    case = next(c for c in SPEC.cases if "with access" in c.name and c.events[0]["data"]["person_id"] == "p-1")
    directory = {**case.directory, "people": [*case.directory["people"], person("p-9")]}
    events = (
        role_changed("2026-11-02T09:00:00Z", "hr-9", "p-9", "2026-11-03T09:00:00Z"),
        ev("directory.admin_assigned", "2026-11-04T09:00:00Z", "as-9", account_id="acc-1", person_id="p-9",
           role="editor"),
    )  # fmt: skip
    _, result = run_case(Case("mover", "none", events, directory, until="2026-11-06T00:00:00Z"))
    assert [(r.person_id, r.kind, r.account_id, r.status) for r in leaver_report(result.engine)] == [
        ("p-9", "mover", None, "nothing to revoke")
    ]


def test_format_report_of_nothing() -> None:
    assert format_report([]) == "No leavers or movers on record."


def test_rows_dump_as_json() -> None:
    rows = _rows()
    data = json.loads(report_json(rows))
    assert [d["person_id"] for d in data] == ["p-1", "p-10"]
    assert data[0]["due_from"] == "2026-11-06T17:00:00Z" and data[1]["met_deadline"] is False
    assert LeaverRow.model_validate(data[0]) == rows[0]
    assert json.loads(rows[1].model_dump_json())["status"] == "overdue"


def test_a_late_cancellation_older_than_a_new_notice_does_not_cancel_it() -> None:
    """HR gave notice (hr-1), withdrew it (hr-2, 3 Nov) and gave a new one (hr-3, 10 Nov). The withdrawal arriving
    after the new notice is older than it: p-1 is leaving, and the report must not say the duty was cancelled."""
    case = next(c for c in SPEC.cases if "with access" in c.name and c.events[0]["data"]["person_id"] == "p-1")
    events = (
        case.events[0],
        leaver("2026-11-10T09:00:00Z", "hr-3", "p-1", "2026-11-12T17:00:00Z"),
        ev("hr.leaver_cancelled", "2026-11-03T10:00:00Z", "hr-2", person_id="p-1"),
    )
    _, result = run_case(Case("late cancel", "alert", events, case.directory, until="2026-11-14T00:00:00Z"))
    rows = leaver_report(result.engine)
    assert [(r.person_id, r.account_id, r.cause, r.status) for r in rows] == [("p-1", "acc-1", "hr-3", "overdue")]
    opened = [a.evidence for a in result.engine.final_alerts() if a.control == "LVR-01" and a.status == "open"]
    assert opened == [["hr-3"]]  # and IT security is told, as HR is, that the access has not gone


def test_a_late_notice_older_than_its_cancellation_does_not_bring_the_leaving_back() -> None:
    """The withdrawal (hr-2) arrived before the notice it withdraws (hr-1, older): p-1 is not leaving."""
    case = next(c for c in SPEC.cases if "with access" in c.name and c.events[0]["data"]["person_id"] == "p-1")
    events = (ev("hr.leaver_cancelled", "2026-11-03T10:00:00Z", "hr-2", person_id="p-1"), case.events[0])
    _, result = run_case(Case("late notice", "none", events, case.directory, until="2026-11-09T00:00:00Z"))
    assert [r.status for r in leaver_report(result.engine) if r.person_id == "p-1"] in ([], ["cancelled"])
    assert not [a for a in result.engine.final_alerts() if a.control in ("LVR-01", "LVR-03")]


def test_a_late_move_notice_older_than_its_correction_does_not_replace_it() -> None:
    """HR gave notice of p-2's move (hr-3, effective 3 Nov), then corrected it (hr-4, effective 20 Nov). The first
    notice arriving after the correction is older than it: the move is on 20 Nov, not overdue on 8 Nov."""
    case = next(c for c in SPEC.cases if c.name == "a mover with access: a row")
    events = (
        role_changed("2026-11-02T12:00:00Z", "hr-4", "p-2", "2026-11-20T09:00:00Z"),
        case.events[0],
    )
    _, result = run_case(Case("late move", "alert", events, case.directory, until="2026-11-08T00:00:00Z"))
    rows = [(r.person_id, r.account_id, r.cause, r.status) for r in leaver_report(result.engine)]
    assert rows == [("p-2", "acc-1", "hr-4", "pending")]
    assert not [a for a in result.engine.final_alerts() if a.control == "LVR-02" and a.status == "open"]


def test_a_leaver_who_signed_in_with_no_access_on_record_is_not_reported_done() -> None:
    """p-7 has no role, seat or credential on acc-1 (named logins) but signed in to it before HR's notice. Nothing was
    removed and nothing shows the access gone: the report said "done", in time, done at the leaving time (judged
    before it)."""
    case = next(c for c in SPEC.cases if "reach no account" in c.name)
    named_logins = {**case.directory, "accounts": [account()]}
    events = (login("2026-11-01T08:00:00Z", "l-7", person_id="p-7"), *case.events)
    _, result = run_case(Case("signed in", "alert", events, named_logins, until="2026-11-04T00:00:00Z"))
    [row] = leaver_report(result.engine)
    assert (row.person_id, row.account_id, row.status, row.met_deadline, row.done_at) == (
        "p-7", "acc-1", "no access on record", None, None,
    )  # fmt: skip
    assert "done" not in format_report([row]).splitlines()[2]


@pytest.mark.parametrize("late", ["", "notice", "older rotation"], ids=["in-order", "notice-late", "older-late"])
def test_a_rotation_by_the_leaver_themselves_is_not_their_credential_rotated(late: str) -> None:
    """p-1 left and then rotated acc-1's shared password themselves: they know the new one. The report said
    "rotated", "done", in time, so HR was told the credential they knew had changed; and so with HR's notice late,
    or with an older rotation by someone else arriving after theirs."""
    case = next(c for c in SPEC.cases if "with access" in c.name and c.events[0]["data"]["person_id"] == "p-1")
    own = ev("credential.rotated", "2026-11-06T18:00:00Z", "v-1", account_id="acc-1", actor_id="p-1")
    older = ev("credential.rotated", "2026-11-06T17:30:00Z", "v-0", account_id="acc-1", actor_id="p-2")
    events = {
        "": (case.events[0], own),
        "notice": (own, case.events[0]),
        "older rotation": (case.events[0], own, older),
    }[late]
    _, result = run_case(Case("own rotation", "alert", events, case.directory, until="2026-11-09T00:00:00Z"))
    [row] = leaver_report(result.engine)
    assert (row.rotated_at, row.status, row.met_deadline) == (None, "overdue", False)
    assert "NOT ROTATED" in format_report([row])
    assert [a.status for a in result.engine.final_alerts() if a.control == "LVR-01"] == ["open"]
