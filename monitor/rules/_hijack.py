"""Hijack signs shared by LVR-03, CRD-05 and EMG-01, and the emergency grant time box of EMG-02."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from monitor.facts import ACTOR_ACTS, SELF_ACTS, AccountFacts, PersonFacts, actor_of
from monitor.rules.base import Context

COMMS_TEAM = "comms-team"
# Every type on which somebody acts on the account (facts.actor_of says who).
ACTING_TYPES: tuple[str, ...] = tuple(sorted(SELF_ACTS | ACTOR_ACTS))
# Changes only the account's admins or manager may make (CRD-05). A temporary password for a takeover replaces
# the credential as a rotation does, so it is a credential change too.
CHANGE_TYPES: tuple[str, ...] = (
    "credential.rotated", "credential.temporary_access",
    "mfa.enabled", "mfa.disabled", "platform.admin_added", "platform.admin_removed",
)  # fmt: skip
_CHANGES = frozenset(CHANGE_TYPES)
# Events that set a new password on the account (a rotation, or a temporary one for a takeover).
_CREDENTIAL_CHANGES = frozenset({"credential.rotated", "credential.temporary_access"})
# What a service actor (the lockout executor, Params.service_actors) may do: what a lockout asks of it. Anything else
# it does (MFA off, an admin added, a temporary password) is judged like anybody's change.
SERVICE_CHANGES = frozenset({"credential.rotated", "platform.admin_removed"})
_NEVER = datetime.min.replace(tzinfo=UTC)
_DETAIL_MAX = 200

# An emergency grant holder (EMG-02) -> the end of their grant plus the takeover grace period.
Grants = dict[str, datetime]


def stamp(t: datetime) -> str:
    """A time for a summary, in UTC to the minute, e.g. 2026-11-06 17:00Z."""
    # The same text as f"{t.astimezone(UTC):%Y-%m-%d %H:%M}Z" (glibc's %Y does not pad), in half the time: SIG-04
    # writes a summary on every failure of an open burst (bench/HISTORY.md, "Replay", session 26).
    u = t if t.tzinfo is UTC else t.astimezone(UTC)
    return f"{u.year}-{u.month:02d}-{u.day:02d} {u.hour:02d}:{u.minute:02d}Z"


def acted_after_leaving(event: Any, ctx: Context) -> PersonFacts | None:
    """The person behind this sign-in, post, approved MFA prompt or change, when HR says they had already left."""
    return left_by(ctx.people, actor_of(event.type, event.data), event.time)


def left_by(people: Mapping[str, PersonFacts], pid: str | None, t: datetime) -> PersonFacts | None:
    """The person `pid`, when HR says they had left at time t (the engine asks this of an event's actor, which it has
    already, for the rules that act only then: RuleSpec.only_after_leaving)."""
    if pid is None:
        return None
    person = people.get(pid)  # pid is not empty (an Id): ctx.person's test, without its call
    if person is None or person.leaving_at is None or person.leaving_at > t:
        return None
    return person


def left_text(person: PersonFacts) -> str:
    """'p-1, who left at 2026-11-06 17:00Z (HR event hr-1)', for summaries."""
    when = stamp(person.leaving_at) if person.leaving_at is not None else "an unknown time"
    return f"{person.person_id}, who left at {when} (HR event {person.leaver_event})"


def action_text(event: Any) -> str:
    """What the event's actor did, in words: 'disabled MFA', 'added p-3 as a platform admin'."""
    d = event.data
    t = event.type
    if t == "login.succeeded":
        return f"signed in from device {d.device_id} ({d.ip})"
    if t == "post.published":
        return "published a post"
    if t == "mfa.challenge":
        return "approved an MFA prompt"
    if t == "credential.rotated":
        return "rotated the credential"
    if t == "credential.shared":
        return f"shared the credential with {d.recipient_id}"
    if t == "credential.temporary_access":
        return f"set a temporary password for {d.recipient_id} (takeover until {stamp(d.ends_at)})"
    if t == "platform.admin_added":
        return f"added {d.person_id} as a platform admin"
    if t == "platform.admin_removed":
        return f"removed {d.person_id} as a platform admin"
    if t == "mfa.enabled":
        return "enabled MFA"
    if t == "mfa.disabled":
        return "disabled MFA"
    if t == "device.approved":
        return f"approved device {d.device_id} for {d.person_id}"
    return f"sent {t}"


def not_comms_member(event: Any, ctx: Context) -> bool:
    """True when the requester of an emergency access request is not a current comms-team member (EMG-02)."""
    person = ctx.person(event.data.requester_id)
    return person is None or COMMS_TEAM not in person.groups or person.left_by(event.time)


def unknown_account(a: AccountFacts) -> str | None:
    """Why an emergency request's account cannot be granted, in words, or None: it must be in the register and
    not retired, or a mistyped id during a hack would look handled while the real account is never locked."""
    if not a.registered:
        return f"{a.account_id} is not in the register"
    if a.retired:
        return f"{a.account_id} is retired from the register"
    return None


def grant_until(event: Any, ctx: Context) -> datetime | None:
    """When an emergency access request is granted, its expiry: only current comms-team members get one, and only
    for a registered account that is not retired (EMG-02)."""
    d = event.data
    if not_comms_member(event, ctx) or unknown_account(ctx.account) is not None:
        return None
    p = ctx.params
    asked = timedelta(minutes=d.minutes) if d.minutes else p.emergency_default
    return event.time + min(asked, p.emergency_max)


def with_grant(grants: Grants | None, event: Any, ctx: Context) -> Grants | None:
    """The grants after an emergency access request, ended ones dropped; None when there are none."""
    now = event.time
    kept = {pid: end for pid, end in (grants or {}).items() if end >= now}
    until = grant_until(event, ctx)
    if until is not None:
        end = until + ctx.params.takeover_grace
        requester = event.data.requester_id
        kept[requester] = max(end, kept.get(requester, end))
    return kept or None


def may_change(ctx: Context, actor: str | None, grants: Grants | None, etype: str) -> bool:
    """An admin or the manager in the register, a service actor doing what a lockout asks of it (SERVICE_CHANGES),
    or a comms-team member inside an emergency grant and its grace."""
    if ctx.account.may_administer(actor) or (
        actor is not None and etype in SERVICE_CHANGES and actor in ctx.params.service_actors
    ):
        return True
    return grants is not None and actor is not None and grants.get(actor, _NEVER) >= ctx.now


def unauthorised_change(event: Any, ctx: Context, grants: Grants | None) -> bool:
    """A credential, MFA or admin change on a registered account by someone who may not make it (CRD-05)."""
    etype = event.type
    return etype in _CHANGES and ctx.account.registered and not may_change(ctx, event.data.actor_id, grants, etype)


def no_access_credential_change(event: Any, ctx: Context, grants: Grants | None) -> bool:
    """A new password set on a registered account by someone with no access to it at all (SIG-02 and a change)."""
    if event.type not in _CREDENTIAL_CHANGES or not ctx.account.registered:
        return False
    actor = event.data.actor_id
    return not ctx.account.has_access(actor) and not may_change(ctx, actor, grants, event.type)


def hijack_sign(event: Any, ctx: Context, grants: Grants | None) -> str | None:
    """Why this event makes a hijack likely (EMG-01), in words, or None."""
    t = event.type
    if t == "account.compromise_reported":
        d = event.data
        detail = f": {d.detail[:_DETAIL_MAX]}" if d.detail else ""
        return f"{d.reporter_id} reported the account compromised{detail}"
    leaver = acted_after_leaving(event, ctx)
    if leaver is not None:
        return f"{left_text(leaver)}, {action_text(event)}"
    if t in SELF_ACTS:
        return None
    actor = event.data.actor_id
    if no_access_credential_change(event, ctx, grants):
        return f"{actor}, who has no access to the account, {action_text(event)}"
    if unauthorised_change(event, ctx, grants):
        return f"{actor}, who is not an admin or the manager of the account, {action_text(event)}"
    return None
