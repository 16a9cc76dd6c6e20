"""LVR-05: the leaver and mover report for HR and auditors, built from every account's duties."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict

from monitor.facts import Duty, DutyKind, PersonFacts
from monitor.wording import counted

if TYPE_CHECKING:
    from monitor.engine import Engine

Status = Literal[
    "done",
    "pending",
    "overdue",
    "cancelled",
    "kept (confirmed)",
    "no access on record",
    "nothing to revoke",
    "not in the register",
]
# "no access on record": the person reached the account (signed in, or a device approved for them) with no role, seat
# or credential that the register, the platform or the vault records, so nothing could be removed and nothing shows
# it gone; the sign-in alerts (SIG-02, and LVR-03 after the leaving time) say what it is.
# The statuses of a row with no account: HR reported the person, and no account the monitor knows gives them a role,
# seat or credential. "not in the register": its directory does not name them either (a mistyped id, or no register).
NO_ACCOUNT: tuple[Status, ...] = ("nothing to revoke", "not in the register")


class LeaverRow(BaseModel):
    """One person on one account: what had to go, what was done, when, and whether it met the deadline. A person HR
    reported who reaches no account has one row with no account (`account_id` null, a status of NO_ACCOUNT), so HR
    sees that the report arrived and that there was nothing to revoke."""

    model_config = ConfigDict(frozen=True)

    person_id: str
    kind: DutyKind
    account_id: str | None
    cause: str
    due_from: datetime
    deadline: datetime
    had_seat: bool
    seat_removed_at: datetime | None
    seat_evidence: str | None
    knew_credential: bool
    rotated_at: datetime | None
    rotation_evidence: str | None
    confirmed_at: datetime | None
    cancelled_at: datetime | None
    status: Status
    met_deadline: bool | None
    done_at: datetime | None


def duty_row(account_id: str, duty: Duty, deadline: datetime, now: datetime | None) -> LeaverRow:
    """The report row of one duty, judged at `now` (the engine's clock)."""
    done_at: datetime | None = None
    met: bool | None = None
    status: Status
    if duty.cancelled_at is not None:
        status = "cancelled"
    elif duty.confirmed_at is not None:
        status, done_at = "kept (confirmed)", duty.confirmed_at
        met = done_at <= deadline
    elif not duty.had_seat and not duty.knew_credential:  # not "done": nothing was, nor shown needed
        status = "no access on record"
    elif duty.done:
        status, done_at = "done", duty.done_at()
        met = done_at is not None and done_at <= deadline
    elif now is not None and now > deadline:
        status, met = "overdue", False
    else:
        status = "pending"
    return LeaverRow(
        person_id=duty.person_id, kind=duty.kind, account_id=account_id, cause=duty.cause,
        due_from=duty.due_from, deadline=deadline,
        had_seat=duty.had_seat, seat_removed_at=duty.seat_removed_at, seat_evidence=duty.seat_evidence,
        knew_credential=duty.knew_credential, rotated_at=duty.rotated_at, rotation_evidence=duty.rotation_evidence,
        confirmed_at=duty.confirmed_at, cancelled_at=duty.cancelled_at,
        status=status, met_deadline=met, done_at=done_at,
    )  # fmt: skip


def no_account_row(person: PersonFacts, deadline_after: timedelta) -> LeaverRow | None:
    """The row of a person HR reported as leaving or moving who has no duty on any account: nothing to revoke, or
    (not in the register) a person id the register's directory does not name. None when HR's report is withdrawn."""
    if person.leaver_event is not None and person.leaving_at is not None:
        kind: DutyKind = "leaver"
        due_from, cause = person.leaving_at, person.leaver_event
    elif person.mover_event is not None and person.moved_at is not None:
        kind, due_from, cause = "mover", person.moved_at, person.mover_event
    else:
        return None
    return LeaverRow(
        person_id=person.person_id, kind=kind, account_id=None, cause=cause,
        due_from=due_from, deadline=due_from + deadline_after,
        had_seat=False, seat_removed_at=None, seat_evidence=None,
        knew_credential=False, rotated_at=None, rotation_evidence=None,
        confirmed_at=None, cancelled_at=None,
        status="nothing to revoke" if person.in_directory else "not in the register", met_deadline=None, done_at=None,
    )  # fmt: skip


def _nothing_to_revoke(engine: Engine, person: PersonFacts) -> bool:
    """A mover with no duty (access gained after the move is for the new role), or a leaver who reaches no account
    or only ones where their access was confirmed. A leaver who reaches one with no duty on it otherwise (signed in
    after leaving, say) is not "nothing to revoke": the alerts say what it is."""
    if person.leaver_event is None:
        return True
    pid = person.person_id
    return all((acc := engine.accounts.get(aid)) is not None and pid in acc.confirmed for aid in person.accounts)


def leaver_report(engine: Engine) -> list[LeaverRow]:
    """Every leaver's and mover's duty on every account, and one row with no account for each person HR reported who
    has none (so their report is seen to have arrived), sorted by person then account."""
    allowed = engine.params.leaver_deadline
    rows = [
        duty_row(acc.account_id, duty, duty.due_from + allowed, engine.clock)
        for acc in engine.accounts.values()
        for duty in acc.duties.values()
    ]
    placed = {r.person_id for r in rows}
    for person in engine.people.values():
        if (
            person.person_id not in placed
            and _nothing_to_revoke(engine, person)
            and (row := no_account_row(person, allowed))
        ):
            rows.append(row)
    return sorted(rows, key=lambda r: (r.person_id, r.account_id or "", r.due_from))


def why_no_rows(engine: Engine) -> str | None:
    """Why a report has no row on any account when HR did report leavers or movers (None when none were reported):
    a duty is on an account the person reaches, and the register is what says who reaches which."""
    people = sorted((p for p in engine.people.values() if p.leaver_event or p.mover_event), key=lambda p: p.person_id)
    if not people:
        return None
    counts = [
        (sum(1 for p in people if p.leaver_event), "leaver"),
        (sum(1 for p in people if not p.leaver_event), "mover"),
    ]
    who = ", ".join(p.person_id for p in people[:5]) + (f" and {len(people) - 5} more" if len(people) > 5 else "")
    found = " and ".join(counted(n, kind) for n, kind in counts if n) + f" found ({who})"
    if not any(a.registered for a in engine.accounts.values()):
        return (f"{found}, but no register was given, so no account could be checked: the register says who "
                "holds which account. Give it with --directory FILE (or as directory.* events).")  # fmt: skip
    return f"{found}, but no account the monitor knows of gives them a role, seat or credential."


def report_json(rows: Sequence[LeaverRow]) -> str:
    """The rows as one JSON array, for auditors' tools."""
    return json.dumps([r.model_dump(mode="json") for r in rows], indent=2)


def _t(t: datetime | None) -> str:
    return f"{t:%Y-%m-%d %H:%M}Z" if t is not None else "-"


def _seat(r: LeaverRow) -> str:
    if r.account_id is None:
        return "-"
    if not r.had_seat:
        return "no seat"
    if r.seat_removed_at:
        return f"removed {_t(r.seat_removed_at)}"
    return "kept" if r.status in ("cancelled", "kept (confirmed)") else "STILL ON"


def _credential(r: LeaverRow) -> str:
    if r.account_id is None:
        return "-"
    if not r.knew_credential:
        return "not known"
    if r.rotated_at:
        return f"rotated {_t(r.rotated_at)}"
    return "kept" if r.status in ("cancelled", "kept (confirmed)") else "NOT ROTATED"


HEADERS = ("person", "kind", "account", "due from", "deadline", "seat", "credential", "status", "in time", "done at")


def format_report(rows: Sequence[LeaverRow]) -> str:
    """A fixed-width text table of the rows for a terminal."""
    if not rows:
        return "No leavers or movers on record."
    met = {True: "yes", False: "NO", None: "-"}
    table = [HEADERS] + [
        (
            r.person_id,
            r.kind,
            r.account_id or "(none)",
            _t(r.due_from),
            _t(r.deadline),
            _seat(r),
            _credential(r),
            r.status,
            met[r.met_deadline],
            _t(r.done_at),
        )
        for r in rows
    ]
    widths = [max(len(line[i]) for line in table) for i in range(len(HEADERS))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip() for line in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
