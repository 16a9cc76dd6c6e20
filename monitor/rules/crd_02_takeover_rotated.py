"""CRD-02: after temporary access (a takeover) ends, the credential is rotated within the grace period."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from monitor.durations import format_duration
from monitor.rules._fixtures import directory, rotated, sport_account, staff, temporary_access
from monitor.rules.base import Action, Case, Context, Raise, Resolve, Wake, rule

_DIR = directory(sport_account(), people=staff("p-1", "p-2", "p-3"))
_TAKEOVER = temporary_access("2026-05-01T09:00:00Z", "v-10", "p-3", "2026-05-03T18:00:00Z")

CASES = [
    Case(
        "takeover ended, never rotated: alert after the grace period",
        "alert",
        (_TAKEOVER,),
        _DIR,
        until="2026-05-04T18:00:00Z",
        severity="high",
        status="open",
    ),
    Case("grace period not over yet: no alert", "none", (_TAKEOVER,), _DIR, until="2026-05-04T17:59:00Z"),
    Case(
        "rotated right after the takeover ended: no alert",
        "none",
        (_TAKEOVER, rotated("2026-05-03T19:00:00Z", "v-11")),
        _DIR,
        until="2026-05-10T00:00:00Z",
    ),
    Case(
        "rotated at exactly the end: counts",
        "none",
        (_TAKEOVER, rotated("2026-05-03T18:00:00Z", "v-11")),
        _DIR,
        until="2026-05-10T00:00:00Z",
    ),
    Case(
        "rotated at exactly the end of the grace period: in time",
        "none",
        (_TAKEOVER, rotated("2026-05-04T18:00:00Z", "v-11")),
        _DIR,
        until="2026-05-10T00:00:00Z",
    ),
    Case(
        "rotated during the takeover, not after it: alert",
        "alert",
        (_TAKEOVER, rotated("2026-05-02T10:00:00Z", "v-11")),
        _DIR,
        until="2026-05-05T00:00:00Z",
    ),
    Case(
        "rotated late: the alert resolves itself",
        "alert",
        (_TAKEOVER, rotated("2026-05-06T10:00:00Z", "v-11")),
        _DIR,
        until="2026-05-07T00:00:00Z",
        status="resolved",
    ),
]


@rule(
    "CRD-02",
    title="Credential changed back after a takeover",
    severity="high",
    sources=['001 "Account security"'],
    on=("credential.temporary_access", "credential.rotated", "tick"),
    window="takeover_grace after ends_at",
    cases=CASES,
)
def crd_02_takeover_rotated(event: Any, state: Any, ctx: Context) -> tuple[Any, Sequence[Action]]:
    """Alert when a takeover's temporary password outlives its end by the grace period, so access really ends.

    State: takeover event id -> (ends_at, recipient) for takeovers not yet followed by a rotation at or
    after their end; the alert key is the takeover's event id and a later rotation resolves it.
    """
    open_: dict[str, tuple[datetime, str]] = state or {}
    etype = event.type
    if etype == "credential.temporary_access":
        d = event.data
        rotated = ctx.account.rotated_at
        if rotated is not None and rotated >= d.ends_at:
            return state, ()
        due = d.ends_at + ctx.params.takeover_grace
        return {**open_, event.id: (d.ends_at, d.recipient_id)}, (Wake(due, event.id),)
    if etype == "credential.rotated":
        now = event.time
        done = [k for k, (ends_at, _) in open_.items() if ends_at <= now]
        if not done:
            return state, ()
        left = {k: v for k, v in open_.items() if k not in done}
        return left or None, [Resolve(key=k, person_id=open_[k][1], evidence=(event.id,)) for k in done]
    watched = open_.get(event.key)
    if watched is None:
        return state, ()
    ends_at, recipient = watched
    z = format_duration(ctx.params.takeover_grace)
    a = ctx.account.account_id
    return state, (
        Raise(
            key=event.key,
            person_id=recipient,
            evidence=(event.key,),
            summary=f"Temporary access to {a} given to {recipient} ended at {ends_at.astimezone(UTC):%Y-%m-%d %H:%M}Z "
            f"and the credential was not rotated within {z} of the end",
            next_step=f"Rotate the credential of {a} now (recorded as credential.rotated) so {recipient}'s "
            "temporary password stops working",
        ),
    )
