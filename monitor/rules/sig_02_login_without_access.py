"""SIG-02: only people with access to an account sign in to it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from monitor.rules._fixtures import account, directory, login, platform_admin_added, shared, staff
from monitor.rules._hijack import stamp
from monitor.rules._quiet import ordinary_sign_in
from monitor.rules.base import Action, Case, Context, Raise, ev, rule

_DIR = directory(
    account(
        platform="instagram",
        handle="UniArts",
        registration_email="arts@uni.example.ac.uk",
        credential_model="shared_credential",
        central=False,
        admins=["p-1"],
    ),
    people=staff("p-1", "p-2", "p-3", "p-4"),
)


CASES = [
    Case(
        "a person with no access signs in: alert",
        "alert",
        (login("2026-03-01T09:00:00Z", "l-1", person_id="p-3"),),
        _DIR,
        severity="high",
        status="open",
    ),
    Case("an admin signs in: no alert", "none", (login("2026-03-01T09:00:00Z", "l-1"),), _DIR),
    Case(
        "someone given the password in the log signs in: no alert",
        "none",
        (
            shared("2026-03-01T08:00:00Z", "v-1", "p-3"),
            login("2026-03-01T09:00:00Z", "l-1", person_id="p-3"),
        ),
        _DIR,
    ),
    Case(
        "someone given a platform seat signs in: no alert",
        "none",
        (
            platform_admin_added("2026-03-01T08:00:00Z", "pa-1", "p-4", actor_id="p-2"),
            login("2026-03-01T09:00:00Z", "l-1", person_id="p-4"),
        ),
        _DIR,
    ),
    Case(
        "removed from the register, then signs in: alert",
        "alert",
        (
            ev("directory.admin_unassigned", "2026-03-01T08:00:00Z", "d-1", account_id="acc-1", person_id="p-1"),
            login("2026-03-01T09:00:00Z", "l-1"),
        ),
        _DIR,
    ),
    Case(
        "the platform cannot tell who signed in: no alert",
        "none",
        (login("2026-03-01T09:00:00Z", "l-1", person_id=None),),
        _DIR,
    ),
    Case(
        "an account not in the register (DIR-01's concern): no alert",
        "none",
        (login("2026-03-01T09:00:00Z", "l-1", person_id="p-3", account_id="acc-9"),),
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
    quiet_when={"login.succeeded": ordinary_sign_in},
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
