"""LVR-01: when someone leaves, their seat goes and any credential they knew is rotated, by the deadline."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from monitor.rules._duties import EVIDENCE_TYPES, REACH_TYPES, duty_rule
from monitor.rules._fixtures import (
    account,
    directory,
    leaver,
    login,
    platform_admin_added,
    platform_admin_removed,
    role_changed,
    rotated,
    shared,
    sport_account,
    staff,
)
from monitor.rules.base import Action, Case, Context, ev, rule

_DIR = directory(account(credential_model="shared_credential"), people=staff("p-1", "p-2"))
_LEAVER = leaver("2026-11-02T09:00:00Z", "hr-1", "p-1", "2026-11-06T17:00:00Z")
_POSTPONED = leaver("2026-11-03T09:00:00Z", "hr-2", "p-1", "2026-11-13T17:00:00Z")  # HR corrects the date
_LATE = leaver("2026-11-08T09:00:00Z", "hr-1", "p-1", "2026-11-06T17:00:00Z")  # HR reports two days after
_NAMED = directory(account(), people=staff("p-1", "p-2"))  # named logins: p-1's admin role is a seat of their own
# acc-2 shares one credential among its people; p-1 has no role there
_TWO = directory(
    account(credential_model="shared_credential"), sport_account("acc-2", admins=["p-2"]), people=staff("p-1", "p-2")
)
_ACC_1_ROTATED = rotated("2026-11-06T18:00:00Z", "v-1")

CASES = [
    Case(
        "leaver's credential never rotated: alert after 24 h",
        "alert",
        (_LEAVER,),
        _DIR,
        until="2026-11-07T18:00:00Z",
        severity="high",
        status="open",
    ),
    Case(
        "still not done two days later: escalates to critical",
        "alert",
        (_LEAVER,),
        _DIR,
        until="2026-11-10T18:00:00Z",
        severity="critical",
    ),
    Case(
        "rotated after leaving, within the deadline: no alert",
        "none",
        (_LEAVER, rotated("2026-11-06T18:00:00Z", "v-1")),
        _DIR,
        until="2026-11-09T00:00:00Z",
    ),
    Case(
        "rotated late: the alert resolves itself",
        "alert",
        (_LEAVER, rotated("2026-11-08T10:00:00Z", "v-1")),
        _DIR,
        until="2026-11-09T00:00:00Z",
        status="resolved",
    ),
    Case(
        "rotated before the leaving time does not count",
        "alert",
        (_LEAVER, rotated("2026-11-05T10:00:00Z", "v-1")),
        _DIR,
        until="2026-11-08T00:00:00Z",
    ),
    Case(
        "leaving cancelled: no alert",
        "none",
        (_LEAVER, ev("hr.leaver_cancelled", "2026-11-03T10:00:00Z", "hr-2", person_id="p-1")),
        _DIR,
        until="2026-11-09T00:00:00Z",
    ),
    Case(
        "leaving date postponed by a second notice: no alert at the first notice's deadline",
        "none",
        (_LEAVER, _POSTPONED),
        _DIR,
        until="2026-11-14T16:59:00Z",
    ),
    Case(
        "leaving date postponed by a second notice: alert at the new deadline",
        "alert",
        (_LEAVER, _POSTPONED),
        _DIR,
        until="2026-11-14T17:00:00Z",
        severity="high",
        status="open",
    ),
    Case(
        "reported late, the credential already rotated after the leaving time: no alert",
        "none",
        (rotated("2026-11-06T18:00:00Z", "v-1"), _LATE),
        _DIR,
        until="2026-11-12T00:00:00Z",
    ),
    Case(
        "reported late, rotated at the leaving time itself: no alert",
        "none",
        (rotated("2026-11-06T17:00:00Z", "v-1"), _LATE),
        _DIR,
        until="2026-11-12T00:00:00Z",
    ),
    Case(
        "reported late, the only rotation before the leaving time: alert",
        "alert",
        (rotated("2026-11-06T16:59:00Z", "v-1"), _LATE),
        _DIR,
        until="2026-11-12T00:00:00Z",
    ),
    Case(
        "reported late, rotated after leaving but the new password shared with them: alert",
        "alert",
        (rotated("2026-11-06T18:00:00Z", "v-1"), shared("2026-11-07T09:00:00Z", "v-2", "p-1"), _LATE),
        _DIR,
        until="2026-11-12T00:00:00Z",
    ),
    Case(
        "reported late, their platform seat already removed: no alert",
        "none",
        (platform_admin_removed("2026-11-06T18:00:00Z", "pa-1", "p-1", actor_id="p-2"), _LATE),
        _NAMED,
        until="2026-11-12T00:00:00Z",
    ),
    Case(
        "reported late, their seat removed and then given back: alert",
        "alert",
        (
            platform_admin_removed("2026-11-06T18:00:00Z", "pa-1", "p-1", actor_id="p-2"),
            platform_admin_added("2026-11-07T09:00:00Z", "pa-2", "p-1", actor_id="p-2"),
            _LATE,
        ),
        _NAMED,
        until="2026-11-12T00:00:00Z",
    ),
    Case(
        "HR corrects the leaving time after the seat was removed: no alert",
        "none",
        (
            leaver("2026-11-02T09:00:00Z", "hr-1", "p-1", "2026-11-06T17:00:00Z"),
            platform_admin_removed("2026-11-06T18:00:00Z", "pa-1", "p-1", actor_id="p-2"),
            leaver("2026-11-07T09:00:00Z", "hr-2", "p-1", "2026-11-06T17:30:00Z"),
        ),
        _NAMED,
        until="2026-11-12T00:00:00Z",
    ),
    Case(
        "another account's password shared with them after the notice, never rotated: alert there",
        "alert",
        (_LEAVER, shared("2026-11-03T09:00:00Z", "v-2", "p-1", account_id="acc-2"), _ACC_1_ROTATED),
        _TWO,
        until="2026-11-08T00:00:00Z",
        severity="high",
        status="open",
    ),
    Case(
        "another account's password shared with them after the notice, rotated after they left: no alert",
        "none",
        (
            _LEAVER,
            shared("2026-11-03T09:00:00Z", "v-2", "p-1", account_id="acc-2"),
            _ACC_1_ROTATED,
            rotated("2026-11-06T18:00:00Z", "v-3", account_id="acc-2"),
        ),
        _TWO,
        until="2026-11-08T00:00:00Z",
    ),
    Case(
        "a move taking effect before the leaving holds the duty: no LVR-01 alert (LVR-02 raises it)",
        "none",
        (_LEAVER, role_changed("2026-11-02T10:00:00Z", "hr-3", "p-1", "2026-11-04T09:00:00Z")),
        _DIR,
        until="2026-11-12T00:00:00Z",
    ),
    Case(
        "a move after the leaving: LVR-01 alerts",
        "alert",
        (_LEAVER, role_changed("2026-11-02T10:00:00Z", "hr-3", "p-1", "2026-11-20T09:00:00Z")),
        _DIR,
        until="2026-11-08T00:00:00Z",
        status="open",
    ),
    Case(
        "a mover kept on the account, then leaving: alert",
        "alert",
        (
            role_changed("2026-11-01T09:00:00Z", "hr-3", "p-1", "2026-11-02T09:00:00Z"),
            _LEAVER,
            ev("directory.access_confirmed", "2026-11-02T10:00:00Z", "cf-1", account_id="acc-1", person_id="p-1"),
        ),
        _DIR,
        until="2026-11-08T00:00:00Z",
        status="open",
    ),
    Case(
        "seat removed after leaving, then given back to them: the alert opens",
        "alert",
        (
            _LEAVER,
            platform_admin_removed("2026-11-06T18:00:00Z", "pa-1", "p-1", actor_id="p-2"),
            platform_admin_added("2026-11-09T09:00:00Z", "pa-2", "p-1", actor_id="p-2"),
        ),
        _NAMED,
        until="2026-11-09T10:00:00Z",
        status="open",
    ),
    Case(
        "seat removed after leaving, and they sign in with the register's role still listed: no alert",
        "none",
        (
            _LEAVER,
            platform_admin_removed("2026-11-06T18:00:00Z", "pa-1", "p-1", actor_id="p-2"),
            login("2026-11-09T09:00:00Z", "l-1"),
        ),
        _NAMED,
        until="2026-11-10T00:00:00Z",
    ),
]


@rule(
    "LVR-01",
    title="Leaver's access removed by the deadline",
    severity="high",
    sources=['001 "Corporate Social Media Accounts"', '001 "Account security"', "003 §5.4", "004 Section 3"],
    on=("hr.leaver", "hr.role_changed", "hr.leaver_cancelled", "tick", *EVIDENCE_TYPES, *REACH_TYPES),
    window="leaver_deadline, then leaver_escalation",
    cases=CASES,
)
def lvr_01_leaver_access_removed(event: Any, state: Any, ctx: Context) -> tuple[Any, Sequence[Action]]:
    """Alert when a leaver's seat or known credential outlives the deadline; escalate; resolve on evidence.

    A move HR gave notice of that takes effect before the leaving keeps the account under LVR-02 (its deadline comes
    first, and one seat raises one alert); see LVR-02.
    """
    return duty_rule("leaver", event, state, ctx)
