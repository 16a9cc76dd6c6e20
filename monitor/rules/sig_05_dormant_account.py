"""SIG-05: an account nobody signs in to or posts from is deactivated or deleted."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from monitor.durations import format_duration
from monitor.rules._fixtures import account, directory, login, post, registered, staff
from monitor.rules._hijack import stamp
from monitor.rules.base import Action, Case, Context, Raise, Resolve, Wake, ev, rule

_DIR = directory(
    account(
        platform="youtube",
        handle="UniLectures",
        registration_email="lectures@uni.example.ac.uk",
        central=False,
        emergency_access="backup_admin",
    ),
    people=staff("p-1", "p-2"),
)
_FIRST = login("2026-01-01T09:00:00Z", "l-1")

CASES = [
    Case(
        "nothing for 90 days: alert",
        "alert",
        (_FIRST,),
        _DIR,
        until="2026-04-01T09:00:00Z",
        severity="low",
        status="open",
    ),
    Case("89 days: no alert yet", "none", (_FIRST,), _DIR, until="2026-03-31T09:00:00Z"),
    Case(
        "a post within the 90 days keeps it alive: no alert",
        "none",
        (_FIRST, post("2026-02-15T12:00:00Z", "po-1", person_id="p-1")),
        _DIR,
        until="2026-05-01T09:00:00Z",
    ),
    Case(
        "dormant again 90 days after the last post: alert",
        "alert",
        (_FIRST, post("2026-02-15T12:00:00Z", "po-1", person_id="p-1")),
        _DIR,
        until="2026-05-16T12:00:00Z",
    ),
    Case(
        "a sign-in after the alert resolves it",
        "alert",
        (_FIRST, login("2026-04-10T09:00:00Z", "l-2")),
        _DIR,
        until="2026-04-20T00:00:00Z",
        status="resolved",
    ),
    Case(
        "retiring the dormant account resolves it",
        "alert",
        (_FIRST, ev("directory.account_retired", "2026-04-10T09:00:00Z", "r-1", account_id="acc-1")),
        _DIR,
        until="2026-08-01T00:00:00Z",
        status="resolved",
    ),
    Case(
        "retired before it went dormant: no alert",
        "none",
        (_FIRST, ev("directory.account_retired", "2026-02-01T09:00:00Z", "r-1", account_id="acc-1")),
        _DIR,
        until="2026-08-01T00:00:00Z",
    ),
    Case(
        "registered and never used: alert",
        "alert",
        (
            registered(
                "2026-01-01T09:00:00Z",
                "reg-2",
                "acc-2",
                handle="UniNew",
                registration_email="new@uni.example.ac.uk",
                central=False,
                emergency_access="backup_admin",
                omit=("approved_by",),
            ),
        ),
        _DIR,
        until="2026-04-02T00:00:00Z",
    ),
]

_WAKE = "dormant"
# (when watching started: registration or the activity that ended the last dormant spell, its event id,
#  the open alert's key or None).
State = tuple[datetime, str, str | None]


@rule(
    "SIG-05",
    title="Dormant accounts are deactivated or deleted",
    severity="low",
    sources=["003 §5.4", "004 Section 6"],
    on=("directory.account_registered", "directory.account_retired", "login.succeeded", "post.published", "tick"),
    window="dormant_after since the last login or post",
    cases=CASES,
)
def sig_05_dormant_account(event: Any, state: State | None, ctx: Context) -> tuple[Any, Sequence[Action]]:
    """Alert when a registered account has had no sign-in or post for dormant_after, so unused accounts get closed."""
    # One timer chain per account: a Wake at registration + dormant_after; each tick re-arms at the latest
    # activity + dormant_after (ctx.account.last_activity_at) or raises, so sign-ins never schedule timers.
    t = event.type
    if t == "login.succeeded" or t == "post.published":
        if state is None or state[2] is None:
            return state, ()
        now = event.time
        return (now, event.id, None), (
            Resolve(key=state[2], evidence=(event.id,)),
            Wake(now + ctx.params.dormant_after, _WAKE),
        )
    if t == "tick":
        return _tick(event, state, ctx)
    if t == "directory.account_retired":
        if state is None or state[2] is None:
            return None, ()
        return None, (Resolve(key=state[2], evidence=(event.id,)),)
    if state is not None:
        return state, ()
    return (event.time, event.id, None), (Wake(event.time + ctx.params.dormant_after, _WAKE),)


def _tick(event: Any, state: State | None, ctx: Context) -> tuple[Any, Sequence[Action]]:
    """Re-arm at the latest activity plus dormant_after, or raise when there has been none since then."""
    if state is None or state[2] is not None or ctx.account.retired:
        return state, ()
    since, since_id, _ = state
    last = ctx.account.last_activity_at
    registered = last is None or last < since
    if last is None or registered:
        last = since
    dormant_after = ctx.params.dormant_after
    due = last + dormant_after
    if due > event.time:
        return state, (Wake(due, _WAKE),)
    key = last.astimezone(UTC).isoformat()
    a = ctx.account.account_id
    what = "since it was registered at" if registered else "since"
    return (since, since_id, key), (
        Raise(
            key=key,
            evidence=(since_id,),
            summary=f"{a} has had no sign-in or post {what} {stamp(last)}, over {format_duration(dormant_after)}",
            next_step=f"Ask the account manager of {a} whether it is still needed: deactivate or delete it and "
            "retire it in the register, or post from it",
        ),
    )
