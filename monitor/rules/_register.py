"""Shared logic of the register checks (DIR-02..07) and LVR-04: who is current staff, and when to judge."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from monitor.facts import AccountFacts, PersonFacts
from monitor.rules.base import Action, Context, Raise, Resolve, Wake

# Events that can change who is current staff or who holds a role on an account (`directory.person`: who is in the
# directory's people, which `is_current` asks).
STAFF_EVENTS = (
    "directory.admin_assigned", "directory.admin_unassigned", "directory.access_confirmed", "directory.person",
    "hr.leaver", "hr.leaver_cancelled", "hr.role_changed",
)  # fmt: skip
# Events that change the register entry itself.
REGISTER_EVENTS = ("directory.account_registered", "directory.account_updated", "directory.account_retired", "tick")
SEEN_CAP = 8


def is_current(person: PersonFacts | None, account: AccountFacts, at: datetime) -> bool:
    """Current staff at `at`: in the directory's people, not left, and not a mover past their move unless their
    access was confirmed. Somebody the register names as an admin or manager but lists nowhere is nobody's staff."""
    if person is None or not person.in_directory:
        return False
    if person.leaving_at is not None and person.leaving_at <= at:
        return False
    return not (person.moved_at is not None and person.moved_at <= at and person.person_id not in account.confirmed)


def not_current_reason(person: PersonFacts | None, at: datetime) -> str:
    """Why a person is not current staff at `at`, in words for a summary."""
    if person is not None and person.leaving_at is not None and person.leaving_at <= at:
        return f"{person.person_id} left at {person.leaving_at:%Y-%m-%d %H:%M}Z"
    if person is not None and person.moved_at is not None:
        return f"{person.person_id} moved to {person.new_role or 'another role'} at {person.moved_at:%Y-%m-%d %H:%M}Z"
    if person is not None and not person.in_directory:
        return f"{person.person_id} is not in the directory's people"
    return f"{person.person_id if person else 'someone'} is not current staff"


def current_holders(ctx: Context, role: str, at: datetime, exclude: str | None = None) -> list[str]:
    """The account's holders of `role` in the register who are current staff at `at`, sorted."""
    acc = ctx.account
    return [p for p in acc.holders_of(role) if p != exclude and is_current(ctx.person(p), acc, at)]


def gone_holders(ctx: Context, role: str, at: datetime) -> list[str]:
    """Why each holder of `role` in the register is no longer current staff at `at`."""
    acc = ctx.account
    gone = [p for p in acc.holders_of(role) if not is_current(ctx.person(p), acc, at)]
    return [not_current_reason(ctx.person(p), at) for p in gone]


def _staff_changes(ctx: Context) -> set[datetime]:
    """When any role holder of the account leaves or moves, as far as HR has said."""
    out: set[datetime] = set()
    for pid in set(ctx.account.roles) | ctx.account.platform_admins:
        p = ctx.person(pid)
        if p is not None:
            out.update(t for t in (p.leaving_at, p.moved_at) if t is not None)
    return out


@dataclass(frozen=True, slots=True)
class Finding:
    """What a register check found wrong, for the alert."""

    summary: str
    next_step: str


Check = Callable[[Context], Finding | None]


Seen = tuple[tuple[datetime, str], ...]


class Judging(NamedTuple):
    """A register check's state (a tuple, not a dict: every account holds six of them)."""

    due: datetime  # when judging starts
    seen: Seen  # the latest (time, event id)s: the evidence, in the same order always
    raised: str | None = None  # the open alert's summary


# The register checks of one account see the same events, so each would build an equal `seen` tuple for an event:
# the last one built is handed to the next check that asks for the same one, so an account holds one, not six.
_last_seen: list[Any] = [(), None, None, ()]  # [seen before, time, event id, seen after]


def _seen_with(seen: Seen, now: datetime, event_id: str) -> Seen:
    """`seen` with (now, event_id), sorted, the latest SEEN_CAP kept."""
    before, t, eid, built = _last_seen
    if eid == event_id and t == now and before == seen:
        return built
    after: Seen = tuple(sorted((*seen, (now, event_id))))[-SEEN_CAP:]
    _last_seen[:] = (seen, now, event_id, after)
    return after


_last_judging: list[Judging | None] = [None]


def _judging(due: datetime, seen: Seen, raised: str | None) -> Judging:
    """A state equal to the last one made is that one: an account's six checks share their state while it is
    the same (as it is until one of them finds something)."""
    last = _last_judging[0]
    if last is not None and last.seen is seen and last.raised == raised and last.due == due:
        return last
    made = _last_judging[0] = Judging(due, seen, raised)
    return made


def register_check(
    event: Any, state: Judging | None, ctx: Context, key: str, check: Check, *, staff: bool = False
) -> tuple[Judging | None, Sequence[Action]]:
    """Judge `check` from registration + grace on, and after every event given; raise, re-raise on change, resolve.

    Judging happens on a tick, so an answer is given only once every event of an instant is in. With `staff`,
    each judgement also books a tick at every future leaving or move of a role holder, when "current" changes.
    """
    acc = ctx.account
    etype = event.type
    now = ctx.now
    if acc.retired or not acc.registered:
        if state and state.raised:
            return None, (Resolve(key, evidence=(event.id,) if event.id else ()),)
        return None, ()
    actions: list[Action] = []
    seen = state.seen if state else ()
    if etype != "tick" and (now, event.id) not in seen:
        seen = _seen_with(seen, now, event.id)
    raised = state.raised if state else None
    if state:
        due = state.due
    else:
        start = now if etype == "directory.account_registered" else (acc.registered_at or now)
        due = start + ctx.params.registration_grace
        last = _last_judging[0]
        if last is not None and last.due == due:
            due = last.due  # the same datetime object: each check's wake-up deadline keeps it
        if due > now:
            actions.append(Wake(due, "registered"))
    if now < due:
        return _judging(due, seen, raised), actions
    if etype != "tick":
        actions.append(Wake(now, "changed"))
        return _judging(due, seen, raised), actions
    if staff:
        actions.extend(Wake(t, "staff") for t in _staff_changes(ctx) if t > now)
    finding = check(ctx)
    if finding is None:
        if raised:
            actions.append(Resolve(key, evidence=tuple(i for _, i in seen[-1:])))
            raised = None
    elif finding.summary != raised:
        actions.append(Raise(key, finding.summary, finding.next_step, evidence=tuple(i for _, i in seen)))
        raised = finding.summary
    return _judging(due, seen, raised), actions
