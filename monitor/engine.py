"""The engine: folds events into facts, runs the enabled rules in event time, keeps the alerts.

No I/O and no wall clock: time moves only with events and `advance(until)`. Events are processed in
one total order, (time, source, id), after a reorder buffer of `lateness`, so the same set of events
gives the same alerts however they arrive (within that lateness), and duplicates change nothing.
With lateness None only `advance` releases events: the live runtime moves it by its routers' watermarks.
"""

from __future__ import annotations

import hashlib
import heapq
import io
import logging
import pickle
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from itertools import chain, groupby, repeat
from json.encoder import encode_basestring_ascii
from operator import itemgetter
from typing import IO, Any, cast

from monitor.facts import (
    ACTOR_IS_SUBJECT,
    REACH_FIELD,
    AccountFacts,
    PersonFacts,
    actor_of,
    apply_account,
    apply_person,
    fold_account,
    is_latest_rotation,
    pickled_by_fields,
)
from monitor.gcpause import collector_paused
from monitor.policy import SEVERITIES, Params, Profile, Severity
from monitor.rules import RULES
from monitor.rules._hijack import left_by, stamp
from monitor.rules.base import (
    Context,
    Envelope,
    Grant,
    Precondition,
    Raise,
    Resolve,
    RuleFn,
    RuleSpec,
    Tick,
    Wake,
    _none,
)
from schemas.alerts import Alert, EmergencyGrant, LockoutCommand
from schemas.events import Event, parse_event

log = logging.getLogger("monitor.engine")
_blake2b = hashlib.blake2b
_json_str = encode_basestring_ascii  # what json.dumps writes for a str (ensure_ascii)
_DIGEST_SIZE = 16  # bytes of an event's (source, id) digest in the duplicate-event memory
_TIMERS_MIN_LIMIT = 4096  # deadlines in the heap before its copies are first dropped (Engine._compact_timers)
_SNAPSHOT_LEVEL = 1  # zlib's fastest: at 10k accounts 447 bytes an account (403 at level 6) in a quarter of the time

EVIDENCE_CAP = 50
BY_MONITOR = "monitor"  # resolved_by of an alert the monitor resolved itself, when the evidence arrived
LOCKOUT_ACTIONS = ["end_all_sessions", "rotate_credential", "remove_unregistered_admins"]
LOCKOUT_NOTIFY = ["account_manager", "it_security", "comms_team"]
GRANT_NOTIFY = ["account_manager", "it_security", "requester"]  # EMG-02: a grant is told to both
# Events of these types name a person whose HR status reaches every account they can reach.
PERSON_FANOUT = frozenset({"hr.leaver", "hr.leaver_cancelled", "hr.role_changed"})
# Events that are not about one account (every other type names its account in `data.account_id`).
_NOT_ACCOUNT_EVENTS = PERSON_FANOUT | {"directory.person", "incident.declared", "incident.closed"}


# A rule as the engine's loop reads it: (control, fn, initial state factory or None when it starts with
# nothing, spec), so the loop unpacks a tuple instead of reading four attributes per rule and event.
_Slot = tuple[str, RuleFn, Callable[[], Any] | None, RuleSpec]


# The slots to run, and those to run when the event's actor had not left (None when no rule waits for a leaver).
_Plan = tuple[tuple[_Slot, ...], tuple[_Slot, ...] | None]


def _slot(spec: RuleSpec) -> _Slot:
    return (spec.control, spec.fn, None if spec.initial is _none else spec.initial, spec)


def _quiet() -> None:
    """In a slot's place of the initial state factory: the rule is quiet on this event while it has no state."""


def _quiet_slot(slot: _Slot) -> _Slot:
    return (slot[0], slot[1], _quiet, slot[3])


def alert_id(control: str, account_id: str | None, person_id: str | None, key: str) -> str:
    """A stable id from the facts an alert is about: the same facts always give the same id.

    The digest is of the facts as the compact JSON array `json.dumps([control, account_id, person_id, key],
    separators=(",", ":"))`, written out here with json's own string encoder: the same bytes, a third of the
    time (tests/monitor/test_properties.py holds the two equal).
    """
    account = "null" if account_id is None else _json_str(account_id)
    person = "null" if person_id is None else _json_str(person_id)
    raw = f"[{_json_str(control)},{account},{person},{_json_str(key)}]"
    return "al-" + _blake2b(raw.encode(), digest_size=12).hexdigest()


def grant_id(account_id: str, request_id: str) -> str:
    """The id of the grant an emergency request earns (its lockout command names it as `alert_id`)."""
    return "gr-" + hashlib.blake2b(f"{account_id}\x1f{request_id}".encode(), digest_size=10).hexdigest()


# The next step's first words where the profile only advises a lockout: the control issues none.
_ADVISED = (
    "No lockout issued: {control} is advisory in the {profile} profile. Unless a lockout already under way covers "
    "this (monitor lockouts list), lock {account} out by hand now: end every session, rotate the credential, remove "
    "admins not in the register, and tell the manager, IT security and the comms team."
)


def _step(lockout: str, rest: str) -> str:
    """An alert's next step: what was done about the lockout, then the rule's own step."""
    return f"{lockout} {rest}" if lockout else rest


def _covered_text(account: str, lockout_id: str, issued_at: datetime) -> str:
    """The next step's words for a sign that an earlier-issued lockout (at or after the sign) already cuts off."""
    when = stamp(issued_at)
    return (
        f"Emergency lockout {lockout_id}, issued for {account} at {when}, covers this sign, so no new one was issued."
    )


# Everything an engine folds from its input; a snapshot holds exactly these.
_STATE = (
    "people", "accounts", "rule_state", "alerts", "open_incidents", "fingerprints", "mailboxes", "lockouts",
    "_locked", "grants", "stats", "clock", "_timers", "_buffer", "_max_seen",
    "_seen", "_seen_pruned_at", "_initial", "_foreign_fingerprints", "_person_resolved",
)  # fmt: skip


@dataclass(slots=True)
class AlertState:
    """The mutable record behind an Alert."""

    id: str
    control: str
    key: str
    severity: Severity
    status: str
    account_id: str | None
    person_id: str | None
    raised_at: datetime
    updated_at: datetime
    evidence: list[str]
    summary: str
    next_step: str
    escalate_at: datetime | None = None
    resolved_by: str | None = None
    note: str | None = None

    __reduce__ = pickled_by_fields

    def add_evidence(self, ids: Iterable[str]) -> bool:
        changed = False
        for i in ids:
            if i and i not in self.evidence and len(self.evidence) < EVIDENCE_CAP:
                self.evidence.append(i)
                changed = True
        return changed


# The parts of the state that are one record per key, travelling as columns (`_to_columns`).
_COLUMNS: dict[str, type] = {"people": PersonFacts, "accounts": AccountFacts, "alerts": AlertState}


def _to_columns(records: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    """A dict of slots records as its keys and one list per field, in the order of the fields.

    Pickled record by record, each record is its class and a tuple of its fields (`pickled_by_fields`), and the
    unpickler keeps every such tuple in its memo until the end of the load: they were then freed all at once among
    the live records, a hole of 128 to 272 bytes for each person, account and alert, about 880 bytes an account
    of free blocks that a restored engine kept resident (bench/README, "State")."""
    rows = list(records.values())
    names: tuple[str, ...] = type(rows[0]).__slots__ if rows else ()
    return list(records), [[getattr(r, name) for r in rows] for name in names]


def _from_columns(cls: type, keys: list[str], columns: list[list[Any]]) -> dict[str, Any]:
    """`_to_columns` undone: each record made from its fields, positionally, as `pickled_by_fields` made it."""
    return dict(zip(keys, map(cls, *columns), strict=True)) if keys else {}


@dataclass(slots=True)
class Stats:
    """Counts for the replay summary and metrics."""

    events: Counter[str] = field(default_factory=Counter)
    duplicates: int = 0
    late: int = 0
    most_late: timedelta | None = None  # of the late events, the furthest behind the latest event before it
    rule_errors: Counter[str] = field(default_factory=Counter)


class EngineError(Exception):
    """A command the engine cannot carry out (unknown alert, bad transition)."""


class Engine:
    """One organisation's monitor state and its rules, under one profile."""

    def __init__(
        self,
        profile: Profile,
        *,
        params: Params | None = None,
        lateness: timedelta | None = timedelta(0),
        dedup_horizon: timedelta = timedelta(days=7),
        on_alert: Callable[[Alert], None] | None = None,
        owns: Callable[[str], bool] | None = None,
    ) -> None:
        self.profile = profile
        self.params = params or profile.parameters
        self.lateness = lateness
        self.dedup_horizon = dedup_horizon
        self.on_alert = on_alert
        # A partition of a larger deployment owns some accounts; of the others it only sees the broadcast
        # credential rotations, to keep the fingerprint index whole (CRD-06).
        self.owns = owns
        # another partition's account -> the time and fingerprint of its latest rotation
        self._foreign_fingerprints: dict[str, tuple[datetime, str | None]] = {}
        self.people: dict[str, PersonFacts] = {}
        self.accounts: dict[str, AccountFacts] = {}
        self.rule_state: dict[str, dict[str, Any]] = {}  # account -> control -> that rule's state
        self.alerts: dict[str, AlertState] = {}
        self.open_incidents: dict[str, datetime] = {}
        self.fingerprints: dict[str, set[str]] = {}
        self.mailboxes: dict[str, str] = {}
        self.lockouts: list[LockoutCommand] = []
        self._locked: dict[str, tuple[str, datetime]] = {}  # account -> (id, issued_at) of its latest alert lockout
        self._person_resolved: set[str] = set()  # accounts on which a person has resolved an alert (Context)
        self._ctx = Context(
            datetime.min,
            AccountFacts(""),
            self.people,
            self.params,
            self.open_incidents,
            self.fingerprints,
            self.mailboxes,
            self._resolved_by_person,
            self._locked_at,
        )
        self.grants: list[EmergencyGrant] = []
        self.stats = Stats()
        self.clock: datetime | None = None
        # Deadlines as (time, account, control, key), a heap: deadlines of one time fire in that tuple's order (an
        # insertion counter cost 108 bytes a deadline). Equal deadlines set before one fires fire once (_fire_timers).
        self._timers: list[tuple[datetime, str, str, str]] = []
        self._timers_limit = _TIMERS_MIN_LIMIT  # past this many, copies are dropped from the heap (_schedule)
        self._buffer: list[tuple[datetime, str, str, Event]] = []
        self._max_seen: datetime | None = None
        self._seen: dict[bytes, datetime] = {}  # 128-bit digest of (source, id) -> event time
        self._seen_pruned_at: datetime | None = None
        self._initial: Iterable[Event] = []  # the preloaded register, until the first moment applies it
        self.current: Event | None = None  # the event being processed (None while deadlines fire)
        enabled = set(profile.enabled())
        self.rules: list[RuleSpec] = [s for c, s in RULES.items() if c in enabled and s.kind == "alert"]
        # Per event type, the rules to run, in registry order, each as a precomputed slot (see _slot).
        dispatch: dict[str, list[_Slot]] = {}
        for spec in self.rules:
            for t in spec.on:
                dispatch.setdefault(t, []).append(_slot(spec))
        self._dispatch: dict[str, tuple[_Slot, ...]] = {t: tuple(slots) for t, slots in dispatch.items()}
        # Per event type that some rule acts on only after the actor's leaving (RuleSpec.only_after_leaving), the rules
        # to run when the actor had not left by the event's time: the others.
        self._not_left: dict[str, tuple[_Slot, ...]] = {
            t: tuple(s for s in slots if t not in s[3].only_after_leaving)
            for t, slots in self._dispatch.items()
            if any(t in s[3].only_after_leaving for s in slots)
        }
        # Per event type on which some rule is quiet under a precondition (RuleSpec.quiet_when): the distinct
        # preconditions, and per combination of them holding (a bit each) the slots to run and those to run when the
        # actor had not left (or None); a rule quiet under one that holds is marked to be skipped while it has no state.
        self._quiet: dict[str, tuple[tuple[Precondition, ...], tuple[_Plan, ...]]] = {}
        for t, slots in self._dispatch.items():
            conds = tuple(dict.fromkeys(s[3].quiet_when[t] for s in slots if t in s[3].quiet_when))
            if conds:
                variants: list[_Plan] = []
                for mask in range(1 << len(conds)):
                    holding = {c for i, c in enumerate(conds) if mask >> i & 1}
                    marked = tuple(_quiet_slot(s) if s[3].quiet_when.get(t) in holding else s for s in slots)
                    not_left = tuple(s for s in marked if t not in s[3].only_after_leaving)
                    variants.append((marked, not_left if t in self._not_left else None))
                self._quiet[t] = (conds, tuple(variants))
        self._cross_account: dict[str, tuple[RuleSpec, ...]] = {
            t: tuple(s for s in self.rules if s.cross_account and t in s.on)
            for t in {t for s in self.rules if s.cross_account for t in s.on}
        }
        self._sources = {c: list(profile.controls[c].sources) for c in RULES}

    # ----- snapshots -----------------------------------------------------------------------------

    def snapshot(self) -> bytes:
        """The engine's whole folded state as bytes, so a restart can restore it instead of folding its input again.

        Pickle, so only for the engine's own store: restore only what this code wrote (the caller keys
        snapshots by a hash of the code). Compressed (zlib, fastest level): a quarter of the size for an eighth
        more time, since ids, names and times repeat across accounts (bench/README, "State").
        """
        self._initial = list(self._initial)  # before the first moment, the register travels in the snapshot
        state = {k: getattr(self, k) for k in _STATE}
        # event models are made per type at import, so they travel as their JSON
        state["_buffer"] = [(t, s, i, ev.model_dump_json()) for t, s, i, ev in self._buffer]
        state["_initial"] = [ev.model_dump_json() for ev in self._initial]
        state["_seen"] = _pack_seen(self._seen)
        for k in _COLUMNS:
            state[k] = _to_columns(state[k])
        return zlib.compress(dumps_state(state), _SNAPSHOT_LEVEL)

    def restore(self, blob: bytes) -> None:
        """Take the state of `snapshot()`; profile, parameters and callbacks stay this engine's own."""
        state = loads_state(zlib.decompress(blob))  # only ever what snapshot() wrote to the engine's own store
        missing = set(_STATE) - set(state)
        if missing:
            raise ValueError(f"snapshot lacks {sorted(missing)}")
        state["_buffer"] = [(t, s, i, parse_event(raw)) for t, s, i, raw in state["_buffer"]]
        state["_initial"] = [parse_event(raw) for raw in state["_initial"]]
        state["_seen"] = _unpack_seen(*state["_seen"])
        for k, cls in _COLUMNS.items():
            state[k] = _from_columns(cls, *state[k])
        for k in _STATE:
            setattr(self, k, state[k])
        self._timers_limit = max(_TIMERS_MIN_LIMIT, 2 * len(self._timers))
        self._ctx = Context(
            datetime.min, AccountFacts(""), self.people, self.params, self.open_incidents, self.fingerprints,
            self.mailboxes, self._resolved_by_person, self._locked_at,
        )  # fmt: skip

    # ----- input -------------------------------------------------------------------------------

    def preload(self, events: Iterable[Event]) -> None:
        """Register state given at the start of time (the directory file), applied before any event.

        Taken as it comes at the first moment, each event made, applied and dropped in turn, so a large register
        is never held as events all at once: held whole, a 10k-account register's fold left 24 KB per account
        resident instead of 13 KB (bench/README, "State").
        """
        self._initial = chain(self._initial, events)

    def submit(self, ev: Event) -> bool:
        """Take one event; False when it is a duplicate of one already taken."""
        source, eid = ev.source, ev.id
        key = _blake2b(f"{len(source)}:{source}{eid}".encode(), digest_size=_DIGEST_SIZE).digest()
        seen = self._seen
        if key in seen:
            self.stats.duplicates += 1
            return False
        t = seen[key] = ev.time
        clock = self.clock
        if clock is not None and t < clock:
            stats = self.stats
            stats.late += 1  # past the reorder buffer: judged now, at its own event time
            behind = (self._max_seen or clock) - t
            if stats.most_late is None or behind > stats.most_late:
                stats.most_late = behind
            self._process(ev, t, eid)
            return True
        max_seen = self._max_seen
        if max_seen is None or t > max_seen:
            self._max_seen = max_seen = t
        if self.lateness is None:  # released by advance() alone: the caller knows when its inputs have passed
            heapq.heappush(self._buffer, (t, source, eid, ev))
        elif not self.lateness and not self._buffer:
            self._process(ev, t, eid)
        else:
            heapq.heappush(self._buffer, (t, source, eid, ev))
            # Strictly before: an event at exactly max_seen - lateness may still arrive in time.
            self._drain(max_seen - self.lateness, inclusive=False)
        return True

    def remembers(self, ev: Event) -> bool:
        """Whether the duplicate memory still covers `ev`'s time (dedup_horizon behind the clock): if not, a copy of
        an event taken then cannot be told from a new one."""
        clock = self.clock
        return clock is None or ev.time >= clock - self.dedup_horizon

    def advance(self, until: datetime) -> None:
        """Move event time to `until`: buffered events and deadlines up to it are processed."""
        self._drain(until)
        self._start(until)
        self._fire_timers(until, inclusive=True)
        if self.clock is None or until > self.clock:
            self.clock = until

    def waiting(self) -> Iterator[Event]:
        """The events taken and still held in the reorder buffer, not yet applied (in no particular order)."""
        return (ev for _, _, _, ev in self._buffer)

    def flush(self) -> None:
        """Process every buffered event (end of input)."""
        if self._buffer:
            self._drain(max(e[0] for e in self._buffer))

    @property
    def last_event_time(self) -> datetime | None:
        return self._max_seen

    # ----- people acting on alerts ----------------------------------------------------------------

    def acknowledge(self, alert_id_: str, by: str, at: datetime) -> Alert:
        a = self._get(alert_id_)
        if a.status == "resolved":
            raise EngineError(f"alert {alert_id_} is resolved; it cannot be acknowledged")
        if a.status != "acknowledged":
            a.status, a.updated_at = "acknowledged", max(at, a.updated_at)
            self._emit(a)
        return self.alert(a)

    def resolve(self, alert_id_: str, by: str, at: datetime, note: str | None = None) -> Alert:
        if by == BY_MONITOR:  # else a person's resolve would pass for the monitor's own (ctx.resolved_by_person)
            raise EngineError(f"{BY_MONITOR!r} is the name the monitor resolves alerts under; a person resolves "
                              "under their own name")  # fmt: skip
        a = self._get(alert_id_)
        if a.status != "resolved":
            a.status, a.updated_at, a.resolved_by, a.note = "resolved", max(at, a.updated_at), by, note
            if a.account_id:
                self._person_resolved.add(a.account_id)
            self._emit(a)
        return self.alert(a)

    def act(self, kind: str, alert_id_: str, by: str, at: datetime, note: str | None = None) -> Alert:
        """A person's action on an alert as both runtimes log it: `kind` "ack" or "resolve"."""
        if kind == "ack":
            return self.acknowledge(alert_id_, by, at)
        if kind == "resolve":
            return self.resolve(alert_id_, by, at, note)
        raise EngineError(f"unknown action {kind!r} on an alert (ack or resolve)")

    def _get(self, alert_id_: str) -> AlertState:
        try:
            return self.alerts[alert_id_]
        except KeyError:
            raise EngineError(f"no alert with id {alert_id_}") from None

    # ----- output ---------------------------------------------------------------------------------

    def alert(self, a: AlertState) -> Alert:
        return Alert(
            id=a.id,
            control=a.control,
            severity=a.severity,
            status=a.status,
            account_id=a.account_id,
            person_id=a.person_id,
            raised_at=a.raised_at,
            updated_at=a.updated_at,
            policy=self.profile.name,
            sources=self._sources[a.control],
            evidence=list(a.evidence),
            summary=a.summary,
            next_step=a.next_step,
            resolved_by=a.resolved_by,
            note=a.note,
        )

    def final_alerts(self) -> list[Alert]:
        """Every alert's current version, sorted by raised_at then id (the replay order)."""
        return [self.alert(a) for a in sorted(self.alerts.values(), key=lambda a: (a.raised_at, a.id))]

    # ----- processing -----------------------------------------------------------------------------

    def _drain(self, upto: datetime, inclusive: bool = True) -> None:
        buf = self._buffer
        while buf and (buf[0][0] < upto or (inclusive and buf[0][0] == upto)):
            t, _, eid, ev = heapq.heappop(buf)
            self._process(ev, t, eid)

    def _start(self, t: datetime) -> None:
        """Apply the preloaded register at the first moment the engine sees."""
        if self.clock is None:
            self.clock = t
            initial, self._initial = self._initial, []
            with collector_paused():  # a register's fold builds long-lived state in one go (monitor/gcpause.py)
                for ev in initial:
                    self._apply(ev.model_copy(update={"time": t}), t, ev.id)

    def _process(self, ev: Event, t: datetime, eid: str) -> None:
        """Take one event in time order; `t` and `eid` are its time and id (ev.time, ev.id), read once: a field of an
        event (a pydantic model, whose `__getattr__` keeps Python from specialising the read) costs about five reads of
        a plain attribute."""
        if self.clock is None:
            self._start(t)
        self.current = None
        timers = self._timers
        if timers and timers[0][0] < t:
            self._fire_timers(t, inclusive=False)
        if self.clock is None or t > self.clock:
            self.clock = t
        self.current = ev
        self._apply(ev, t, eid)
        pruned_at = self._seen_pruned_at
        if pruned_at is None or t - pruned_at >= self.dedup_horizon:
            self._prune_seen(t)

    def _apply(self, ev: Event, t: datetime, eid: str) -> None:
        etype: str = ev.type
        self.stats.events[etype] += 1
        d: Any = ev.data
        if etype in _NOT_ACCOUNT_EVENTS:
            self._apply_other(ev, etype, d)
            return
        aid: str = d.account_id
        if self.owns is not None and not self.owns(aid):
            if etype == "credential.rotated":
                known = self._foreign_fingerprints.get(aid)
                if known is not None and t < known[0]:
                    return  # a late (older) rotation: the newer credential's fingerprint stays (is_latest_rotation)
                self._foreign_fingerprints[aid] = (t, d.fingerprint)
                self._index_fingerprint(aid, known[1] if known is not None else None, d.fingerprint)
            # a rule acting on other accounts (CRD-06) runs here too, for its actions on accounts owned here
            for spec in self._cross_account.get(etype, ()):
                self._run_rules(ev, etype, AccountFacts(aid), only=spec)
            return
        facts = self.accounts.get(aid)
        if facts is None:
            facts = self.accounts[aid] = AccountFacts(aid)
        field_name = REACH_FIELD.get(etype)
        subject = getattr(d, field_name) if field_name else None
        person = None
        if subject:
            person = self.people.get(subject)
            if person is None:
                person = self.people[subject] = PersonFacts(subject)
        elif etype == "directory.access_confirmed":  # a confirmed mover's leaving then takes the account (facts)
            person = self.people.get(d.person_id)
        if etype == "credential.rotated" and is_latest_rotation(facts, t):
            self._index_fingerprint(facts.account_id, facts.fingerprint, d.fingerprint)
        # who acted on the account, if anybody: folded, and asked below if they had left
        actor = subject if etype in ACTOR_IS_SUBJECT else actor_of(etype, d)
        fold_account(facts, eid, etype, d, t, person, actor)  # a notice open for the person covers this account
        if subject and person is not None and aid not in person.accounts:  # most come from people who reach it
            person.reaches(facts.account_id)
        slots = self._dispatch.get(etype)
        if slots:
            event = Envelope(eid, etype, t, d)
            quiet = self._quiet.get(etype)
            if quiet is None:
                not_left = self._not_left.get(etype)
            else:
                conds, variants = quiet
                mask, bit = 0, 1
                for cond in conds:
                    if cond(d, facts):
                        mask |= bit
                    bit <<= 1
                slots, not_left = variants[mask]
            if not_left is not None and left_by(self.people, actor, t) is None:  # acted_after_leaving(event, ...)
                slots = not_left
            self._run_slots(event, t, slots, facts)

    def _apply_other(self, ev: Event, etype: str, d: Any) -> None:
        """The events about a person or an incident rather than one account."""
        if etype in PERSON_FANOUT or etype == "directory.person":
            person = self._person(d.person_id)
            previous_email = person.email
            if not apply_person(person, ev):
                return  # HR's past word on a leaving, arriving after a newer one: no account is judged by it
            if etype == "directory.person":
                if previous_email:
                    self.mailboxes.pop(previous_email.lower().rpartition("@")[0], None)
                self.mailboxes[d.email.lower().rpartition("@")[0]] = person.person_id
            # the accounts the person reaches are judged again: for HR's news, and for a changed directory entry
            # (groups: the comms team's emergency seat, DIR-05; email: a personal registration mailbox, DIR-04)
            for acc in sorted(person.accounts):
                facts = self._account(acc)
                apply_account(facts, ev, person)
                self._run_rules(ev, etype, facts)
            return
        if etype == "incident.declared":
            self.open_incidents.setdefault(d.incident_id, ev.time)
            return
        if etype == "incident.closed":
            self.open_incidents.pop(d.incident_id, None)
            return

    def _index_fingerprint(self, aid: str, old: str | None, new: str | None) -> None:
        """Keep fingerprint -> accounts current: a rotation replaces the account's old fingerprint."""
        if old is not None and old in self.fingerprints:
            self.fingerprints[old].discard(aid)
            if not self.fingerprints[old]:
                del self.fingerprints[old]
        if new is not None:
            self.fingerprints.setdefault(new, set()).add(aid)

    def _person(self, pid: str) -> PersonFacts:
        p = self.people.get(pid)
        if p is None:
            p = self.people[pid] = PersonFacts(pid)
        return p

    def _account(self, aid: str) -> AccountFacts:
        a = self.accounts.get(aid)
        if a is None:
            a = self.accounts[aid] = AccountFacts(aid)
        return a

    def _resolved_by_person(self, control: str, person_id: str | None, key: str) -> bool:
        """Whether a person resolved that alert of a rule on the account its context is aimed at, and it has not
        reopened since (Context.resolved_by_person). Asked on most sign-ins (MFA-03), and people resolve alerts on
        few accounts: the set of those answers at once for the others, where working out the alert's id cost 6%
        of a replay's instructions."""
        aid = self._ctx.account.account_id
        if aid not in self._person_resolved:
            return False
        a = self.alerts.get(alert_id(control, aid, person_id, key))
        return a is not None and a.status == "resolved" and a.resolved_by != BY_MONITOR

    def _locked_at(self) -> datetime | None:
        """When the latest alert lockout on the account the context is aimed at was issued (Context.locked_at)."""
        held = self._locked.get(self._ctx.account.account_id)
        return held[1] if held is not None else None

    def _run_rules(self, ev: Any, etype: str, facts: AccountFacts, only: RuleSpec | None = None) -> None:
        slots = (_slot(only),) if only is not None else self._dispatch.get(etype)
        if slots:
            self._run_slots(ev, ev.time, slots, facts)

    def _run_slots(self, ev: Any, t: datetime, slots: tuple[_Slot, ...], facts: AccountFacts) -> None:
        ctx = self._ctx  # one context, re-aimed per call: rules must not keep it
        ctx.now, ctx.account = t, facts
        aid = facts.account_id
        states = self.rule_state.get(aid)
        if states is None:
            states = self.rule_state[aid] = {}
        get = states.get
        for control, fn, initial, spec in slots:
            stored = state = get(control)
            if state is None and initial is not None:
                if initial is _quiet:
                    continue
                state = initial()
            try:
                new_state, actions = fn(ev, state, ctx)
            except Exception:  # a broken rule must not stop the stream
                self.stats.rule_errors[control] += 1
                log.exception("rule %s failed on event %s (account %s)", control, ev.id or ev.type, aid)
                continue
            if new_state is not stored:
                if new_state is None:
                    states.pop(control, None)
                else:
                    states[control] = new_state
            if actions:
                self._act(spec, aid, ev, actions)

    def _act(self, spec: RuleSpec, aid: str, ev: Any, actions: Iterable[Any]) -> None:
        now: datetime = ev.time
        owns = self.owns
        for act in actions:
            if owns is not None and not owns(getattr(act, "account_id", None) or aid):
                continue  # another partition owns that account and applies it (see _apply)
            if isinstance(act, Raise):
                self._raise(spec, act.account_id or aid, now, act)
            elif isinstance(act, Resolve):
                a = self.alerts.get(alert_id(spec.control, act.account_id or aid, act.person_id, act.key))
                if a is not None and a.status != "resolved":
                    a.add_evidence(act.evidence)
                    a.status, a.updated_at, a.resolved_by = "resolved", now, BY_MONITOR
                    a.escalate_at = None
                    self._emit(a)
            elif isinstance(act, Wake):
                self._schedule(act.at, aid, spec.control, act.key)
            elif isinstance(act, Grant):
                gid = grant_id(aid, act.evidence)
                self.grants.append(
                    EmergencyGrant(
                        id=gid,
                        account_id=aid,
                        requester_id=act.requester_id,
                        reason=act.reason,
                        granted_at=now,
                        expires_at=act.until,
                        evidence=act.evidence,
                    )
                )
                # Taking the account back from a hijacker: the executor ends sessions, rotates the credential
                # (handing the new one to the requester through the vault) and removes unregistered admins.
                self.lockouts.append(
                    LockoutCommand(
                        id=f"lk-{gid[3:]}-0",
                        account_id=aid,
                        alert_id=gid,
                        issued_at=now,
                        reason=f"emergency access granted to {act.requester_id} until {act.until.isoformat()}: "
                        f"{act.reason[:200]}",
                        actions=LOCKOUT_ACTIONS,
                        notify=GRANT_NOTIFY,
                    )
                )

    def _raise(self, spec: RuleSpec, aid: str, now: datetime, act: Raise) -> None:
        aid_ = alert_id(spec.control, aid, act.person_id, act.key)
        severity = self.profile.severity(spec.control, act.severity or spec.severity or "low")
        a = self.alerts.get(aid_)
        if a is None:
            # An alert raised after its escalation time (a duty found late) escalates when raised, not before it.
            escalate_at = act.escalate_at if act.escalate_at is None or act.escalate_at > now else now
            a = AlertState(
                id=aid_,
                control=spec.control,
                key=act.key,
                severity=severity,
                status="open",
                account_id=aid,
                person_id=act.person_id,
                raised_at=now,
                updated_at=now,
                evidence=[],
                summary=act.summary,
                next_step=act.next_step,
                escalate_at=escalate_at,
            )
            a.add_evidence(act.evidence)
            self.alerts[aid_] = a
            if escalate_at is not None:
                self._schedule(escalate_at, aid, "", aid_)
            if act.lockout:
                a.next_step = _step(self._lockout(spec, a, now), act.next_step)
            self._emit(a)
            return
        changed = a.add_evidence(act.evidence)
        next_step = act.next_step
        if a.status == "resolved":
            a.status, a.resolved_by, a.note = "open", None, None
            changed = True
            if act.lockout:
                a.summary = act.summary  # the lockout's reason: this sign, not the one resolved
                next_step = _step(self._lockout(spec, a, now), next_step)
        elif act.lockout and act.relock:
            before, a.summary = a.summary, act.summary  # the lockout's reason: this sign
            n = len(self.lockouts)
            next_step = _step(self._lockout(spec, a, now), next_step)
            if len(self.lockouts) > n:
                changed = True
            elif not changed:
                a.summary = before  # nothing issued and nothing new: the alert stays as last emitted
        elif act.lockout:
            # A later sign joining an open alert: the lockout it had stands (or covers it), and the step says which.
            next_step = _step(self._lockout_standing(spec, a, now), next_step)
        if SEVERITIES.index(severity) > SEVERITIES.index(a.severity):
            a.severity = severity
            changed = True
        if changed:
            a.summary, a.next_step = act.summary, next_step
            a.updated_at = max(now, a.updated_at)
            self._emit(a)

    def _lockout(self, spec: RuleSpec, a: AlertState, now: datetime) -> str:
        """Issue an emergency lockout for the sign at `now`, unless one already issued at or after it covers it (a
        lockout cuts off only what came before it, whichever alert issued it, open or not); what was done, in words,
        to lead the alert's next step, which must never claim a lockout that was not issued."""
        acc = a.account_id or ""
        held = self._locked.get(acc)
        if held is not None and held[1] >= now:
            return _covered_text(acc, *held)
        if self.profile.controls[spec.control].mode != "enforce" or not acc:
            return _ADVISED.format(control=spec.control, profile=self.profile.name, account=acc) if acc else ""
        n = sum(1 for x in self.lockouts if x.alert_id == a.id)
        lid = f"lk-{a.id[3:]}-{n}"
        self._locked[acc] = (lid, now)
        self.lockouts.append(
            LockoutCommand(
                id=lid,
                account_id=acc,
                alert_id=a.id,
                issued_at=now,
                reason=a.summary,
                actions=LOCKOUT_ACTIONS,
                notify=LOCKOUT_NOTIFY,
            )
        )
        return (
            f"Emergency lockout {lid} issued for {acc} at {stamp(now)}: the executor ends every session, rotates "
            "the credential and removes admins not in the register, and the manager, IT security and the comms team "
            "are told."
        )

    def _lockout_standing(self, spec: RuleSpec, a: AlertState, now: datetime) -> str:
        """The lockout an open alert's later sign joins, in words: the account's latest one, or none yet (advisory)."""
        acc = a.account_id or ""
        held = self._locked.get(acc)
        if held is None:
            return self._lockout(spec, a, now)
        lid, at = held
        if at >= now:
            return _covered_text(acc, lid, at)
        return f"Emergency lockout {lid}, the latest for {acc}, was issued at {stamp(at)}; this sign joins it."

    def _schedule(self, at: datetime, aid: str, control: str, key: str) -> None:
        timers = self._timers
        heapq.heappush(timers, (at, aid, control, key))
        if len(timers) > self._timers_limit:
            self._compact_timers()

    def _compact_timers(self) -> None:
        """Drop the copies of deadlines set again while pending, so the heap follows the deadlines, not the events:
        a rule booking the same deadline on every event (a leaver's duty on each of their sign-ins) would otherwise
        add one entry per event until it falls due. A sorted list is a heap; the order they fire in is the same."""
        self._timers[:] = sorted(set(self._timers))
        self._timers_limit = max(_TIMERS_MIN_LIMIT, 2 * len(self._timers))

    def _fire_timers(self, t: datetime, *, inclusive: bool) -> None:
        timers = self._timers
        pop = heapq.heappop
        while timers and (timers[0][0] < t or (inclusive and timers[0][0] == t)):
            tk = pop(timers)
            # Copies of a deadline set again before it fired are next in the heap: it fires once. A set of pending
            # deadlines did this as they were set, for 420 bytes an account; copies are rare (63 of 12,766 set in
            # the 200k mix and 40 days after it), and go here or when the heap is cleaned (_compact_timers).
            while timers and timers[0] == tk:
                pop(timers)
            at, aid, control, key = tk
            if self.clock is None or at > self.clock:
                self.clock = at
            if not control:
                self._escalate(key, at)
                continue
            spec = RULES[control]
            self._run_rules(Tick(at, key, aid), "tick", self._account(aid), only=spec)

    def _escalate(self, aid_: str, at: datetime) -> None:
        a = self.alerts.get(aid_)
        if a is None or a.status == "resolved" or a.escalate_at is None or a.escalate_at > at:
            return
        a.escalate_at = None
        if a.severity != "critical":
            a.severity, a.updated_at = "critical", at
            self._emit(a)

    def _emit(self, a: AlertState) -> None:
        if self.on_alert is not None:
            self.on_alert(self.alert(a))

    def _prune_seen(self, t: datetime) -> None:
        """Forget event ids older than the dedup horizon, so memory follows the state, not the input.

        Called by `_process` once a horizon has passed since the last pruning (or at the first event).
        """
        if self._seen_pruned_at is None:
            self._seen_pruned_at = t
            return
        cutoff = t - self.dedup_horizon
        self._seen = {k: v for k, v in self._seen.items() if v >= cutoff}
        self._seen_pruned_at = t


class _StatePickler(pickle.Pickler):
    """Pickles a state with each datetime as its index in a table of the distinct ones (`times`).

    Pickled as itself, a datetime came back made from a bytes object and a tuple that the unpickler keeps in its
    memo to the end of the load; freed then among the live state, they were holes a restored engine kept resident
    (bench/README, "State"). From the table, a datetime is made once for all its equal copies (the same instant,
    fold and time zone object)."""

    def __init__(self, file: IO[bytes]) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.times: list[tuple[bytes, tzinfo | None]] = []
        self._index: dict[tuple[bytes, int], int] = {}

    def persistent_id(self, obj: Any) -> int | None:
        if type(obj) is not datetime:
            return None
        tz = obj.tzinfo
        # its own pickled state, fields and fold (protocol 4's form: __reduce__'s leaves the fold out)
        fields = cast("bytes", obj.__reduce_ex__(4)[1][0])
        key = (fields, id(tz))
        i = self._index.get(key)
        if i is None:
            i = self._index[key] = len(self.times)
            self.times.append((fields, tz))
        return i


def dumps_state(state: dict[str, Any]) -> bytes:
    """The state pickled, its datetimes as a table ahead of it: the table's states end to end and the runs of one
    time zone, then the state itself, referring to the table by index (`_StatePickler`)."""
    body = io.BytesIO()
    pickler = _StatePickler(body)
    pickler.dump(state)
    runs = [(group[0][1], len(group)) for group in (list(g) for _, g in groupby(pickler.times, key=_tz_id))]
    table = pickle.dumps((b"".join(s for s, _ in pickler.times), runs), protocol=pickle.HIGHEST_PROTOCOL)
    return table + body.getbuffer()


def loads_state(data: bytes) -> dict[str, Any]:
    """`dumps_state` undone."""
    stream = io.BytesIO(data)
    states, runs = pickle.load(stream)
    size = _DATETIME_STATE_SIZE
    if len(states) % size or len(states) // size != sum(n for _, n in runs):
        raise ValueError("snapshot damaged: the table of times does not match")
    zones = chain.from_iterable(repeat(tz, n) for tz, n in runs)
    times = [
        _datetime_from_state(states[i : i + size], tz) for i, tz in zip(range(0, len(states), size), zones, strict=True)
    ]
    unpickler = pickle.Unpickler(stream)
    unpickler.persistent_load = times.__getitem__  # type: ignore[method-assign]
    state: dict[str, Any] = unpickler.load()
    return state


def _tz_id(time: tuple[bytes, tzinfo | None]) -> int:
    return id(time[1])


_DATETIME_STATE_SIZE = 10  # bytes of a datetime's pickled state (its fields; the fold in the month's high bit)
# datetime(state, tzinfo) is how pickle remakes one; typeshed does not know that form
_datetime_from_state: Callable[[bytes, tzinfo | None], datetime] = datetime  # type: ignore[assignment]


def _pack_seen(seen: dict[bytes, datetime]) -> tuple[bytes, list[tuple[datetime, int]]]:
    """The duplicate-event memory as its digests end to end, in event-time order, and the runs of equal times.

    Pickled as a dict it was the slowest part of a restore (a memo entry and a datetime per event); events
    often share a time (a register imported at once, a burst within a second), and a run shares one datetime.
    """
    items = sorted(seen.items(), key=itemgetter(1))
    runs = [(t, sum(1 for _ in group)) for t, group in groupby(t for _, t in items)]
    return b"".join(k for k, _ in items), runs


def _unpack_seen(digests: bytes, runs: list[tuple[datetime, int]]) -> dict[bytes, datetime]:
    """`_pack_seen` undone."""
    size = _DIGEST_SIZE
    if len(digests) % size or len(digests) // size != sum(n for _, n in runs):
        raise ValueError("duplicate-event memory damaged: digests and times do not match")
    keys = [digests[i : i + size] for i in range(0, len(digests), size)]
    return dict(zip(keys, chain.from_iterable(repeat(t, n) for t, n in runs), strict=True))
