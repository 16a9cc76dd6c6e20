"""CRD-04: the account manager's log of who holds the password is complete."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC
from typing import Any

from monitor.rules.base import Action, Case, Context, Raise, Resolve, ev, rule

_DIR = {
    "people": [
        {"person_id": "p-1", "email": "p1@uni.example.ac.uk"},
        {"person_id": "p-2", "email": "p2@uni.example.ac.uk"},
        {"person_id": "p-3", "email": "p3@uni.example.ac.uk"},
    ],
    "accounts": [
        {
            "account_id": "acc-1",
            "platform": "x",
            "handle": "UniNews",
            "registration_email": "social@uni.example.ac.uk",
            "credential_model": "shared_credential",
            "mfa_enabled": True,
            "central": True,
            "approved_by": "p-9",
            "emergency_access": "escrow",
            "admins": ["p-1", "p-2"],
            "manager": "p-2",
        },
        {
            "account_id": "acc-2",
            "platform": "x",
            "handle": "UniLab",
            "registration_email": "lab@uni.example.ac.uk",
            "credential_model": "named_logins",
            "mfa_enabled": True,
            "central": False,
            "approved_by": "p-9",
            "emergency_access": "backup_admin",
            "admins": ["p-1", "p-2"],
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


def _share(time: str, id_: str, recipient: str) -> dict[str, Any]:
    return ev("credential.shared", time, id_, account_id="acc-1", actor_id="p-2", recipient_id=recipient)


CASES = [
    Case(
        "password shared with someone not in the directory: alert",
        "alert",
        (_share("2026-02-01T10:00:00Z", "v-1", "x-99"),),
        _DIR,
        severity="high",
        status="open",
    ),
    Case(
        "temporary access for someone not in the directory: alert",
        "alert",
        (
            ev(
                "credential.temporary_access",
                "2026-02-01T10:00:00Z",
                "v-1",
                account_id="acc-1",
                actor_id="p-2",
                recipient_id="x-99",
                ends_at="2026-02-01T12:00:00Z",
            ),
        ),
        _DIR,
    ),
    Case(
        "password shared with a known person: no alert", "none", (_share("2026-02-01T10:00:00Z", "v-1", "p-3"),), _DIR
    ),
    Case(
        "login by someone neither in the log nor holding a role: alert",
        "alert",
        (_login("2026-02-01T10:00:00Z", "l-1", "p-3"),),
        _DIR,
        severity="high",
    ),
    Case(
        "login by a logged holder: no alert",
        "none",
        (_share("2026-02-01T10:00:00Z", "v-1", "p-3"), _login("2026-02-01T11:00:00Z", "l-1", "p-3")),
        _DIR,
    ),
    Case("login by an admin in the register: no alert", "none", (_login("2026-02-01T10:00:00Z", "l-1", "p-1"),), _DIR),
    Case(
        "login where the platform cannot tell who: no alert",
        "none",
        (_login("2026-02-01T10:00:00Z", "l-1", None),),
        _DIR,
    ),
    Case(
        "login by someone unlogged on a named-logins account: not this control's business",
        "none",
        (_login("2026-02-01T10:00:00Z", "l-1", "p-3", account="acc-2"),),
        _DIR,
    ),
    Case(
        "holder dropped from the log by a rotation, then logs in: alert",
        "alert",
        (
            _share("2026-02-01T10:00:00Z", "v-1", "p-3"),
            ev("credential.rotated", "2026-02-02T10:00:00Z", "v-2", account_id="acc-1", actor_id="p-2"),
            _login("2026-02-03T10:00:00Z", "l-1", "p-3"),
        ),
        _DIR,
    ),
    Case(
        "unlogged login, then the manager logs the share: the alert resolves itself",
        "alert",
        (_login("2026-02-01T10:00:00Z", "l-1", "p-3"), _share("2026-02-01T11:00:00Z", "v-1", "p-3")),
        _DIR,
        status="resolved",
    ),
    Case(
        "share to an unknown person, then the credential rotated: the alert resolves itself",
        "alert",
        (
            _share("2026-02-01T10:00:00Z", "v-1", "x-99"),
            ev("credential.rotated", "2026-02-01T12:00:00Z", "v-2", account_id="acc-1", actor_id="p-2"),
        ),
        _DIR,
        status="resolved",
    ),
]

_UNKNOWN = "recipient-not-in-directory"
_UNLOGGED = "holder-not-in-log"


@rule(
    "CRD-04",
    title="Full log of who holds the password",
    severity="high",
    sources=['001 "Account security"'],
    on=("credential.shared", "credential.temporary_access", "credential.rotated", "login.succeeded"),
    cases=CASES,
)
def crd_04_credential_log(event: Any, state: Any, ctx: Context) -> tuple[Any, Sequence[Action]]:
    """Alert when the password goes to someone the directory does not know, or an unlogged person signs in with it.

    State: the open alerts as (person, key) pairs. A rotation resolves them all (nobody outside the log
    knows the new password); a share to that person once the directory knows them resolves theirs.
    """
    etype = event.type
    d = event.data
    a = ctx.account
    if etype == "login.succeeded":
        pid = d.person_id
        if (
            pid is None
            or a.credential_model != "shared_credential"
            or pid in a.holders
            or pid in a.roles
            or pid in a.platform_admins
        ):
            return state, ()
        return (state or frozenset()) | {(pid, _UNLOGGED)}, (
            Raise(
                key=_UNLOGGED,
                person_id=pid,
                evidence=(event.id,),
                summary=f"{pid} signed in to {a.account_id} (shared credential) at "
                f"{event.time.astimezone(UTC):%Y-%m-%d %H:%M}Z but is neither in the credential log nor holds a role",
                next_step=f"Ask the account manager whether {pid} was given the password: if so, log the share "
                "(credential.shared); if not, rotate the credential and treat the sign-in as a possible compromise",
            ),
        )
    if etype == "credential.rotated":
        if not state:
            return None, ()
        return None, [Resolve(key=k, person_id=p, evidence=(event.id,)) for p, k in sorted(state)]
    rid = d.recipient_id
    person = ctx.person(rid)
    if person is not None and person.in_directory:
        mine = sorted(k for p, k in state or () if p == rid)
        if not mine:
            return state, ()
        rest = frozenset(x for x in state if x[0] != rid)
        return rest or None, [Resolve(key=k, person_id=rid, evidence=(event.id,)) for k in mine]
    what = "temporary access to" if etype == "credential.temporary_access" else "the password of"
    when = f"{event.time.astimezone(UTC):%Y-%m-%d %H:%M}Z"
    return (state or frozenset()) | {(rid, _UNKNOWN)}, (
        Raise(
            key=_UNKNOWN,
            person_id=rid,
            evidence=(event.id,),
            summary=f"{d.actor_id} gave {what} {a.account_id} to {rid} at {when}; "
            f"{rid} is not a person in the directory, so the credential log cannot say who holds it",
            next_step=f"Find out who {rid} is: add them to the directory if they should hold it, "
            f"otherwise rotate the credential of {a.account_id}",
        ),
    )
