"""SIG-01: the account is signed in to and administered only from managed devices."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from monitor.rules._fixtures import account, directory, login, rotated, staff, temporary_access
from monitor.rules._hijack import CHANGE_TYPES, action_text, stamp
from monitor.rules._quiet import ordinary_sign_in
from monitor.rules.base import Action, Case, Context, Raise, ev, rule

_DIR = directory(
    account(
        platform="linkedin",
        handle="UniCareers",
        registration_email="careers@uni.example.ac.uk",
        central=False,
        emergency_access="backup_admin",
    ),
    people=staff("p-1", "p-2"),
)
_ROTATE = rotated("2026-04-01T10:00:00Z", "v-1", actor_id="p-1")

CASES = [
    Case(
        "sign-in from an unmanaged device: alert",
        "alert",
        (login("2026-04-01T09:00:00Z", "l-1", managed=False),),
        _DIR,
        severity="medium",
        status="open",
    ),
    Case("sign-in from a managed device: no alert", "none", (login("2026-04-01T09:00:00Z", "l-1"),), _DIR),
    Case(
        "unidentified person on an unmanaged device: alert",
        "alert",
        (login("2026-04-01T09:00:00Z", "l-1", managed=False, person_id=None),),
        _DIR,
    ),
    Case(
        "rotation right after an unmanaged sign-in: alert",
        "alert",
        (login("2026-04-01T09:00:00Z", "l-1", managed=False), _ROTATE),
        _DIR,
    ),
    Case(
        "rotation after a managed sign-in: no alert",
        "none",
        (login("2026-04-01T08:00:00Z", "l-0"), _ROTATE),
        _DIR,
    ),
    Case(
        "temporary password set right after an unmanaged sign-in: alert",
        "alert",
        (
            login("2026-04-01T09:00:00Z", "l-1", managed=False),
            temporary_access("2026-04-01T09:05:00Z", "v-1", "p-2", "2026-04-02T09:00:00Z", actor_id="p-1"),
        ),
        _DIR,
    ),
    Case(
        "temporary password set after a managed sign-in: no alert",
        "none",
        (
            login("2026-04-01T09:00:00Z", "l-1"),
            temporary_access("2026-04-01T09:05:00Z", "v-1", "p-2", "2026-04-02T09:00:00Z", actor_id="p-1"),
        ),
        _DIR,
    ),
    Case("an admin action with no sign-in seen: no alert", "none", (_ROTATE,), _DIR),
    Case(
        "MFA disabled by the person signed in on an unmanaged device: alert",
        "alert",
        (
            login("2026-04-01T09:00:00Z", "l-1", managed=False),
            ev("mfa.disabled", "2026-04-01T09:05:00Z", "m-1", account_id="acc-1", actor_id="p-1"),
        ),
        _DIR,
    ),
]

MAX_TRACKED = 64
# person -> the device and time of their latest sign-in here, kept only while that device is unmanaged
State = dict[str, tuple[str, datetime]]


@rule(
    "SIG-01",
    title="Administration only from managed devices",
    severity="medium",
    sources=["004 Section 3"],
    on=("login.succeeded", *CHANGE_TYPES, "device.approved"),
    window="admin_session",
    cases=CASES,
    quiet_when={"login.succeeded": ordinary_sign_in},
)
def sig_01_unmanaged_device(event: Any, state: State | None, ctx: Context) -> tuple[Any, Sequence[Action]]:
    """Alert on a sign-in, or an admin action within admin_session after a sign-in, from an unmanaged device, which
    policy does not trust; an action later than that is not put down to a sign-in that long ago."""
    d = event.data
    if event.type == "login.succeeded":
        pid = d.person_id
        if d.device_managed:
            if state is None or pid not in state or state[pid][1] > event.time:  # a late one ends no later session
                return state, ()
            rest = {p: dev for p, dev in state.items() if p != pid}
            return rest or None, ()
        a = ctx.account.account_id
        device = d.device_id
        if pid is not None:
            state = _remember(state, pid, device, event.time)
        who = pid or "an unidentified person"
        return state, (
            Raise(
                key=device,
                person_id=pid,
                evidence=(event.id,),
                summary=f"{who} signed in to {a} from unmanaged device {device} ({d.ip}) at {stamp(event.time)}",
                next_step=f"Ask {pid} to sign out of {device} and use a managed device for {a}; if they did not sign "
                "in, rotate the credential"
                if pid
                else f"Ask the account manager of {a} who signed in from {device}; if nobody, rotate the credential",
            ),
        )
    actor = d.actor_id
    seen = state.get(actor) if state is not None else None
    if seen is None or not timedelta(0) <= event.time - seen[1] <= ctx.params.admin_session:
        return state, ()
    device = seen[0]
    a = ctx.account.account_id
    return state, (
        Raise(
            key=device,
            person_id=actor,
            evidence=(event.id,),
            summary=f"{actor} {action_text(event)} on {a} at {stamp(event.time)}, signed in from unmanaged device "
            f"{device}",
            next_step=f"Confirm with {actor} that they made this change; administration of {a} must be done from a "
            "managed device",
        ),
    )


def _remember(state: State | None, pid: str, device: str, at: datetime) -> State:
    """The state with pid's latest unmanaged sign-in, the earliest-tracked person dropped when full."""
    new = dict(state) if state else {}
    if pid not in new and len(new) >= MAX_TRACKED:
        del new[next(iter(new))]
    if pid not in new or new[pid][1] <= at:  # a late sign-in does not replace a later one
        new[pid] = (device, at)
    return new
