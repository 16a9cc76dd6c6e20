"""One work partition's engine: fed in log order, rebuilt from the log after a restart or rebalance.

Its events are released by watermarks, not by a reorder buffer of its own: each router sends every work partition
its watermark for the input partitions it holds (streams/alignment.py `watermark`), and the engine moves event time
to the lowest watermark over all input partitions. Several routers then feed it as exactly as one: a router that
runs ahead in event time does not get its events processed before a slower router's earlier ones. The watermarks
are in the log, so a rebuild folds them like everything else and reaches the same state.
"""

from __future__ import annotations

import contextlib
import pickle
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from monitor.engine import Engine, EngineError
from monitor.gcpause import collector_paused
from monitor.policy import Params, Profile
from schemas.alerts import Alert, LockoutCommand
from schemas.events import parse_event
from streams.routing import (
    BROADCAST,
    CONTROL_PREFIX,
    parse_advance,
    parse_alert_action,
    parse_batch,
    parse_watermark,
    partition_of,
)

_TICK = timedelta(microseconds=1)  # the resolution of event times


@dataclass(slots=True)
class Outputs:
    alerts: list[Alert] = field(default_factory=list)
    lockouts: list[LockoutCommand] = field(default_factory=list)
    event_types: list[str] = field(default_factory=list)  # of the events the message carried, in order
    # of those, the ones this partition counts for the deployment: an account's event where the account is owned,
    # one about people or incidents (sent to every partition) on partition 0 only
    counted_types: list[str] = field(default_factory=list)
    rule_errors: dict[str, int] = field(default_factory=dict)
    caused_at: list[float] = field(default_factory=list)  # when each alert's causing event was sent (epoch s)
    late: timedelta | None = None  # how far behind the engine's clock an event came (judged late), at most
    late_events: int = 0  # how many of the message's events came behind it
    late_counted: int = 0  # of those, the ones this partition counts for the deployment (as counted_types)
    beyond_memory: list[str] = field(default_factory=list)  # ids of events judged though too old to tell from copies


class PartitionEngine:
    """The engine for the accounts one partition owns; its state is the fold of the partition's messages."""

    def __init__(self, profile: Profile, params: Params, partition: int, partitions: int,
                 lanes: Collection[str]) -> None:  # fmt: skip
        self.partition = partition
        self.owns = lambda aid: partition_of(aid, partitions) == partition  # the accounts whose state is kept here
        self.lanes = frozenset(lanes)  # the input partitions whose watermarks release events
        self.marks: dict[str, datetime] = {}  # input partition -> the highest watermark a router gave for it
        self.released: datetime | None = None  # the lowest of the marks once every input partition has one
        self._pending: Outputs = Outputs()
        self._stamps: dict[tuple[str, str], tuple[float, datetime]] = {}  # buffered events: sent at, event time
        self.engine = Engine(
            profile,
            params=params,
            lateness=None,
            on_alert=self._collect,
            owns=self.owns,
        )
        self._lockouts_sent = 0
        self.next_offset = 0  # the offset of the next message this engine expects
        self.units = 0  # work folded by this object: an event or a control message counts one (not in snapshots)

    def _collect(self, alert: Alert) -> None:
        self._pending.alerts.append(alert)
        cause = self.engine.current
        if cause is not None:
            stamp = self._stamps.get((cause.source, cause.id))
            if stamp is not None:
                self._pending.caused_at.append(stamp[0])

    def apply(self, raw: bytes, offset: int, sent_at: float | None = None) -> Outputs:
        """Fold one work message (an event, a batch of events, an advance, a watermark or someone's action on an
        alert); return what it produced."""
        stats = self.engine.stats
        errors_before = dict(stats.rule_errors) if stats.rule_errors else None
        out = self._pending
        if raw.startswith(CONTROL_PREFIX):
            self._control(raw, sent_at, out)
        elif (batch := parse_batch(raw)) is not None:
            for event, sent in batch:
                self._submit(event, sent, out)
        else:
            self._submit(raw, sent_at, out)
        if stats.rule_errors and stats.rule_errors != errors_before:
            before = errors_before or {}
            out.rule_errors = {c: n - before.get(c, 0) for c, n in stats.rule_errors.items() if n != before.get(c, 0)}
        self.next_offset = offset + 1
        self.units += max(1, len(out.event_types))
        out.lockouts.extend(self.engine.lockouts[self._lockouts_sent :])
        self._lockouts_sent = len(self.engine.lockouts)
        self._pending = Outputs()
        return out

    def _control(self, raw: bytes, sent_at: float | None, out: Outputs) -> None:
        """An advance, a watermark or someone's action on an alert (anything else is judged as an event)."""
        if (until := parse_advance(raw)) is not None:
            self.engine.advance(until)
        elif (mark := parse_watermark(raw)) is not None:
            self._mark(mark.time, mark.lanes)
        elif (action := parse_alert_action(raw)) is not None:
            self.engine.current = None  # no event caused the alert's new version
            with contextlib.suppress(EngineError):  # not this partition's alert, or refused (acking a resolved one)
                self.engine.act(action.kind, action.alert_id, action.by, action.at, action.note)
        else:
            self._submit(raw, sent_at, out)

    def _submit(self, raw: bytes, sent_at: float | None, out: Outputs) -> None:
        stats = self.engine.stats
        ev = parse_event(raw)
        out.event_types.append(ev.type)
        # Counted once for the deployment, where the router sends it (streams/routing.py `route`): on partition 0
        # for one sent to every partition, else on the account's owner.
        counts = self.partition == 0 if ev.type in BROADCAST else self.owns(ev.data.account_id)
        clock, late = self.engine.clock, stats.late
        if sent_at:
            self._stamps[(ev.source, ev.id)] = (sent_at, ev.time)
        remembered = self.engine.remembers(ev)
        if self.engine.submit(ev) and counts:  # a duplicate is not counted
            out.counted_types.append(ev.type)
            if not remembered:  # judged all the same: it may be new, and nothing is dropped
                out.beyond_memory.append(ev.id)
        if stats.late != late and clock is not None:  # a duplicate is dropped first, so it is never late
            behind = clock - ev.time
            out.late = behind if out.late is None else max(out.late, behind)
            out.late_events += 1
            out.late_counted += counts
        if len(self._stamps) > 10_000 and self.engine.clock is not None:
            clock = self.engine.clock  # events at or before the clock have been processed
            self._stamps = {k: v for k, v in self._stamps.items() if v[1] > clock}

    def _mark(self, time: datetime, lanes: Iterable[str]) -> None:
        marks = self.marks
        for lane in lanes:
            if lane in self.lanes and (lane not in marks or time > marks[lane]):
                marks[lane] = time
        if len(marks) < len(self.lanes):
            return  # an input partition no router has spoken for yet: its events may be the earliest
        low = min(marks.values())
        if self.released is None or low > self.released:
            self.released = low
            self.engine.advance(low - _TICK)  # a watermark is exclusive: events at it may still come

    def waiting_for(self) -> list[str]:
        """Input partitions with no watermark yet: nothing is released until each has one (for /health)."""
        return sorted(self.lanes - self.marks.keys())

    def rebuild(self, messages: Iterable[tuple[int, bytes]], max_events: int | None = None) -> int:
        """Fold already-processed messages without emitting anything again; returns how many messages. With
        `max_events`, stops once that many events were folded (the rest of an iterator stays for the next call)."""
        n = 0
        stop = None if max_events is None else self.units + max_events
        with collector_paused():
            for offset, raw in messages:
                self.apply(raw, offset)
                n += 1
                if stop is not None and self.units >= stop:
                    break
        return n

    def snapshot(self) -> bytes:
        """The partition's folded state (the engine's, and what this wrapper counts) as bytes."""
        with collector_paused():
            state = {"engine": self.engine.snapshot(), "next_offset": self.next_offset,
                     "lockouts_sent": self._lockouts_sent, "marks": self.marks, "released": self.released}  # fmt: skip
            return pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)

    def restore(self, blob: bytes) -> None:
        """Take the state of `snapshot()` (only ever what this code wrote to its own store)."""
        with collector_paused():
            state = pickle.loads(blob)
            self.engine.restore(state["engine"])
        self.next_offset = int(state["next_offset"])
        self._lockouts_sent = int(state["lockouts_sent"])
        self.marks = dict(state["marks"])
        self.released = state["released"]
        self._stamps = {}
        self._pending = Outputs()
