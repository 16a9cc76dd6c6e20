"""What the monitor knows about people and accounts, folded from events (pure, no I/O)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from schemas.events import Event

DutyKind = Literal["leaver", "mover"]


def pickled_by_fields(self: Any) -> tuple[type, tuple[Any, ...]]:
    """`__reduce__` for a slots dataclass: its class and field values, the positional arguments of its __init__.

    Pickle's default makes a dict of the slots for every object: a 20k-account partition's snapshot was 16%
    larger and took about 1.7 times as long to restore (bench/README, "Recovery").
    """
    return type(self), tuple([getattr(self, name) for name in self.__slots__])


# Shared by every person and account that has them, so a Kafka worker's partition engines, each holding every person
# (people are broadcast), do not each hold an empty set per person: most people have no groups, and most accounts no
# platform seats or confirmations; an empty set is 216 bytes. Pickle keeps the sharing within a snapshot. (People's
# accounts and accounts' sign-ins start as the empty tuple, which is one object too: `with_member`.)
_EMPTY_SET: frozenset[str] = frozenset()
_SHARED: dict[frozenset[str], frozenset[str]] = {}  # grows with the distinct sets of groups or roles, not with people


def shared_frozenset(items: Iterable[str]) -> frozenset[str]:
    """The process's one frozenset equal to `items` (a person's groups, a person's roles on an account)."""
    fs = items if isinstance(items, frozenset) else frozenset(items)
    shared = _SHARED.get(fs)
    if shared is None:
        shared = _SHARED[fs] = frozenset(sys.intern(g) for g in fs)
    return shared


@dataclass(slots=True)
class PersonFacts:
    """One person: directory entry, HR status and the accounts they can reach."""

    person_id: str
    in_directory: bool = False
    email: str | None = None
    unit: str | None = None
    groups: frozenset[str] = shared_frozenset(())
    leaving_at: datetime | None = None
    leaver_event: str | None = None
    moved_at: datetime | None = None
    new_role: str | None = None
    mover_event: str | None = None
    accounts: tuple[str, ...] | set[str] = ()  # a tuple while few, then a set (`with_member`)
    # the time of the latest hr.leaver or hr.leaver_cancelled taken: an older one arriving after it is HR's past word
    leaver_noted_at: datetime | None = None
    mover_noted_at: datetime | None = None  # the same for hr.role_changed: an older notice of a move is past word

    __reduce__ = pickled_by_fields

    def left_by(self, t: datetime) -> bool:
        """True when HR says this person had left at time t."""
        return self.leaving_at is not None and self.leaving_at <= t

    def reaches(self, account_id: str) -> None:
        """Record that this person holds a role, seat or credential on the account."""
        self.accounts = with_member(self.accounts, account_id)


# Up to this many members a collection that only grows is a tuple, past it a set: most people reach one account and
# most accounts see a few people sign in, and a set of one is 216 bytes where a tuple of one is 48. At 10k accounts
# the sets were 600 bytes an account (people's accounts and accounts' sign-ins; bench/README, "State").
_FEW = 4


def with_member(s: tuple[str, ...] | set[str], item: str) -> tuple[str, ...] | set[str]:
    """`s` with `item` added: a set is added to; a tuple is replaced by one an item longer, or
    by a set once it would hold more than `_FEW`."""
    if isinstance(s, set):
        s.add(item)
        return s
    if item in s:
        return s
    return (*s, item) if len(s) < _FEW else {*s, item}


def with_item(s: set[str] | frozenset[str], item: str) -> set[str]:
    """`s` with `item` added: `s` itself, or a set of its own in place of the shared empty one."""
    if isinstance(s, set):
        s.add(item)
        return s
    return {*s, item}


@dataclass(slots=True)
class Duty:
    """What must happen on one account because a person left or moved (LVR-01, LVR-02, LVR-05)."""

    kind: DutyKind
    person_id: str
    due_from: datetime
    cause: str
    had_seat: bool
    knew_credential: bool
    seat_removed_at: datetime | None = None
    seat_evidence: str | None = None
    rotated_at: datetime | None = None
    rotation_evidence: str | None = None
    confirmed_at: datetime | None = None
    cancelled_at: datetime | None = None

    __reduce__ = pickled_by_fields

    @property
    def done(self) -> bool:
        if self.cancelled_at is not None or self.confirmed_at is not None:
            return True
        seat_ok = not self.had_seat or self.seat_removed_at is not None
        cred_ok = not self.knew_credential or self.rotated_at is not None
        return seat_ok and cred_ok

    def done_at(self) -> datetime | None:
        """When the last piece of evidence arrived, if the duty is done."""
        if not self.done:
            return None
        times = [t for t in (self.seat_removed_at, self.rotated_at, self.confirmed_at, self.cancelled_at) if t]
        return max(times) if times else self.due_from


@dataclass(slots=True)
class AccountFacts:
    """One account: its register entry (what should be) and what the platform and vault said (what is)."""

    account_id: str
    registered: bool = False
    registered_at: datetime | None = None
    retired: bool = False
    platform: str | None = None
    handle: str | None = None
    registration_email: str | None = None
    credential_model: str | None = None
    mfa_registered: bool | None = None
    central: bool = False
    approved_by: str | None = None
    naming_exempt: bool = False
    emergency_access: str | None = None
    roles: dict[str, frozenset[str]] = field(default_factory=dict)  # person -> roles, a shared frozenset
    # the sets below start as the shared empty one (most accounts never fill some) and get their own on a first add
    platform_admins: set[str] | frozenset[str] = _EMPTY_SET
    holders: dict[str, datetime] = field(default_factory=dict)  # who knows the current credential -> given it at
    mfa_on: bool | None = None
    mfa_changed_by: str | None = None
    rotated_at: datetime | None = None
    rotation_event: str | None = None  # the id of the rotation at rotated_at
    fingerprint: str | None = None
    last_activity_at: datetime | None = None
    last_activity_event: str | None = None
    confirmed: set[str] | frozenset[str] = _EMPTY_SET
    logged_in: tuple[str, ...] | set[str] = ()  # who signed in, as `with_member` keeps it
    duties: dict[str, Duty] = field(default_factory=dict)
    # person -> the time and the event id of their latest act here (`actor_of`), so that HR's late report of their
    # leaving can be held against what they did since (LVR-03); None until the first act. Two dicts of plain values,
    # not one of tuples: a tuple made for every sign-in and kept woke the cyclic collector, and a replay of the mix
    # ran about a quarter slower (3.7 s against 2.9 s for the engine on a 200k mix)
    acted_at: dict[str, datetime] | None = None
    acted_in: dict[str, str] | None = None
    # person -> (time, event id) of the platform.admin_removed that took their seat away, until a seat is given back;
    # None until the first removal (most accounts never see one)
    seats_removed: dict[str, tuple[datetime, str]] | None = None
    # person -> the time of the platform.admin_added that last gave them a seat, so that a removal arriving late,
    # older than that, leaves the seat; None until the first seat is given (most accounts never see one)
    seats_added: dict[str, datetime] | None = None
    mfa_changed_at: datetime | None = None  # the time of the mfa.enabled or mfa.disabled that set mfa_on
    rotated_by: str | None = None  # the actor of the rotation at rotated_at, who knows the credential it set

    __reduce__ = pickled_by_fields

    def holders_of(self, role: str) -> list[str]:
        """People holding a role in the register, sorted."""
        return sorted(p for p, r in self.roles.items() if role in r)

    def people(self) -> set[str]:
        """Everybody who can reach the account: roles, platform seats, credential holders, sign-ins."""
        return set(self.roles).union(self.platform_admins, self.holders, self.logged_in)

    def may_administer(self, person_id: str | None) -> bool:
        """Admins and the manager in the register may change credential, MFA and admins (CRD-05)."""
        return person_id is not None and bool(self.roles.get(person_id, _NONE) & _ADMIN_ROLES)

    def has_access(self, person_id: str) -> bool:
        """In the register, holding a platform seat, or in the credential log."""
        return person_id in self.roles or person_id in self.platform_admins or person_id in self.holders

    def with_access(self) -> set[str]:
        """Everyone `has_access` is true of: the register's role holders, platform seats and the credential log."""
        return set(self.roles).union(self.platform_admins, self.holders)

    def has_seat(self, person_id: str) -> bool:
        """A login of their own on the platform (not the shared credential), unless the platform removed it."""
        if person_id in self.platform_admins:
            return True
        if self.seats_removed is not None and person_id in self.seats_removed:
            return False
        return person_id in self.roles and self.credential_model != "shared_credential"

    def shared_since(self, person_id: str, t: datetime) -> bool:
        """They were given the credential (a share or temporary access) after time `t`."""
        given = self.holders.get(person_id)
        return given is not None and given > t

    def knows_credential(self, person_id: str) -> bool:
        """They were given the shared password, or hold a role on a shared-credential account."""
        if person_id in self.holders:
            return True
        return person_id in self.roles and self.credential_model == "shared_credential"


_NONE: frozenset[str] = frozenset()
_ADMIN_ROLES = frozenset({"admin", "manager"})

_REG_FIELDS = (
    "platform", "handle", "registration_email", "credential_model", "central",
    "approved_by", "naming_exempt", "emergency_access",
)  # fmt: skip


def apply_person(p: PersonFacts, ev: Event) -> bool:
    """Fold a person-level event (hr.*, directory.person) into the person's facts. False, and nothing changed, for a
    notice of leaving or its withdrawal older than the latest of those taken (arriving late): a withdrawal would
    otherwise cancel the newer notice given since, and a notice bring back a leaving HR withdrew since. The same for
    a notice of a move older than the latest (a correction's date would be replaced by the one it corrected)."""
    d: Any = ev.data
    t = ev.type
    if t in ("hr.leaver", "hr.leaver_cancelled"):
        if p.leaver_noted_at is not None and ev.time < p.leaver_noted_at:
            return False
        p.leaver_noted_at = ev.time
    elif t == "hr.role_changed":
        if p.mover_noted_at is not None and ev.time < p.mover_noted_at:
            return False
        p.mover_noted_at = ev.time
    if t == "directory.person":
        p.in_directory = True
        p.email = d.email
        p.unit = sys.intern(d.unit) if d.unit is not None else None
        p.groups = shared_frozenset(d.groups)
    elif t == "hr.leaver":
        p.leaving_at = d.leaving_at
        p.leaver_event = ev.id
    elif t == "hr.leaver_cancelled":  # withdraws the leaving only: a move HR gave notice of still stands
        p.leaving_at = None
        p.leaver_event = None
    elif t == "hr.role_changed":
        p.moved_at = d.effective_at
        p.new_role = d.new_role
        p.mover_event = ev.id
    return True


# The person an account event gives reach to, by type: their role, seat, credential, sign-in or device.
REACH_FIELD = {
    "directory.admin_assigned": "person_id",
    "platform.admin_added": "person_id",
    "credential.shared": "recipient_id",
    "credential.temporary_access": "recipient_id",
    "login.succeeded": "person_id",
    "device.approved": "person_id",
}
# The events by which a person gains access while HR's notice about them is open, which then gives the notice's duty
# that account too (`_reached`). Not a sign-in: that uses access, recorded (a role, seat or share: already here) or
# not (SIG-02 and CRD-04 alert on it, and LVR-03 after the leaving time); and skipping it keeps the
# leaver rules off the commonest event.
DUTY_REACH = {t: f for t, f in REACH_FIELD.items() if t != "login.succeeded"}


# Acts on an account by the person the event names: signing in, posting, approving a prompt (`person_id`) or making a
# change (`actor_id`).
SELF_ACTS = frozenset({"login.succeeded", "post.published", "mfa.challenge"})
ACTOR_ACTS = frozenset({
    "credential.rotated", "credential.shared", "credential.temporary_access",
    "platform.admin_added", "platform.admin_removed", "mfa.enabled", "mfa.disabled", "device.approved",
})  # fmt: skip
_ACT_FIELD = {t: "person_id" for t in SELF_ACTS} | {t: "actor_id" for t in ACTOR_ACTS}
# Types whose actor (`actor_of`) is always the person REACH_FIELD names: the engine reads that field once for both.
ACTOR_IS_SUBJECT = frozenset(
    t for t in SELF_ACTS | ACTOR_ACTS if t != "mfa.challenge" and REACH_FIELD.get(t) == _ACT_FIELD[t]
)


def actor_of(etype: str, d: Any) -> str | None:
    """Who acted on the account in this event, if anybody did: a denied or unanswered prompt is nobody's act."""
    field_name = _ACT_FIELD.get(etype)
    if field_name is None or (etype == "mfa.challenge" and d.result != "approved"):
        return None
    pid: str | None = getattr(d, field_name)
    return pid


def apply_account(a: AccountFacts, ev: Event, person: PersonFacts | None) -> None:
    """Fold one event into an account's facts; `person` is the event's subject person, if any (for the events of
    REACH_FIELD, the person it gives reach to)."""
    etype, d = ev.type, ev.data
    fold_account(a, ev.id, etype, d, ev.time, person, actor_of(etype, d))


def fold_account(
    a: AccountFacts, eid: str, etype: str, d: Any, now: datetime, person: PersonFacts | None, pid: str | None
) -> None:
    """`apply_account` given the event's id, type, data, time and actor (`actor_of`), which the engine has already
    read: a field of an event (a pydantic model, whose `__getattr__` keeps Python from specialising the read) costs
    about five plain reads."""
    fold = _ACCOUNT_FOLDS.get(etype)
    if fold is not None:
        fold(a, eid, d, now, person)
    if pid:
        at, inn = a.acted_at, a.acted_in
        if at is None or inn is None:
            at, inn = a.acted_at, a.acted_in = {}, {}
        last = at.get(pid)
        if last is None or now >= last:  # a late event is older than what is kept
            at[pid], inn[pid] = now, eid
    # most people have no notice open: that is tested first, as it costs least
    if (
        person is not None
        and (person.leaver_event is not None or person.mover_event is not None)
        and etype in DUTY_REACH
    ):
        _reached(a, person, now)


# One fold per event type that changes an account's facts (a dict lookup instead of a chain of tests: most
# events are sign-ins, and some types, such as failed sign-ins, change nothing here).


def _registered(a: AccountFacts, eid: str, d: Any, now: datetime, person: PersonFacts | None) -> None:
    a.registered, a.retired = True, False
    if a.registered_at is None or now < a.registered_at:  # the first registration, though it arrive late
        a.registered_at = now
    _updated(a, eid, d, now, person)


def _updated(a: AccountFacts, eid: str, d: Any, now: datetime, person: PersonFacts | None) -> None:
    for name in _REG_FIELDS:
        value = getattr(d, name)
        if value is not None:
            setattr(a, name, value)
    if d.mfa_enabled is not None:
        a.mfa_registered = d.mfa_enabled
        if a.mfa_on is None or a.mfa_changed_by is None:
            a.mfa_on = d.mfa_enabled


def _retired(a: AccountFacts, eid: str, d: Any, now: datetime, person: PersonFacts | None) -> None:
    a.retired = True


def _admin_assigned(a: AccountFacts, eid: str, d: Any, now: datetime, person: PersonFacts | None) -> None:
    a.roles[d.person_id] = shared_frozenset(a.roles.get(d.person_id, _EMPTY_SET) | {d.role})
    _seat_given(a, d.person_id)


def _admin_unassigned(a: AccountFacts, eid: str, d: Any, now: datetime, person: PersonFacts | None) -> None:
    a.roles.pop(d.person_id, None)


def _access_confirmed(a: AccountFacts, eid: str, d: Any, now: datetime, person: PersonFacts | None) -> None:
    a.confirmed = with_item(a.confirmed, d.person_id)
    duty = a.duties.get(d.person_id)
    if duty and duty.kind == "mover" and duty.confirmed_at is None:
        duty.confirmed_at = now
        # kept for the new role, not past a leaving HR has given notice of: that duty now holds the account
        if person is not None and person.leaver_event is not None and person.leaving_at is not None:
            _open_duty(a, person, "leaver", person.leaving_at, person.leaver_event, now)


def _rotated(a: AccountFacts, eid: str, d: Any, now: datetime, person: PersonFacts | None) -> None:
    if is_latest_rotation(a, now):  # a late (older) rotation leaves the newer credential's facts as they are
        a.rotated_at, a.rotation_event, a.rotated_by = now, eid, d.actor_id
        a.fingerprint = d.fingerprint  # None: the new one is unknown
    # Those given the credential after this rotation still hold it (a rotation arriving after the share).
    holders = {p: t for p, t in a.holders.items() if t > now}
    if d.actor_id in a.holders and d.actor_id not in holders:
        holders[d.actor_id] = now
    a.holders = holders
    for duty in a.duties.values():
        if (
            duty.knew_credential
            and duty.rotated_at is None
            and now >= duty.due_from
            and duty.person_id != d.actor_id  # who set the new credential knows it
            and (a.rotated_by != duty.person_id or is_latest_rotation(a, now))  # nor set a newer one since
            and not a.shared_since(duty.person_id, now)
        ):
            duty.rotated_at, duty.rotation_evidence = now, eid


def is_latest_rotation(a: AccountFacts, t: datetime) -> bool:
    """A rotation at `t` is the account's current credential: none newer has been seen (a tie: the later to arrive)."""
    return a.rotated_at is None or t >= a.rotated_at


def _shared(a: AccountFacts, eid: str, d: Any, now: datetime, person: PersonFacts | None) -> None:
    if not is_latest_rotation(a, now):
        return  # arriving late, a share of a credential rotated since: they do not hold the current one
    given = a.holders.get(d.recipient_id)
    if given is None or now > given:
        a.holders[d.recipient_id] = now


def _admin_added(a: AccountFacts, eid: str, d: Any, now: datetime, person: PersonFacts | None) -> None:
    pid = d.person_id
    removed = a.seats_removed.get(pid) if a.seats_removed is not None else None
    if removed is not None and removed[0] > now:
        return  # arriving late, a seat the platform has removed since
    a.platform_admins = with_item(a.platform_admins, pid)
    if a.seats_added is None:
        a.seats_added = {}
    added = a.seats_added.get(pid)
    if added is None or now > added:
        a.seats_added[pid] = now
    _seat_given(a, pid)


def _seat_given(a: AccountFacts, pid: str) -> None:
    """A seat added on the platform or a role in the register: an earlier removal no longer shows the seat gone."""
    if a.seats_removed is not None:
        a.seats_removed.pop(pid, None)


def _admin_removed(a: AccountFacts, eid: str, d: Any, now: datetime, person: PersonFacts | None) -> None:
    added = a.seats_added.get(d.person_id) if a.seats_added is not None else None
    if added is not None and added > now:
        return  # arriving late, a removal of a seat the platform has given back since
    if isinstance(a.platform_admins, set):
        a.platform_admins.discard(d.person_id)
    if a.seats_removed is None:
        a.seats_removed = {}
    removed = a.seats_removed.get(d.person_id)
    if removed is None or now >= removed[0]:  # the latest removal is the evidence kept
        a.seats_removed[d.person_id] = (now, eid)
    duty = a.duties.get(d.person_id)
    if duty and duty.seat_removed_at is None:
        duty.seat_removed_at, duty.seat_evidence = now, eid


def _mfa_enabled(a: AccountFacts, eid: str, d: Any, now: datetime, person: PersonFacts | None) -> None:
    if a.mfa_changed_at is None or now >= a.mfa_changed_at:  # a late (older) change does not undo a newer one
        a.mfa_on, a.mfa_changed_by, a.mfa_changed_at = True, d.actor_id, now


def _mfa_disabled(a: AccountFacts, eid: str, d: Any, now: datetime, person: PersonFacts | None) -> None:
    if a.mfa_changed_at is None or now >= a.mfa_changed_at:
        a.mfa_on, a.mfa_changed_by, a.mfa_changed_at = False, d.actor_id, now


def _signed_in(a: AccountFacts, eid: str, d: Any, now: datetime, person: PersonFacts | None) -> None:
    last = a.last_activity_at
    if last is None or now >= last:  # a late sign-in is older than the activity kept
        a.last_activity_at, a.last_activity_event = now, eid
    # the sign-in's person_id, whose facts the engine hands in (REACH_FIELD) when it names one: not read again
    pid = person.person_id if person is not None else d.person_id
    if pid and pid not in a.logged_in:  # most sign-ins are by someone already seen
        a.logged_in = with_member(a.logged_in, pid)


def _posted(a: AccountFacts, eid: str, d: Any, now: datetime, person: PersonFacts | None) -> None:
    last = a.last_activity_at
    if last is None or now >= last:
        a.last_activity_at, a.last_activity_event = now, eid


def _leaver(a: AccountFacts, eid: str, d: Any, now: datetime, person: PersonFacts | None) -> None:
    if person is not None:
        _open_duty(a, person, "leaver", d.leaving_at, eid, now)


def _role_changed(a: AccountFacts, eid: str, d: Any, now: datetime, person: PersonFacts | None) -> None:
    if person is not None and d.person_id not in a.confirmed:
        _open_duty(a, person, "mover", d.effective_at, eid, now)


def _leaver_cancelled(a: AccountFacts, eid: str, d: Any, now: datetime, person: PersonFacts | None) -> None:
    duty = a.duties.get(d.person_id)
    if duty is None or duty.kind != "leaver" or duty.cancelled_at is not None:
        return  # a mover's duty stays: the move was not withdrawn
    duty.cancelled_at = now
    # a leaving that took the account over from a move (it came first) hands it back to the move
    if person is not None and _move_covers(person, a):
        assert person.moved_at is not None and person.mover_event is not None
        _open_duty(a, person, "mover", person.moved_at, person.mover_event, now)


_ACCOUNT_FOLDS: dict[str, Callable[[AccountFacts, str, Any, datetime, PersonFacts | None], None]] = {
    "directory.account_registered": _registered,
    "directory.account_updated": _updated,
    "directory.account_retired": _retired,
    "directory.admin_assigned": _admin_assigned,
    "directory.admin_unassigned": _admin_unassigned,
    "directory.access_confirmed": _access_confirmed,
    "credential.rotated": _rotated,
    "credential.shared": _shared,
    "credential.temporary_access": _shared,
    "platform.admin_added": _admin_added,
    "platform.admin_removed": _admin_removed,
    "mfa.enabled": _mfa_enabled,
    "mfa.disabled": _mfa_disabled,
    "login.succeeded": _signed_in,
    "post.published": _posted,
    "hr.leaver": _leaver,
    "hr.role_changed": _role_changed,
    "hr.leaver_cancelled": _leaver_cancelled,
}


def _move_covers(person: PersonFacts, a: AccountFacts) -> bool:
    """HR's notice of the person's move is open and the account is not confirmed for their new role."""
    return person.mover_event is not None and person.moved_at is not None and person.person_id not in a.confirmed


def _reached(a: AccountFacts, person: PersonFacts, now: datetime) -> None:
    """The person gained access to the account while HR's notice about them is open: the duty covers this
    account too, as if they had reached it when the notice came. A leaver notice covers any time after it; a move,
    access gained before it takes effect (after it, the access is for the new role); with both open, the duty
    already held here (`_holds`), else the notice that takes effect first."""
    pid = person.person_id
    notices: list[tuple[datetime, DutyKind, str]] = []
    if person.leaver_event is not None and person.leaving_at is not None:
        notices.append((person.leaving_at, "leaver", person.leaver_event))
    if _move_covers(person, a) and person.moved_at is not None and now < person.moved_at:
        notices.append((person.moved_at, "mover", person.mover_event or ""))
    if not notices:
        return
    due_from, kind, cause = min(notices, key=lambda n: (n[0], n[1] != "leaver"))
    duty = a.duties.get(pid)
    if duty is None or (duty.cause != cause and not _holds(duty, kind, due_from, now)):
        _open_duty(a, person, kind, due_from, cause, now)
        return
    if duty.cancelled_at is not None or duty.confirmed_at is not None:
        return
    # The duty was opened before: access gained since must go too.
    if a.has_seat(pid) and (not duty.had_seat or duty.seat_removed_at is not None):
        duty.had_seat, duty.seat_removed_at, duty.seat_evidence = True, None, None
    if pid in a.holders and (
        not duty.knew_credential or (duty.rotated_at is not None and a.shared_since(pid, duty.rotated_at))
    ):
        duty.knew_credential, duty.rotated_at, duty.rotation_evidence = True, None, None


def _holds(old: Duty, kind: DutyKind, due_from: datetime, now: datetime) -> bool:
    """The person's duty of the other kind keeps the account against a new notice: one duty per person and account,
    held by the notice that takes effect first (the access is due to go by the earlier deadline), a tie going to the
    leaving. A leaving already come keeps it; a move done (confirmed, or the access removed) gives way."""
    if old.kind == kind or old.cancelled_at is not None:
        return False
    if old.kind == "leaver":
        return old.due_from <= due_from or old.due_from <= now
    return not old.done and old.due_from < due_from


def _open_duty(
    a: AccountFacts, person: PersonFacts, kind: DutyKind, due_from: datetime, cause: str, now: datetime
) -> None:
    pid = person.person_id
    old = a.duties.get(pid)
    if old is not None and _holds(old, kind, due_from, now):
        return
    duty = a.duties[pid] = Duty(
        kind=kind,
        person_id=pid,
        due_from=due_from,
        cause=cause,
        had_seat=a.has_seat(pid),
        knew_credential=a.knows_credential(pid) or a.credential_model == "shared_credential",
    )
    # What was done before HR's event arrived counts as it would have had the event come first (a late report, or
    # a corrected date): a seat already removed, and a rotation at or after the leaving or move time (`_rotated`'s
    # test) unless the person made it or was given the credential after it.
    removed = a.seats_removed.get(pid) if a.seats_removed is not None else None
    if removed is not None:
        duty.had_seat = True
        duty.seat_removed_at, duty.seat_evidence = removed
    if (
        a.rotated_at is not None
        and a.rotated_at >= due_from
        and a.rotated_by != pid
        and not a.shared_since(pid, a.rotated_at)
    ):
        duty.rotated_at, duty.rotation_evidence = a.rotated_at, a.rotation_event
