"""MFA-03: the account manager approves each new device, and re-approves it periodically."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC
from typing import Any

from monitor.durations import format_duration
from monitor.rules._fixtures import account, directory, login, staff
from monitor.rules.base import Action, Case, Context, Raise, Resolve, ev, rule

_DIR = directory(
    account(
        platform="youtube", handle="UniTV", registration_email="tv@uni.example.ac.uk", emergency_access="backup_admin"
    ),
    people=staff("p-1", "p-2"),
)


def _approve(time: str, id_: str, person: str = "p-1", device: str = "d-1") -> dict[str, Any]:
    return ev("device.approved", time, id_, account_id="acc-1", actor_id="p-2", person_id=person, device_id=device)


_APPROVED = _approve("2026-01-01T09:00:00Z", "a-1")

CASES = [
    Case(
        "sign-in from a device never approved: alert",
        "alert",
        (login("2026-02-01T08:00:00Z", "l-1"),),
        _DIR,
        severity="medium",
        status="open",
    ),
    Case("sign-in from an approved device: no alert", "none", (_APPROVED, login("2026-02-01T08:00:00Z", "l-1")), _DIR),
    Case(
        "device approved for someone else: alert",
        "alert",
        (_approve("2026-01-01T09:00:00Z", "a-1", person="p-2"), login("2026-02-01T08:00:00Z", "l-1")),
        _DIR,
    ),
    Case("approval exactly 180 days old: still valid", "none", (_APPROVED, login("2026-06-30T09:00:00Z", "l-1")), _DIR),
    Case(
        "approval 180 days and a minute old: lapsed, alert",
        "alert",
        (_APPROVED, login("2026-06-30T09:01:00Z", "l-1")),
        _DIR,
        severity="medium",
    ),
    Case(
        "unapproved sign-in, then the device approved: resolves",
        "alert",
        (login("2026-02-01T08:00:00Z", "l-1"), _approve("2026-02-01T09:00:00Z", "a-1")),
        _DIR,
        status="resolved",
    ),
    Case(
        "sign-in where the platform cannot tell who: no alert",
        "none",
        (login("2026-02-01T08:00:00Z", "l-1", person_id=None),),
        _DIR,
    ),
]


@rule(
    "MFA-03",
    title="New devices approved, and re-approved periodically",
    severity="medium",
    sources=['001 "Account security"'],
    on=("login.succeeded", "device.approved"),
    window="device_reapproval",
    cases=CASES,
)
def mfa_03_device_approved(event: Any, state: Any, ctx: Context) -> tuple[Any, Sequence[Action]]:
    """Alert on a sign-in from a device not approved for that person, or approved too long ago, so the manager vets it.

    Key: the device, with the person as the alert's person; approving that pair resolves it. An approval
    exactly `device_reapproval` old is still valid. State: the (person, device) pairs alerted and not yet
    approved, so repeated sign-ins from the same device do not re-raise.
    """
    d = event.data
    pid = d.person_id
    if pid is None:
        return state, ()
    pair = (pid, d.device_id)
    if event.type == "device.approved":
        rest = state - {pair} if state and pair in state else state
        return rest or None, (Resolve(key=d.device_id, person_id=pid, evidence=(event.id,)),)
    approved_at = ctx.account.devices.get(pair)
    limit = ctx.params.device_reapproval
    if (approved_at is not None and event.time - approved_at <= limit) or (state and pair in state):
        return state, ()
    state = (state or frozenset()) | {pair}
    a = ctx.account.account_id
    if approved_at is None:
        why = "a device that was never approved for them"
    else:
        why = (
            f"a device last approved at {approved_at.astimezone(UTC):%Y-%m-%d %H:%M}Z, more than "
            f"{format_duration(limit)} ago"
        )
    return state, (
        Raise(
            key=d.device_id,
            person_id=pid,
            evidence=(event.id,),
            summary=f"{pid} signed in to {a} at {event.time.astimezone(UTC):%Y-%m-%d %H:%M}Z from device "
            f"{d.device_id}, {why}",
            next_step=f"Ask the account manager of {a} to check device {d.device_id} with {pid} and approve it "
            "(device.approved) or, if it is not theirs, end its session and rotate the credential",
        ),
    )
