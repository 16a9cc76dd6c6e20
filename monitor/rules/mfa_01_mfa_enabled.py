"""MFA-01: multi-factor authentication is on for every registered account."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC
from typing import Any

from monitor.durations import format_duration
from monitor.facts import AccountFacts
from monitor.rules._fixtures import account, account_updated, directory, post, staff
from monitor.rules.base import Action, Case, Context, Raise, Resolve, Wake, ev, rule


def _directory(mfa: bool) -> dict[str, Any]:
    return directory(
        account(
            platform="linkedin",
            handle="UniCareers",
            registration_email="careers@uni.example.ac.uk",
            mfa_enabled=mfa,
            central=False,
            emergency_access="backup_admin",
        ),
        people=staff("p-1", "p-2"),
    )


_OFF, _ON = _directory(False), _directory(True)
_START = post("2026-01-05T09:00:00Z", "post-0", person_id="p-1")


def _mfa(kind: str, time: str, id_: str) -> dict[str, Any]:
    return ev(f"mfa.{kind}", time, id_, account_id="acc-1", actor_id="p-2")


def _update(time: str, id_: str, mfa: bool) -> dict[str, Any]:
    return account_updated(time, id_, mfa_enabled=mfa)


CASES = [
    Case(
        "registered with MFA off, still off after the grace period: alert",
        "alert",
        (_START,),
        _OFF,
        until="2026-01-05T10:00:00Z",
        severity="high",
        status="open",
    ),
    Case(
        "registered with MFA off, within the grace period: no alert yet",
        "none",
        (_START,),
        _OFF,
        until="2026-01-05T09:59:00Z",
    ),
    Case(
        "registered off, turned on at exactly the end of the grace period: in time",
        "none",
        (_START, _mfa("enabled", "2026-01-05T10:00:00Z", "m-1")),
        _OFF,
        until="2026-01-06T00:00:00Z",
    ),
    Case(
        "registered off, turned on late: the alert resolves itself",
        "alert",
        (_START, _mfa("enabled", "2026-01-05T11:00:00Z", "m-1")),
        _OFF,
        until="2026-01-06T00:00:00Z",
        status="resolved",
    ),
    Case("registered with MFA on: no alert", "none", (_START,), _ON, until="2026-02-01T00:00:00Z"),
    Case(
        "MFA disabled on the platform: alert at once",
        "alert",
        (_START, _mfa("disabled", "2026-01-06T09:00:00Z", "m-1")),
        _ON,
        severity="high",
    ),
    Case(
        "MFA disabled then enabled again: resolves",
        "alert",
        (_START, _mfa("disabled", "2026-01-06T09:00:00Z", "m-1"), _mfa("enabled", "2026-01-06T09:05:00Z", "m-2")),
        _ON,
        status="resolved",
    ),
    Case(
        "the directory updated to say MFA is off: alert",
        "alert",
        (_START, _update("2026-01-06T09:00:00Z", "d-1", False)),
        _ON,
        status="open",
    ),
    Case(
        "the directory corrected to say MFA is on: resolves",
        "alert",
        (_START, _update("2026-01-06T09:00:00Z", "d-1", False), _update("2026-01-06T12:00:00Z", "d-2", True)),
        _ON,
        status="resolved",
    ),
    Case(
        "a directory update that does not mention MFA: no alert",
        "none",
        (_START, account_updated("2026-01-06T09:00:00Z", "d-1", handle="UniJobs")),
        _ON,
    ),
    Case(
        "disabled on the platform, then the directory edited to say on: still open (nothing turned it on)",
        "alert",
        (_START, _mfa("disabled", "2026-01-06T09:00:00Z", "m-1"), _update("2026-01-06T10:00:00Z", "d-1", True)),
        _ON,
        status="open",
    ),
    Case(
        "disabled on the platform, then enabled there: resolves though the directory never changed",
        "alert",
        (
            _START,
            _mfa("disabled", "2026-01-06T09:00:00Z", "m-1"),
            _update("2026-01-06T10:00:00Z", "d-1", True),
            _mfa("enabled", "2026-01-06T11:00:00Z", "m-2"),
        ),
        _ON,
        status="resolved",
    ),
    Case(
        "re-registered with MFA on after it was disabled while retired: alert, saying the platform disabled it",
        "alert",
        (
            _START,
            ev("directory.account_retired", "2026-01-05T09:00:00Z", "d-1", account_id="acc-1"),
            _mfa("disabled", "2026-01-06T09:00:00Z", "m-1"),
            ev(
                "directory.account_registered",
                "2026-01-07T09:00:00Z",
                "d-2",
                **{k: v for k, v in _ON["accounts"][0].items() if k not in ("admins", "manager")},
            ),
        ),
        _ON,
        until="2026-01-07T10:00:00Z",
        status="open",
    ),
    Case(
        "registered off and retired within the grace period: no alert",
        "none",
        (_START, ev("directory.account_retired", "2026-01-05T09:30:00Z", "d-1", account_id="acc-1")),
        _OFF,
        until="2026-01-06T00:00:00Z",
    ),
]

_KEY = "mfa-off"


@rule(
    "MFA-01",
    title="MFA on for every account",
    severity="high",
    sources=['001 "Account security"'],
    on=(
        "directory.account_registered",
        "directory.account_updated",
        "directory.account_retired",
        "mfa.enabled",
        "mfa.disabled",
        "tick",
    ),
    window="registration_grace",
    cases=CASES,
)
def mfa_01_mfa_enabled(event: Any, state: Any, ctx: Context) -> tuple[Any, Sequence[Action]]:
    """Alert while the latest word on an account's MFA is off or unknown: a password alone is not enough.

    The latest word is the directory's (registration, or an update that sets mfa_enabled) or the
    platform's (mfa.enabled, mfa.disabled), except that the directory saying on does not overrule the platform
    saying it was disabled; a registration gets `registration_grace` to turn MFA on.
    State: (MFA on?, the id of the event that said so). One alert per account, reopened if MFA goes off again.
    """
    a = ctx.account
    etype = event.type
    if etype == "tick":
        if state is None or state[1] != event.key or state[0] or not a.registered or a.retired:
            return state, ()
        grace = format_duration(ctx.params.registration_grace)
        if a.mfa_registered:  # registered as on, but the platform's last word is off
            what = f"was registered with MFA on, but {_platform_off(a)}"
            return state, (_raise(ctx, event.key, f"{what}, still so {grace} after registration,"),)
        return state, (_raise(ctx, event.key, f"was registered with MFA off and it was still off {grace} later,"),)
    if etype == "directory.account_retired":
        return None, (Resolve(key=_KEY, evidence=(event.id,)),)
    if etype == "directory.account_registered":
        if a.mfa_on:
            return (True, event.id), (Resolve(key=_KEY, evidence=(event.id,)),)
        return (False, event.id), (Wake(event.time + ctx.params.registration_grace, event.id),)
    if etype == "directory.account_updated":
        if event.data.mfa_enabled is None:
            return state, ()
        # The register says what should be; a platform that said MFA was disabled still has the last word on what is.
        on = bool(a.mfa_registered and a.mfa_on)
        what = (f"was recorded in the directory as having MFA on, but {_platform_off(a)}" if a.mfa_registered else
                "was recorded in the directory as having MFA off")  # fmt: skip
    else:
        on, what = bool(a.mfa_on), f"had MFA disabled by {event.data.actor_id}"
    if on:
        return (True, event.id), (Resolve(key=_KEY, evidence=(event.id,)),)
    if not a.registered or a.retired:
        return (False, event.id), ()
    return (False, event.id), (_raise(ctx, event.id, what),)


def _platform_off(a: AccountFacts) -> str:
    """What the platform said last where the register says MFA is on."""
    return f"the platform's last word is that {a.mfa_changed_by} disabled it"


def _raise(ctx: Context, evidence: str, what: str) -> Raise:
    a = ctx.account.account_id
    return Raise(
        key=_KEY,
        evidence=(evidence,),
        summary=f"{a} {what} at {ctx.now.astimezone(UTC):%Y-%m-%d %H:%M}Z",
        next_step=f"Turn MFA on for {a} on the platform and record it in the directory (mfa_enabled: true); "
        "if nobody on the account turned it off, treat it as a possible hijack",
    )
