"""CRD-01: a registered account's credential is rotated at least every `credential_max_age`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from monitor.rules._fixtures import account, directory, post, rotated, staff
from monitor.rules.base import Action, Case, Context, Raise, Resolve, Wake, ev, rule

_DIR = directory(account(credential_model="shared_credential"), people=staff("p-1", "p-2"))
# The directory is loaded at the first event's time: the credential's age counts from here.
_START = post("2026-01-01T09:00:00Z", "post-0", person_id="p-1")

CASES = [
    Case(
        "never rotated, 91 days after registration: alert",
        "alert",
        (_START,),
        _DIR,
        until="2026-04-02T09:00:00Z",
        severity="medium",
        status="open",
    ),
    Case("89 days after registration: no alert yet", "none", (_START,), _DIR, until="2026-03-31T09:00:00Z"),
    Case(
        "exactly 90 days, nothing rotated: the age does not exceed 90 days yet, no alert",
        "none",
        (_START,),
        _DIR,
        until="2026-04-01T09:00:00Z",
    ),
    Case(
        "90 days and a second, nothing rotated: the age exceeds 90 days, alert",
        "alert",
        (_START,),
        _DIR,
        until="2026-04-01T09:00:01Z",
        severity="medium",
        status="open",
    ),
    Case(
        "rotated at exactly 90 days: in time",
        "none",
        (_START, rotated("2026-04-01T09:00:00Z", "v-1")),
        _DIR,
        until="2026-06-01T09:00:00Z",
    ),
    Case(
        "rotated at 60 days: the age restarts, no alert 120 days after registration",
        "none",
        (_START, rotated("2026-03-02T09:00:00Z", "v-1")),
        _DIR,
        until="2026-05-01T09:00:00Z",
    ),
    Case(
        "rotated at 60 days, then exactly 90 days on from that rotation: not yet exceeded, no alert",
        "none",
        (_START, rotated("2026-03-02T09:00:00Z", "v-1")),
        _DIR,
        until="2026-05-31T09:00:00Z",
    ),
    Case(
        "rotated at 60 days, then not again for 90: alert on the new episode",
        "alert",
        (_START, rotated("2026-03-02T09:00:00Z", "v-1")),
        _DIR,
        until="2026-06-01T09:00:00Z",
    ),
    Case(
        "rotated late: the alert resolves itself",
        "alert",
        (_START, rotated("2026-04-10T09:00:00Z", "v-1")),
        _DIR,
        until="2026-04-11T09:00:00Z",
        status="resolved",
    ),
    Case(
        "retired before the deadline: no alert",
        "none",
        (_START, ev("directory.account_retired", "2026-02-01T09:00:00Z", "d-1", account_id="acc-1")),
        _DIR,
        until="2026-06-01T09:00:00Z",
    ),
    Case(
        "unregistered account: not this control's business",
        "none",
        (rotated("2026-01-01T09:00:00Z", "v-0", account_id="acc-x", actor_id="p-1"),),
        until="2026-06-01T09:00:00Z",
    ),
]


# The check falls due the smallest step after start + credential_max_age: "age exceeds N" is strict, so at exactly
# N days nothing is due yet (as MFA-03 takes an approval exactly `device_reapproval` old as still valid).
_JUST_AFTER = timedelta(microseconds=1)


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat()


@rule(
    "CRD-01",
    title="Credential rotated at least every N days",
    severity="medium",
    sources=["003 §5.4", "004 Section 3"],
    on=("directory.account_registered", "directory.account_retired", "credential.rotated", "tick"),
    window="credential_max_age",
    cases=CASES,
)
def crd_01_credential_max_age(event: Any, state: Any, ctx: Context) -> tuple[Any, Sequence[Action]]:
    """Alert when a live account's credential outgrows the maximum age, so stale passwords get changed.

    The age counts from the last rotation, or from registration when never rotated; the alert falls due once
    the age exceeds credential_max_age, i.e. just after start + credential_max_age (at that instant the age is
    exactly the maximum, which is allowed, and a rotation then is in time). State: (episode start
    as a UTC ISO string, the id of the event that started it); the alert key is that start, so each
    episode is its own alert and a rotation resolves it.
    """
    a = ctx.account
    etype = event.type
    if etype == "tick":
        if state is None or state[0] != event.key or not a.registered or a.retired:
            return state, ()
        start = a.rotated_at or a.registered_at
        if start is None or _iso(start) != event.key:
            return state, ()
        due = start + ctx.params.credential_max_age
        since = "was last rotated" if a.rotated_at else "has not been rotated since the account was registered"
        return state, (
            Raise(
                key=event.key,
                evidence=(state[1],),
                summary=f"The credential of {a.account_id} {since} at {start.astimezone(UTC):%Y-%m-%d %H:%M}Z; "
                f"it was due for rotation by {due.astimezone(UTC):%Y-%m-%d %H:%M}Z",
                next_step=f"Rotate the credential of {a.account_id} in the vault (recorded as credential.rotated) "
                "and tell everyone in the credential log",
            ),
        )
    if etype == "directory.account_retired":
        return None, (Resolve(key=state[0], evidence=(event.id,)),) if state is not None else ()
    start = a.rotated_at or a.registered_at
    if start is None:
        return state, ()
    key = _iso(start)
    actions: list[Action] = []
    if state is not None and state[0] != key:
        actions.append(Resolve(key=state[0], evidence=(event.id,)))
    if state is None or state[0] != key:
        state = (key, event.id)
    actions.append(Wake(start + ctx.params.credential_max_age + _JUST_AFTER, key))
    return state, actions
