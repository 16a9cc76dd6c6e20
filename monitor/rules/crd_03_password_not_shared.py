"""CRD-03: where the profile forbids sharing a password, nobody is given it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC
from typing import Any

from monitor.facts import is_latest_rotation
from monitor.rules._fixtures import directory, library_account, rotated, shared, staff, temporary_access
from monitor.rules.base import Action, Case, Context, Raise, Resolve, rule

_DIR = directory(library_account(), people=staff("p-1", "p-2", "p-3"))
_SHARE = shared("2026-03-10T11:30:00Z", "v-20", "p-3")

CASES = [
    Case(
        "password shared where the profile forbids it: alert", "alert", (_SHARE,), _DIR, severity="high", status="open"
    ),
    Case(
        "shared, then the credential rotated: the alert resolves itself",
        "alert",
        (_SHARE, rotated("2026-03-10T12:00:00Z", "v-23")),
        _DIR,
        status="resolved",
    ),
    Case(
        "shared, then the recipient rotates the credential: they still hold it, the alert stays open",
        "alert",
        (_SHARE, rotated("2026-03-10T12:00:00Z", "v-23", actor_id="p-3")),
        _DIR,
        status="open",
    ),
    Case(
        "shared, rotated by the recipient, then by somebody else: the alert resolves itself",
        "alert",
        (
            _SHARE,
            rotated("2026-03-10T12:00:00Z", "v-23", actor_id="p-3"),
            rotated("2026-03-10T13:00:00Z", "v-24", actor_id="p-1"),
        ),
        _DIR,
        status="resolved",
    ),
    Case(
        "password shared where the profile logs sharing (bangor): no alert", "none", (_SHARE,), _DIR, profile="bangor"
    ),
    Case(
        "temporary access is a takeover (CRD-02), not a share: no alert",
        "none",
        (temporary_access("2026-03-10T11:30:00Z", "v-21", "p-3", "2026-03-10T15:00:00Z"),),
        _DIR,
    ),
    Case(
        "a rotation from before the share arriving after it: the alert stays open",
        "alert",
        (_SHARE, rotated("2026-03-10T10:00:00Z", "v-23")),
        _DIR,
        status="open",
    ),
    Case(
        "a share from before the last rotation arriving after it: raised and resolved, as in order",
        "alert",
        (rotated("2026-03-10T12:00:00Z", "v-23"), _SHARE),
        _DIR,
        status="resolved",
    ),
    Case(
        "a share arriving after a later rotation by its own recipient: the alert stays open, as in order",
        "alert",
        (rotated("2026-03-10T12:00:00Z", "v-23", actor_id="p-3"), _SHARE),
        _DIR,
        status="open",
    ),
    Case("a rotation is not a share: no alert", "none", (rotated("2026-03-10T11:30:00Z", "v-22"),), _DIR),
]


@rule(
    "CRD-03",
    title="Password not shared where the profile forbids it",
    severity="high",
    sources=["003 §5.4", "004 Section 3", '001 "Account security"'],
    on=("credential.shared", "credential.rotated"),
    cases=CASES,
)
def crd_03_password_not_shared(event: Any, state: Any, ctx: Context) -> tuple[Any, Sequence[Action]]:
    """Alert on every credential share when password_sharing is "forbidden"; under "logged" the facts log it.

    The key is the share's event id: each share is its own breach, raised against the person who shared.
    A rotation after the share by anybody but its recipient resolves it, since the recipient's copy no longer
    works; one by the recipient leaves them holding the new password, so that share stays open, and a rotation
    arriving late, older than the share, resolves nothing. A share arriving late, older than the last rotation, is
    resolved at once, as in time order (the facts do not keep who made that rotation). State: share event id ->
    (sharer, recipient, time of the share), for the alerts still open.
    """
    if ctx.params.password_sharing != "forbidden":
        return None, ()
    d = event.data
    if event.type == "credential.rotated":
        if not state:
            return None, ()
        now, actor = event.time, d.actor_id
        done = {k: v for k, v in state.items() if v[2] <= now and v[1] != actor}
        left = {k: v for k, v in state.items() if k not in done}
        return left or None, [
            Resolve(key=k, person_id=sharer, evidence=(event.id,)) for k, (sharer, _, _) in done.items()
        ]
    a = d.account_id
    if not is_latest_rotation(ctx.account, event.time) and ctx.account.rotated_by != d.recipient_id:
        # arriving late: the credential was rotated since, as in order; unless by the recipient, who then set it
        evidence = (ctx.account.rotation_event or event.id,)
        later: tuple[Action, ...] = (Resolve(key=event.id, person_id=d.actor_id, evidence=evidence),)
    else:
        later = ()
    state = {**(state or {}), event.id: (d.actor_id, d.recipient_id, event.time)} if not later else state
    return state, (
        Raise(
            key=event.id,
            person_id=d.actor_id,
            evidence=(event.id,),
            summary=f"{d.actor_id} shared the password of {a} with {d.recipient_id} at "
            f"{event.time.astimezone(UTC):%Y-%m-%d %H:%M}Z; this profile forbids sharing a password",
            next_step=f"Rotate the credential of {a}, give {d.recipient_id} a named login of their own "
            f"instead, and remind {d.actor_id} that passwords are not shared",
        ),
        *later,
    )
