"""CRD-04: the account manager's log of who holds the password is complete."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC
from typing import Any

from monitor.rules._fixtures import account, directory, login, rotated, shared, staff, temporary_access
from monitor.rules._quiet import ordinary_sign_in
from monitor.rules.base import Action, Case, Context, Raise, Resolve, rule

_DIR = directory(
    account(credential_model="shared_credential"),
    account(
        "acc-2",
        handle="UniLab",
        registration_email="lab@uni.example.ac.uk",
        central=False,
        emergency_access="backup_admin",
    ),
    people=staff("p-1", "p-2", "p-3"),
)

CASES = [
    Case(
        "password shared with someone not in the directory: alert",
        "alert",
        (shared("2026-02-01T10:00:00Z", "v-1", "x-99"),),
        _DIR,
        severity="high",
        status="open",
    ),
    Case(
        "temporary access for someone not in the directory: alert",
        "alert",
        (temporary_access("2026-02-01T10:00:00Z", "v-1", "x-99", "2026-02-01T12:00:00Z"),),
        _DIR,
    ),
    Case(
        "password shared with a known person: no alert", "none", (shared("2026-02-01T10:00:00Z", "v-1", "p-3"),), _DIR
    ),
    Case(
        "login by someone neither in the log nor holding a role: alert",
        "alert",
        (login("2026-02-01T10:00:00Z", "l-1", person_id="p-3"),),
        _DIR,
        severity="high",
    ),
    Case(
        "login by a logged holder: no alert",
        "none",
        (shared("2026-02-01T10:00:00Z", "v-1", "p-3"), login("2026-02-01T11:00:00Z", "l-1", person_id="p-3")),
        _DIR,
    ),
    Case("login by an admin in the register: no alert", "none", (login("2026-02-01T10:00:00Z", "l-1"),), _DIR),
    Case(
        "login where the platform cannot tell who: no alert",
        "none",
        (login("2026-02-01T10:00:00Z", "l-1", person_id=None),),
        _DIR,
    ),
    Case(
        "login by someone unlogged on a named-logins account: not this control's business",
        "none",
        (login("2026-02-01T10:00:00Z", "l-1", person_id="p-3", account_id="acc-2"),),
        _DIR,
    ),
    Case(
        "holder dropped from the log by a rotation, then logs in: alert",
        "alert",
        (
            shared("2026-02-01T10:00:00Z", "v-1", "p-3"),
            rotated("2026-02-02T10:00:00Z", "v-2"),
            login("2026-02-03T10:00:00Z", "l-1", person_id="p-3"),
        ),
        _DIR,
    ),
    Case(
        "unlogged login, then the manager logs the share: the alert resolves itself",
        "alert",
        (login("2026-02-01T10:00:00Z", "l-1", person_id="p-3"), shared("2026-02-01T11:00:00Z", "v-1", "p-3")),
        _DIR,
        status="resolved",
    ),
    Case(
        "share to an unknown person, then the credential rotated: the alert resolves itself",
        "alert",
        (shared("2026-02-01T10:00:00Z", "v-1", "x-99"), rotated("2026-02-01T12:00:00Z", "v-2")),
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
    quiet_when={"login.succeeded": ordinary_sign_in},
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
