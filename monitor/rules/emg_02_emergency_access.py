"""EMG-02: urgent access in a hack only for the comms team, time-boxed, and the credential rotated after."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from monitor.durations import format_duration
from monitor.rules._fixtures import directory, emergency_request, person, registered, rotated, sport_account, staff
from monitor.rules._hijack import COMMS_TEAM, grant_until, not_comms_member, stamp, unknown_account
from monitor.rules.base import Action, Case, Context, Grant, Raise, Resolve, Wake, ev, rule

_DIR = directory(
    sport_account(admins=["p-1"]),
    people=[*staff("p-1", "p-2"), person("p-5", groups=["comms-team"])],
)


def _request(requester: str, minutes: int | None = None, account_id: str = "acc-1") -> dict[str, Any]:
    return emergency_request(
        "2026-08-01T23:00:00Z", "er-1", requester, "account hacked overnight", minutes=minutes, account_id=account_id
    )


def _rot(time: str) -> dict[str, Any]:
    return rotated(time, "v-1")


CASES = [
    Case(
        "request from outside the comms team: refused, critical alert",
        "alert",
        (_request("p-1"),),
        _DIR,
        severity="critical",
        status="open",
    ),
    Case(
        "request from a comms-team member, rotated after expiry: no alert",
        "none",
        (_request("p-5"), _rot("2026-08-02T04:00:00Z")),
        _DIR,
        until="2026-08-05T00:00:00Z",
    ),
    Case(
        "granted, never rotated: alert after expiry and grace",
        "alert",
        (_request("p-5"),),
        _DIR,
        until="2026-08-03T03:00:00Z",
        severity="critical",
    ),
    Case("granted, grace not yet over: no alert", "none", (_request("p-5"),), _DIR, until="2026-08-03T02:59:00Z"),
    Case(
        "rotated during the grant only: alert",
        "alert",
        (_request("p-5"), _rot("2026-08-02T01:00:00Z")),
        _DIR,
        until="2026-08-03T03:00:00Z",
    ),
    Case(
        "rotated at exactly the end of the grace: in time",
        "none",
        (_request("p-5"), _rot("2026-08-03T03:00:00Z")),
        _DIR,
        until="2026-08-04T00:00:00Z",
    ),
    Case(
        "a shorter grant asked for: due earlier",
        "alert",
        (_request("p-5", minutes=30),),
        _DIR,
        until="2026-08-02T23:30:00Z",
    ),
    Case(
        "more than the maximum asked for: capped at 24 h",
        "alert",
        (_request("p-5", minutes=48 * 60),),
        _DIR,
        until="2026-08-03T23:00:00Z",
    ),
    Case(
        "rotated late: the alert resolves itself",
        "alert",
        (_request("p-5"), _rot("2026-08-04T10:00:00Z")),
        _DIR,
        until="2026-08-05T00:00:00Z",
        status="resolved",
    ),
    Case(
        "a comms-team member asks for an account not in the register (a mistyped id): refused, critical alert",
        "alert",
        (_request("p-5", account_id="acc-999"),),
        _DIR,
        until="2026-08-01T23:00:00Z",
        severity="critical",
        status="open",
    ),
    Case(
        "a comms-team member asks for a retired account: refused",
        "alert",
        (ev("directory.account_retired", "2026-08-01T09:00:00Z", "ret-1", account_id="acc-1"), _request("p-5")),
        _DIR,
        until="2026-08-01T23:00:00Z",
        status="open",
    ),
    Case(
        "a comms-team member asks for an account registered by event, not in the file: granted, no alert",
        "none",
        (registered("2026-08-01T09:00:00Z", "reg-2", "acc-2"), _request("p-5", account_id="acc-2")),
        _DIR,
        until="2026-08-02T23:00:00Z",
    ),
]

# request id -> (requester, expiry, alerted) for grants not yet followed by a rotation at or after expiry.
State = dict[str, tuple[str, datetime, bool]]
MAX_GRANTS = 64


@rule(
    "EMG-02",
    title="Emergency access only for the comms team, time-boxed, rotated after",
    severity="critical",
    sources=['001 "Account security"', '001 "Social media in an emergency"'],
    on=("emergency.access_requested", "credential.rotated", "tick"),
    window="min(minutes or emergency_default, emergency_max), then takeover_grace",
    cases=CASES,
)
def emg_02_emergency_access(event: Any, state: State | None, ctx: Context) -> tuple[Any, Sequence[Action]]:
    """Grant a comms-team member's emergency request for a time box and alert on other requests or no rotation after."""
    t = event.type
    if t == "emergency.access_requested":
        return _request_access(event, state, ctx)
    if t == "credential.rotated":
        if not state:
            return state, ()
        now = event.time
        done = [k for k, (_, until, _) in state.items() if until <= now]
        if not done:
            return state, ()
        left = {k: v for k, v in state.items() if k not in done}
        resolves = [Resolve(key=k, person_id=state[k][0], evidence=(event.id,)) for k in done if state[k][2]]
        return left or None, resolves
    watched = (state or {}).get(event.key)
    if watched is None or watched[2]:
        return state, ()
    requester, until, _ = watched
    a = ctx.account.account_id
    rotated = ctx.account.rotated_at
    if rotated is not None and rotated >= until:
        return {k: v for k, v in (state or {}).items() if k != event.key} or None, ()
    grace = format_duration(ctx.params.takeover_grace)
    return {**(state or {}), event.key: (requester, until, True)}, (
        Raise(
            key=event.key,
            person_id=requester,
            evidence=(event.key,),
            summary=f"Expired grant without rotation: {requester}'s emergency access to {a} ended at {stamp(until)} "
            f"and the credential was not rotated within {grace} after",
            next_step=f"Rotate the credential of {a} now (recorded as credential.rotated) so the password "
            f"{requester} used stops working",
        ),
    )


def _request_access(event: Any, state: State | None, ctx: Context) -> tuple[Any, Sequence[Action]]:
    """Grant the request of a current comms-team member, refuse and alert on anyone else's."""
    d = event.data
    a = ctx.account.account_id
    requester = d.requester_id
    until = grant_until(event, ctx)
    if until is None:
        unknown = unknown_account(ctx.account)
        if not not_comms_member(event, ctx) and unknown is not None:
            summary = (
                f"{requester} asked for emergency access to {a} at {stamp(event.time)} ({d.reason[:200]}): "
                f"refused: {unknown}"
            )
            next_step = (
                f"Check the account id with {requester}: if a registered account is being hacked, ask again with "
                f"its id (the register lists them); nothing has been locked for {a}"
            )
        else:
            also = f"; besides, {unknown}" if unknown is not None else ""
            summary = (
                f"{requester}, who is not a current member of the {COMMS_TEAM} group, asked for emergency "
                f"access to {a} at {stamp(event.time)} ({d.reason[:200]}): refused{also}"
            )
            next_step = (
                f"Find out why {requester} asked for emergency access to {a}; if the account is being "
                f"hacked, a member of the {COMMS_TEAM} group must make the request"
            )
        return state, (
            Raise(key=event.id, person_id=requester, evidence=(event.id,), summary=summary, next_step=next_step),
        )
    watched = dict(state) if state else {}
    if len(watched) >= MAX_GRANTS:
        del watched[next(iter(watched))]
    watched[event.id] = (requester, until, False)
    return watched, (
        Grant(requester_id=requester, until=until, reason=d.reason, evidence=event.id),
        Wake(until + ctx.params.takeover_grace, event.id),
    )
