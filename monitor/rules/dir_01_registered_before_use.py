"""DIR-01: a corporate account is in the directory before anyone uses it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from monitor.rules._fixtures import account, directory, login, post, registered, shared
from monitor.rules._quiet import in_register, ordinary_sign_in
from monitor.rules.base import Action, Case, Context, Raise, Resolve, ev, rule

USE_EVENTS = (
    "login.succeeded", "login.failed", "mfa.challenge", "post.published",
    "credential.rotated", "credential.shared", "credential.temporary_access",
    "platform.admin_added", "platform.admin_removed", "mfa.enabled", "mfa.disabled",
    "device.approved", "emergency.access_requested",
)  # fmt: skip
KEY = "unregistered"

_DIR = directory(account(manager="p-1"))
_REG_9 = registered(
    "2026-11-03T09:00:00Z",
    "reg-9",
    "acc-9",
    handle="UniSport",
    registration_email="sport@uni.example.ac.uk",
    central=False,
)

CASES = [
    Case(
        "login on an account not in the directory: alert",
        "alert",
        (login("2026-11-02T09:00:00Z", "l-1", account_id="acc-9"),),
        _DIR,
        severity="medium",
        status="open",
    ),
    Case("login on a registered account: no alert", "none", (login("2026-11-02T09:00:00Z", "l-1"),), _DIR),
    Case(
        "credential shared on an unregistered account: alert",
        "alert",
        (shared("2026-11-02T09:00:00Z", "v-1", "p-2", actor_id="p-1", account_id="acc-9"),),
        _DIR,
    ),
    Case(
        "a post on a retired account: alert",
        "alert",
        (
            ev("directory.account_retired", "2026-11-02T09:00:00Z", "ret-1", account_id="acc-1"),
            post("2026-11-02T10:00:00Z", "post-1"),
        ),
        _DIR,
    ),
    Case(
        "used, then registered: resolved",
        "alert",
        (
            login("2026-11-02T09:00:00Z", "l-1", account_id="acc-9"),
            login("2026-11-02T10:00:00Z", "l-2", account_id="acc-9"),
            _REG_9,
        ),
        _DIR,
        status="resolved",
    ),
    Case(
        "registered before first use: no alert",
        "none",
        (_REG_9, login("2026-11-03T09:00:00Z", "l-1", account_id="acc-9")),
        None,
    ),
    Case(
        "a compromise report alone is not use: no alert",
        "none",
        (ev("account.compromise_reported", "2026-11-02T09:00:00Z", "cr-1", account_id="acc-9", reporter_id="p-1"),),
        _DIR,
    ),
]


@rule(
    "DIR-01",
    title="Every corporate account is registered in the directory before use",
    severity="medium",
    sources=["000 §6.1", "000 §6.5", "003 §5.1", "003 §5.3", '001 "Corporate Social Media Accounts"', "004 Section 3"],
    on=(*USE_EVENTS, "directory.account_registered"),
    cases=CASES,
    # on sign-ins the precondition the other sign-in checks share (which implies in_register): one call, not two
    quiet_when={
        **dict.fromkeys((*USE_EVENTS, "directory.account_registered"), in_register),
        "login.succeeded": ordinary_sign_in,
    },
)
def dir_01_registered_before_use(event: Any, state: Any, ctx: Context) -> tuple[Any, Sequence[Action]]:
    """Alert once per account, evidence accumulating, on use while unregistered or retired; resolve on registration."""
    acc = ctx.account
    if acc.registered and not acc.retired:
        if state is None:
            return None, ()
        return None, (Resolve(KEY, evidence=(event.id,)),)
    if event.type == "directory.account_registered":
        return state, ()
    what = "retired from" if acc.retired else "not registered in"
    d = event.data
    who = getattr(d, "person_id", None) or getattr(d, "actor_id", None) or getattr(d, "requester_id", None)
    by = f" by {who}" if who else ""
    return True, (
        Raise(
            KEY,
            summary=f"{acc.account_id} is {what} the directory but was used: {event.type}{by} at "
            f"{event.time:%Y-%m-%d %H:%M}Z",
            next_step=f"Find who runs {acc.account_id}; register it in the directory with its admins and manager "
            "(directory.account_registered), or have it closed on the platform",
            evidence=(event.id,),
        ),
    )
