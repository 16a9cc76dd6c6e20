"""CRD-05: only the account's admins or manager change its credential, MFA or platform admins."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from monitor.rules._fixtures import (
    directory,
    emergency_request,
    person,
    platform_admin_added,
    rotated,
    sport_account,
    staff,
    temporary_access,
)
from monitor.rules._hijack import CHANGE_TYPES, Grants, action_text, stamp, unauthorised_change, with_grant
from monitor.rules.base import Action, Case, Context, Raise, ev, rule

_DIR = directory(
    sport_account(admins=["p-1"], editors=["p-3"]),
    people=[*staff("p-1", "p-2", "p-3"), person("p-5", groups=["comms-team"])],
)
_REQUEST = emergency_request("2026-06-01T22:00:00Z", "er-1", "p-5", "account hacked, posting spam", minutes=60)

CASES = [
    Case(
        "an editor rotates the credential: alert",
        "alert",
        (rotated("2026-06-01T10:00:00Z", "v-1", actor_id="p-3"),),
        _DIR,
        severity="high",
        status="open",
    ),
    Case("the manager rotates it: no alert", "none", (rotated("2026-06-01T10:00:00Z", "v-1", actor_id="p-2"),), _DIR),
    Case(
        "an editor sets a temporary password for a takeover: alert",
        "alert",
        (temporary_access("2026-06-01T10:00:00Z", "v-1", "p-x", "2026-06-01T18:00:00Z", actor_id="p-3"),),
        _DIR,
        severity="high",
        status="open",
    ),
    Case(
        "the manager sets a temporary password for a takeover: no alert",
        "none",
        (temporary_access("2026-06-01T10:00:00Z", "v-1", "p-3", "2026-06-01T18:00:00Z", actor_id="p-2"),),
        _DIR,
    ),
    Case(
        "an admin disables MFA: no CRD-05 alert",
        "none",
        (ev("mfa.disabled", "2026-06-01T10:00:00Z", "m-1", account_id="acc-1", actor_id="p-1"),),
        _DIR,
    ),
    Case(
        "a stranger disables MFA: alert",
        "alert",
        (ev("mfa.disabled", "2026-06-01T10:00:00Z", "m-1", account_id="acc-1", actor_id="p-x"),),
        _DIR,
    ),
    Case(
        "an editor adds a platform admin: alert",
        "alert",
        (platform_admin_added("2026-06-01T10:00:00Z", "pa-1", "p-x", actor_id="p-3"),),
        _DIR,
    ),
    Case(
        "a comms-team member rotates it inside an emergency grant: no alert",
        "none",
        (_REQUEST, rotated("2026-06-01T22:30:00Z", "v-1", actor_id="p-5")),
        _DIR,
    ),
    Case(
        "a comms-team member rotates it after the grant and its grace: alert",
        "alert",
        (_REQUEST, rotated("2026-06-03T10:00:00Z", "v-1", actor_id="p-5")),
        _DIR,
    ),
    Case(
        "a comms-team member without a grant rotates it: alert",
        "alert",
        (rotated("2026-06-01T22:30:00Z", "v-1", actor_id="p-5"),),
        _DIR,
    ),
]


@rule(
    "CRD-05",
    title="Only admins or the manager change credential, MFA or admins",
    severity="high",
    sources=['001 "Account security"', "003 §5.4"],
    on=(*CHANGE_TYPES, "emergency.access_requested"),
    cases=CASES,
)
def crd_05_change_by_non_admin(event: Any, state: Grants | None, ctx: Context) -> tuple[Any, Sequence[Action]]:
    """Alert when someone other than an admin or the manager changes the credential, MFA or admins: a hijack sign."""
    # State: live emergency grants (EMG-02), whose holders may recover the account like an admin.
    if event.type == "emergency.access_requested":
        return with_grant(state, event, ctx), ()
    if not unauthorised_change(event, ctx, state):
        return state, ()
    actor = event.data.actor_id
    a = ctx.account.account_id
    return state, (
        Raise(
            key=actor,
            person_id=actor,
            evidence=(event.id,),
            summary=f"{actor}, who is not an admin or the manager of {a} in the register, {action_text(event)} "
            f"at {stamp(event.time)}",
            next_step=f"Ask the account manager of {a} whether {actor} made this change on purpose; if not, treat it "
            f"as a hijack (EMG-01); if they should administer the account, assign them in the register",
        ),
    )
