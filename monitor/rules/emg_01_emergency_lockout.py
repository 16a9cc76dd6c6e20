"""EMG-01: a likely hijack gets an emergency lockout at once, and another when it shows the last did not hold."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from monitor.facts import SELF_ACTS
from monitor.rules._fixtures import (
    directory,
    emergency_request,
    leaver,
    library_account,
    login,
    person,
    platform_admin_added,
    post,
    rotated,
    staff,
    temporary_access,
)
from monitor.rules._hijack import (
    ACTING_TYPES,
    Grants,
    acted_after_leaving,
    hijack_sign,
    may_change,
    stamp,
    with_grant,
)
from monitor.rules.base import Action, Case, Context, Raise, Resolve, ev, rule

_DIR = directory(
    library_account(admins=["p-1"], editors=["p-3"]),
    people=[*staff("p-1", "p-2", "p-3"), person("p-5", groups=["comms-team"])],
)
_REPORT = ev(
    "account.compromise_reported",
    "2026-07-01T20:00:00Z",
    "cr-1",
    account_id="acc-1",
    reporter_id="p-3",
    detail="spam posts we did not write",
)


def _rot(time: str, id_: str, actor_id: str) -> dict[str, Any]:
    return rotated(time, id_, actor_id=actor_id)


def _mfa_off(time: str, id_: str, actor: str) -> dict[str, Any]:
    return ev("mfa.disabled", time, id_, account_id="acc-1", actor_id=actor)


CASES = [
    Case("a hack report: critical alert and lockout", "alert", (_REPORT,), _DIR, severity="critical", status="open"),
    Case(
        "a hack report where the profile only advises EMG-01: a low alert, the lockout advised, not issued",
        "alert",
        (_REPORT,),
        _DIR,
        severity="low",
        profile="london-met",
    ),
    Case(
        "a leaver signs in after leaving: alert",
        "alert",
        (
            leaver("2026-07-01T09:00:00Z", "hr-1", "p-1", "2026-07-01T17:00:00Z"),
            login("2026-07-02T08:00:00Z", "l-1"),
        ),
        _DIR,
    ),
    Case("an editor disables MFA: alert", "alert", (_mfa_off("2026-07-01T20:00:00Z", "m-1", "p-3"),), _DIR),
    Case("an admin disables MFA: no EMG-01 alert", "none", (_mfa_off("2026-07-01T20:00:00Z", "m-1", "p-1"),), _DIR),
    Case(
        "somebody with no access rotates the credential: alert",
        "alert",
        (_rot("2026-07-01T20:00:00Z", "v-1", "p-x"),),
        _DIR,
    ),
    Case(
        "an editor sets a temporary password for a takeover (a CRD-05 change): alert",
        "alert",
        (temporary_access("2026-07-01T20:00:00Z", "v-1", "p-3", "2026-07-02T08:00:00Z", actor_id="p-3"),),
        _DIR,
        severity="critical",
        status="open",
    ),
    Case(
        "an admin sets a temporary password for a takeover: no EMG-01 alert",
        "none",
        (temporary_access("2026-07-01T20:00:00Z", "v-1", "p-3", "2026-07-02T08:00:00Z", actor_id="p-1"),),
        _DIR,
    ),
    Case(
        "an editor adds a platform admin: alert",
        "alert",
        (platform_admin_added("2026-07-01T20:00:00Z", "pa-1", "p-x", actor_id="p-3"),),
        _DIR,
    ),
    Case(
        "ordinary sign-ins, posts and an admin's rotation: no alert",
        "none",
        (
            login("2026-07-01T08:00:00Z", "l-1", person_id="p-3"),
            post("2026-07-01T09:00:00Z", "po-1", person_id="p-3"),
            _rot("2026-07-01T10:00:00Z", "v-1", "p-2"),
        ),
        _DIR,
    ),
    Case(
        "the manager rotates the credential after the report: the episode resolves",
        "alert",
        (_REPORT, _mfa_off("2026-07-01T20:05:00Z", "m-1", "p-x"), _rot("2026-07-01T21:00:00Z", "v-1", "p-2")),
        _DIR,
        status="resolved",
    ),
    Case(
        "a rotation by a stranger does not end the episode",
        "alert",
        (_REPORT, _rot("2026-07-01T21:00:00Z", "v-1", "p-x")),
        _DIR,
        status="open",
    ),
    Case(
        "a new sign after the episode ended opens a new one",
        "alert",
        (_REPORT, _rot("2026-07-01T21:00:00Z", "v-1", "p-2"), _mfa_off("2026-07-02T03:00:00Z", "m-1", "p-x")),
        _DIR,
        status="open",
    ),
    Case(
        "a comms-team member with an emergency grant disables MFA: no alert",
        "none",
        (
            emergency_request("2026-07-01T22:00:00Z", "er-1", "p-5", "hacked out of hours"),
            _mfa_off("2026-07-01T22:10:00Z", "m-1", "p-5"),
        ),
        _DIR,
    ),
]

_NONE: tuple[None, None, None, None] = (None, None, None, None)


@rule(
    "EMG-01",
    title="A likely hijack gets an emergency lockout at once",
    severity="critical",
    sources=['001 "Account security"', '001 "Escalating concerns and issues"'],
    on=(*ACTING_TYPES, "account.compromise_reported", "emergency.access_requested"),
    only_after_leaving=SELF_ACTS,
    cases=CASES,
)
def emg_01_emergency_lockout(event: Any, state: Any, ctx: Context) -> tuple[Any, Sequence[Action]]:
    """Lock the account out on the first sign of a hijack, and again on a sign showing that lockout did not hold."""
    # State: (first sign's event id, its time, emergency grants, when the lockout executor last rotated the
    # credential in this episode) or None. An episode starts at the first sign (a leaver acting, a no-access
    # password change, a CRD-05 change such as MFA disabled by a non-admin, or a hack report): its id keys the
    # alert, which asks for a lockout. It ends, and the alert resolves, when an admin, the manager or a comms-team
    # grant holder rotates the credential at or after that first sign; the next sign starts a new episode. The
    # executor's own rotation (a service actor) is the lockout carried out, not the owners taking the account back,
    # so it is noted and ends nothing. A sign while a person has resolved the alert reopens it and locks out again.
    #
    # A later sign adds evidence, and asks for another lockout when it comes after the account's latest one and
    # either the executor has rotated the credential since (the lockout was carried out and the attacker is still,
    # or again, acting) or more than `relock_after` has passed since it (time enough to carry it out; this alone
    # serves where no executor is named in service_actors). Signs before either are the burst the lockout under way
    # is cutting off: an ongoing hijack gets one lockout per burst, not one per event.
    if event.type in SELF_ACTS and acted_after_leaving(event, ctx) is None:
        return state, ()
    key: str | None
    since: datetime | None
    grants: Grants | None
    done: datetime | None
    key, since, grants, done = state if state is not None else _NONE
    if event.type == "emergency.access_requested":
        return _pack(key, since, with_grant(grants, event, ctx), done), ()
    reason = hijack_sign(event, ctx, grants)
    if reason is None:
        if key is None or since is None or event.type != "credential.rotated" or event.time < since:
            return state, ()
        actor = event.data.actor_id
        if actor in ctx.params.service_actors:
            return (key, since, grants, event.time), ()
        if not may_change(ctx, actor, grants, "credential.rotated"):
            return state, ()
        return _pack(None, None, grants, None), (Resolve(key=key, evidence=(event.id,)),)
    a = ctx.account.account_id
    summary = f"Likely hijack of {a} at {stamp(event.time)}: {reason}"
    relock = False
    if key is None or since is None:
        key, since, done = event.id, event.time, None
        state = (key, since, grants, done)
    else:
        summary += f" (episode open since {stamp(since)}, first sign {key})"
        last = ctx.locked_at()
        relock = last is None or (
            event.time > last and ((done is not None and done >= last) or event.time - last > ctx.params.relock_after)
        )
    return state, (
        Raise(
            key=key,
            evidence=(key, event.id),
            summary=summary,
            next_step=f"Confirm {a} is back under control, then have an admin or the manager rotate the credential, "
            "which closes this episode",
            lockout=True,
            relock=relock,
        ),
    )


def _pack(key: str | None, since: datetime | None, grants: Grants | None, done: datetime | None) -> Any:
    """The state tuple, or None when there is no episode and no grant to keep."""
    if key is None and grants is None:
        return None
    return (key, since, grants, done)
