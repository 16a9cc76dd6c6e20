"""LVR-03: nobody signs in, posts or changes a corporate account after they have left."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from monitor.rules._fixtures import account, directory, leaver, login, platform_admin_removed, post, staff
from monitor.rules._hijack import ACTING_TYPES, acted_after_leaving, action_text, left_text, stamp
from monitor.rules.base import Action, Case, Context, Raise, ev, rule

_DIR = directory(account(), people=staff("p-1", "p-2"))
_LEAVER = leaver("2026-11-02T09:00:00Z", "hr-1", "p-1", "2026-11-06T17:00:00Z")


CASES = [
    Case(
        "leaver signs in after leaving: critical alert",
        "alert",
        (_LEAVER, login("2026-11-07T08:00:00Z", "l-1")),
        _DIR,
        severity="critical",
        status="open",
    ),
    Case("signs in before the leaving time: no alert", "none", (_LEAVER, login("2026-11-06T16:59:00Z", "l-1")), _DIR),
    Case("signs in at exactly the leaving time: alert", "alert", (_LEAVER, login("2026-11-06T17:00:00Z", "l-1")), _DIR),
    Case(
        "leaver disables MFA after leaving: alert",
        "alert",
        (_LEAVER, ev("mfa.disabled", "2026-11-08T10:00:00Z", "m-1", account_id="acc-1", actor_id="p-1")),
        _DIR,
    ),
    Case(
        "leaver approves an MFA prompt after leaving: alert",
        "alert",
        (
            _LEAVER,
            ev("mfa.challenge", "2026-11-08T10:00:00Z", "c-1", account_id="acc-1", person_id="p-1", result="approved"),
        ),
        _DIR,
    ),
    Case(
        "a denied prompt is not the leaver acting: no alert",
        "none",
        (
            _LEAVER,
            ev("mfa.challenge", "2026-11-08T10:00:00Z", "c-1", account_id="acc-1", person_id="p-1", result="denied"),
        ),
        _DIR,
    ),
    Case(
        "leaver posts after leaving: alert",
        "alert",
        (_LEAVER, post("2026-11-08T10:00:00Z", "po-1", person_id="p-1")),
        _DIR,
    ),
    Case(
        "leaving cancelled before the login: no alert",
        "none",
        (
            _LEAVER,
            ev("hr.leaver_cancelled", "2026-11-05T10:00:00Z", "hr-2", person_id="p-1"),
            login("2026-11-07T08:00:00Z", "l-1"),
        ),
        _DIR,
    ),
    Case(
        "a colleague who stays signs in: no alert",
        "none",
        (_LEAVER, login("2026-11-07T08:00:00Z", "l-1", person_id="p-2")),
        _DIR,
    ),
    Case(
        "an admin removes the leaver's seat: no alert",
        "none",
        (
            _LEAVER,
            platform_admin_removed("2026-11-07T08:00:00Z", "pa-1", "p-1", actor_id="p-2"),
        ),
        _DIR,
    ),
]


@rule(
    "LVR-03",
    title="Nobody acts on an account after leaving",
    severity="critical",
    sources=['001 "Account security"', "004 Section 3"],
    on=ACTING_TYPES,
    cases=CASES,
)
def lvr_03_acted_after_leaving(event: Any, state: Any, ctx: Context) -> tuple[Any, Sequence[Action]]:
    """Alert, with an emergency lockout, when a leaver signs in, posts or changes the account after leaving."""
    leaver = acted_after_leaving(event, ctx)
    if leaver is None:
        return state, ()
    pid = leaver.person_id
    cause = leaver.leaver_event or "hr.leaver"
    a = ctx.account.account_id
    return state, (
        Raise(
            key=cause,
            person_id=pid,
            evidence=(cause, event.id),
            summary=f"{left_text(leaver)}, {action_text(event)} on {a} at {stamp(event.time)}",
            next_step=f"Treat {a} as hijacked: the emergency lockout ends its sessions and rotates the credential; "
            f"remove {pid}'s platform seat, check every change made since their leaving time and tell IT security",
            lockout=True,
        ),
    )
