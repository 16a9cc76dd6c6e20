"""LVR-02: when someone moves to a role that no longer needs an account, their access goes by the deadline."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from monitor.rules._duties import EVIDENCE_TYPES, REACH_TYPES, duty_rule
from monitor.rules._fixtures import (
    account,
    directory,
    leaver,
    platform_admin_added,
    platform_admin_removed,
    role_changed,
    rotated,
    sport_account,
    staff,
)
from monitor.rules.base import Action, Case, Context, ev, rule

_DIR = directory(
    account(credential_model="shared_credential"),
    sport_account("acc-2", credential_model="named_logins"),
    people=staff("p-1", "p-2"),
)
_MOVE = role_changed("2026-11-02T09:00:00Z", "hr-1", "p-1", "2026-11-06T17:00:00Z")
_POSTPONED = role_changed("2026-11-03T09:00:00Z", "hr-2", "p-1", "2026-11-13T17:00:00Z")  # HR corrects the date
_LATE = role_changed("2026-11-08T09:00:00Z", "hr-1", "p-1", "2026-11-06T17:00:00Z")  # HR reports two days after
_LEAVES_LATER = leaver("2026-11-09T09:00:00Z", "hr-2", "p-1", "2026-11-20T17:00:00Z")  # after the move's deadline


# acc-2 has named logins and p-1 holds no role there
_OTHER = directory(
    account(credential_model="shared_credential"),
    sport_account("acc-2", credential_model="named_logins", admins=["p-2"]),
    people=staff("p-1", "p-2"),
)


def _seat_added(t: str, id_: str) -> dict[str, Any]:
    return platform_admin_added(t, id_, "p-1", actor_id="p-2", account_id="acc-2")


def _seat_removed(t: str, id_: str) -> dict[str, Any]:
    return platform_admin_removed(t, id_, "p-1", actor_id="p-2", account_id="acc-2")


def _confirmed(t: str, id_: str, account: str) -> dict[str, Any]:
    return ev("directory.access_confirmed", t, id_, account_id=account, person_id="p-1")


CASES = [
    Case(
        "mover's access left in place past the deadline: alert",
        "alert",
        (_MOVE,),
        _DIR,
        until="2026-11-07T18:00:00Z",
        severity="high",
        status="open",
    ),
    Case(
        "not done two days after the deadline: escalates to critical",
        "alert",
        (_MOVE,),
        _DIR,
        until="2026-11-10T18:00:00Z",
        severity="critical",
    ),
    Case("before the deadline: no alert yet", "none", (_MOVE,), _DIR, until="2026-11-07T16:59:00Z"),
    Case(
        "credential rotated and seat removed by the deadline: no alert",
        "none",
        (_MOVE, rotated("2026-11-06T18:00:00Z", "v-1"), _seat_removed("2026-11-07T17:00:00Z", "pa-1")),
        _DIR,
        until="2026-11-09T00:00:00Z",
    ),
    Case(
        "access confirmed on both accounts: no alert",
        "none",
        (
            _MOVE,
            _confirmed("2026-11-03T09:00:00Z", "cf-1", "acc-1"),
            _confirmed("2026-11-03T09:00:00Z", "cf-2", "acc-2"),
        ),
        _DIR,
        until="2026-11-09T00:00:00Z",
    ),
    Case(
        "access confirmed before the move: no alert",
        "none",
        (
            _confirmed("2026-11-01T09:00:00Z", "cf-1", "acc-1"),
            _confirmed("2026-11-01T09:00:00Z", "cf-2", "acc-2"),
            _MOVE,
        ),
        _DIR,
        until="2026-11-09T00:00:00Z",
    ),
    Case(
        "confirmed on one account only: the other alerts",
        "alert",
        (_MOVE, _confirmed("2026-11-03T09:00:00Z", "cf-1", "acc-1")),
        _DIR,
        until="2026-11-09T00:00:00Z",
    ),
    Case(
        "seat removed late: the alert resolves itself",
        "alert",
        (_MOVE, rotated("2026-11-06T18:00:00Z", "v-1"), _seat_removed("2026-11-08T10:00:00Z", "pa-1")),
        _DIR,
        until="2026-11-09T00:00:00Z",
        status="resolved",
    ),
    Case(
        "a later leaving does not resolve the overdue mover alert: it stays open",
        "alert",
        (_MOVE, _LEAVES_LATER),
        _DIR,
        until="2026-11-10T00:00:00Z",
        status="open",
    ),
    Case(
        "a later leaving noticed before the move's deadline: alert at the move's deadline all the same",
        "alert",
        (_MOVE, leaver("2026-11-03T09:00:00Z", "hr-2", "p-1", "2026-11-20T17:00:00Z")),
        _DIR,
        until="2026-11-07T17:00:00Z",
        status="open",
    ),
    Case(
        "the leaving comes before the move took effect (reported late): LVR-01 takes over, the mover alert resolves",
        "alert",
        (_MOVE, leaver("2026-11-09T09:00:00Z", "hr-2", "p-1", "2026-11-05T17:00:00Z")),
        _DIR,
        until="2026-11-10T00:00:00Z",
        status="resolved",
    ),
    Case(
        "a leaving before the move, noticed and withdrawn before the move: alert at the move's deadline",
        "alert",
        (
            _MOVE,
            leaver("2026-11-03T09:00:00Z", "hr-2", "p-1", "2026-11-05T17:00:00Z"),
            ev("hr.leaver_cancelled", "2026-11-04T10:00:00Z", "hr-3", person_id="p-1"),
        ),
        _DIR,
        until="2026-11-07T17:00:00Z",
        status="open",
    ),
    Case(
        "a later leaving noticed and withdrawn: the move stands, alert",
        "alert",
        (_MOVE, _LEAVES_LATER, ev("hr.leaver_cancelled", "2026-11-09T10:00:00Z", "hr-3", person_id="p-1")),
        _DIR,
        until="2026-11-10T00:00:00Z",
        status="open",
    ),
    Case(
        "a later leaving noticed, the access removed late: resolved",
        "alert",
        (
            _MOVE,
            _LEAVES_LATER,
            rotated("2026-11-09T10:00:00Z", "v-1"),
            _seat_removed("2026-11-09T11:00:00Z", "pa-1"),
        ),
        _DIR,
        until="2026-11-10T00:00:00Z",
        status="resolved",
    ),
    Case(
        "move postponed by a second notice: no alert at the first notice's deadline",
        "none",
        (_MOVE, _POSTPONED),
        _DIR,
        until="2026-11-14T16:59:00Z",
    ),
    Case(
        "move postponed by a second notice: alert at the new deadline",
        "alert",
        (_MOVE, _POSTPONED),
        _DIR,
        until="2026-11-14T17:00:00Z",
        severity="high",
        status="open",
    ),
    Case(
        "reported late, the credential rotated and the seat removed after the move: no alert",
        "none",
        (rotated("2026-11-06T17:00:00Z", "v-1"), _seat_removed("2026-11-06T18:00:00Z", "pa-1"), _LATE),
        _DIR,
        until="2026-11-12T00:00:00Z",
    ),
    Case(
        "reported late, the seat removed but the only rotation before the move: alert",
        "alert",
        (rotated("2026-11-06T16:59:00Z", "v-1"), _seat_removed("2026-11-06T18:00:00Z", "pa-1"), _LATE),
        _DIR,
        until="2026-11-12T00:00:00Z",
    ),
    Case(
        "given a seat on another account between the notice and the move, left in place: alert there",
        "alert",
        (_MOVE, _confirmed("2026-11-03T09:00:00Z", "cf-1", "acc-1"), _seat_added("2026-11-04T09:00:00Z", "pa-1")),
        _OTHER,
        until="2026-11-08T00:00:00Z",
        severity="high",
        status="open",
    ),
    Case(
        "given a seat on another account after the move took effect (the new role's): no alert",
        "none",
        (_MOVE, _confirmed("2026-11-03T09:00:00Z", "cf-1", "acc-1"), _seat_added("2026-11-06T17:00:00Z", "pa-1")),
        _OTHER,
        until="2026-11-09T00:00:00Z",
    ),
]


@rule(
    "LVR-02",
    title="Mover's access removed by the deadline",
    severity="high",
    sources=["003 §5.4", "004 Section 3"],
    on=("hr.role_changed", "hr.leaver", "hr.leaver_cancelled", "tick", *EVIDENCE_TYPES, *REACH_TYPES),
    window="leaver_deadline, then leaver_escalation",
    cases=CASES,
)
def lvr_02_mover_access_removed(event: Any, state: Any, ctx: Context) -> tuple[Any, Sequence[Action]]:
    """Alert when a mover's seat or known credential outlives the deadline, unless confirmed; escalate; resolve.

    A leaving HR gives notice of too does not lift the move's duty: the access is due to go by the earlier of the two
    deadlines, so the notice that takes effect first holds the person's one duty on the account (facts._holds) and
    one alert is raised for it, not one per notice. A leaving after the move (even before the move's deadline) leaves
    the duty and its alert to LVR-02, through the leaving; a leaving no later than the move hands it to LVR-01, and
    back to LVR-02 if HR withdraws it (hr.leaver_cancelled withdraws a leaving, never a move). Confirming that the
    mover keeps the account hands it to LVR-01 when a leaving is noticed.
    """
    return duty_rule("mover", event, state, ctx)
