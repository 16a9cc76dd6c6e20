"""SIG-02: only people with access to an account sign in to it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from monitor.rules._hijack import stamp
from monitor.rules.base import Action, Case, Context, Raise, ev, rule

_DIR = {
    "people": [
        {"person_id": "p-1", "email": "p1@uni.example.ac.uk"},
        {"person_id": "p-2", "email": "p2@uni.example.ac.uk"},
        {"person_id": "p-3", "email": "p3@uni.example.ac.uk"},
        {"person_id": "p-4", "email": "p4@uni.example.ac.uk"},
    ],
    "accounts": [
        {
            "account_id": "acc-1",
            "platform": "instagram",
            "handle": "UniArts",
            "registration_email": "arts@uni.example.ac.uk",
            "credential_model": "shared_credential",
            "mfa_enabled": True,
            "central": False,
            "approved_by": "p-9",
            "emergency_access": "escrow",
            "admins": ["p-1"],
            "manager": "p-2",
        },
    ],
    "organisation": {"domains": ["uni.example.ac.uk"]},
}


def _login(time: str, id_: str, person: str | None, account: str = "acc-1") -> dict[str, Any]:
    data: dict[str, Any] = {
        "account_id": account,
        "device_id": "d-1",
        "device_managed": True,
        "mfa": True,
        "ip": "192.0.2.1",
    }
    if person is not None:
        data["person_id"] = person
    return ev("login.succeeded", time, id_, **data)


CASES = [
    Case(
        "a person with no access signs in: alert",
        "alert",
        (_login("2026-03-01T09:00:00Z", "l-1", "p-3"),),
        _DIR,
        severity="high",
        status="open",
    ),
    Case("an admin signs in: no alert", "none", (_login("2026-03-01T09:00:00Z", "l-1", "p-1"),), _DIR),
    Case(
        "someone given the password in the log signs in: no alert",
        "none",
        (
            ev(
                "credential.shared",
                "2026-03-01T08:00:00Z",
                "v-1",
                account_id="acc-1",
                actor_id="p-2",
                recipient_id="p-3",
            ),
            _login("2026-03-01T09:00:00Z", "l-1", "p-3"),
        ),
        _DIR,
    ),
    Case(
        "someone given a platform seat signs in: no alert",
        "none",
        (
            ev(
                "platform.admin_added",
                "2026-03-01T08:00:00Z",
                "pa-1",
                account_id="acc-1",
                actor_id="p-2",
                person_id="p-4",
            ),
            _login("2026-03-01T09:00:00Z", "l-1", "p-4"),
        ),
        _DIR,
    ),
    Case(
        "removed from the register, then signs in: alert",
        "alert",
        (
            ev("directory.admin_unassigned", "2026-03-01T08:00:00Z", "d-1", account_id="acc-1", person_id="p-1"),
            _login("2026-03-01T09:00:00Z", "l-1", "p-1"),
        ),
        _DIR,
    ),
    Case(
        "the platform cannot tell who signed in: no alert", "none", (_login("2026-03-01T09:00:00Z", "l-1", None),), _DIR
    ),
    Case(
        "an account not in the register (DIR-01's concern): no alert",
        "none",
        (_login("2026-03-01T09:00:00Z", "l-1", "p-3", account="acc-9"),),
        _DIR,
    ),
]


@rule(
    "SIG-02",
    title="Only people with access sign in",
    severity="high",
    sources=['001 "Account security"', "003 §5.4"],
    on=("login.succeeded",),
    cases=CASES,
)
def sig_02_login_without_access(event: Any, state: Any, ctx: Context) -> tuple[Any, Sequence[Action]]:
    """Alert when someone with no role, seat or logged credential signs in: access that nobody gave them."""
    pid = event.data.person_id
    acc = ctx.account
    if pid is None or acc.has_access(pid) or not acc.registered:
        return state, ()
    d = event.data
    a = acc.account_id
    return state, (
        Raise(
            key=pid,
            person_id=pid,
            evidence=(event.id,),
            summary=f"{pid} signed in to {a} from device {d.device_id} ({d.ip}) at {stamp(event.time)} but has no "
            "role in the register, no platform seat and is not in the credential log",
            next_step=f"Ask the account manager of {a} whether {pid} should have access: if not, end their session "
            "and rotate the credential; if so, record it (register role or credential log)",
        ),
    )
