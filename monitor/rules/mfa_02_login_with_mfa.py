"""MFA-02: every successful sign-in passed multi-factor authentication."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC
from typing import Any

from monitor.rules._fixtures import account, directory, login, staff
from monitor.rules._quiet import ordinary_sign_in
from monitor.rules.base import Action, Case, Context, Raise, rule

_DIR = directory(
    account(
        platform="tiktok",
        handle="UniLife",
        registration_email="life@uni.example.ac.uk",
        central=False,
        emergency_access="backup_admin",
    ),
    people=staff("p-1", "p-2"),
)


CASES = [
    Case(
        "sign-in without MFA: alert",
        "alert",
        (login("2026-02-01T08:00:00Z", "l-1", mfa=False),),
        _DIR,
        severity="high",
        status="open",
    ),
    Case("sign-in with MFA: no alert", "none", (login("2026-02-01T08:00:00Z", "l-1", mfa=True),), _DIR),
    Case(
        "sign-in without MFA by an unidentified person: alert on the device",
        "alert",
        (login("2026-02-01T08:00:00Z", "l-1", mfa=False, person_id=None),),
        _DIR,
    ),
    Case(
        "repeated sign-ins without MFA by one person: one alert gathering evidence",
        "alert",
        (login("2026-02-01T08:00:00Z", "l-1", mfa=False), login("2026-02-02T08:00:00Z", "l-2", mfa=False)),
        _DIR,
    ),
]


@rule(
    "MFA-02",
    title="Every sign-in passes MFA",
    severity="high",
    sources=['001 "Account security"'],
    on=("login.succeeded",),
    cases=CASES,
    quiet_when={"login.succeeded": ordinary_sign_in},
)
def mfa_02_login_with_mfa(event: Any, state: Any, ctx: Context) -> tuple[Any, Sequence[Action]]:
    """Alert on a successful sign-in that skipped MFA, since the password alone then opened the account.

    Key: the person (or, when the platform cannot tell who, "device:<id>"), so one person's sign-ins
    without MFA gather as evidence on one alert rather than an alert per sign-in; a sign-in after a
    person resolved it reopens it. Stateless.
    """
    d = event.data
    if d.mfa:
        return state, ()
    pid = d.person_id
    a = ctx.account.account_id
    who = pid or "Someone the platform could not identify"
    return state, (
        Raise(
            key="no-mfa" if pid else f"device:{d.device_id}",
            person_id=pid,
            evidence=(event.id,),
            summary=f"{who} signed in to {a} from device {d.device_id} ({d.ip}) at "
            f"{event.time.astimezone(UTC):%Y-%m-%d %H:%M}Z without passing MFA",
            next_step=f"Check with {pid or 'the account manager'} that the sign-in was genuine, then require MFA "
            f"for every login on {a} (platform setting); if nobody recognises it, rotate the credential",
        ),
    )
