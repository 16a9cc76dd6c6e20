"""Event-time alignment of the input partitions (pure; no Kafka).

When a worker reads a backlog, one input partition can run days of event time ahead of another (sign-ins
produced first, the register later; a sparse topic read in one fetch). The engines only keep their exact
order while the events they are fed are out of order by less than the lateness, so the router merges its
input partitions ("lanes") by event time before it forwards anything:

- every message read is held in its lane, in offset order;
- the *floor* is the lowest event time read so far among the lanes that may still yield a message: those
  holding messages, and those not yet read to their high-water mark; a lane that may yield but whose time is
  unknown (nothing read yet, or its high-water mark not known yet) makes the floor unknown, and nothing is
  forwarded. A lane read to its end (idle) does not hold the others back;
- a message is forwarded once it is at the head of its lane and its time is at most floor + margin, in event
  time order across lanes; a message without an event time (a dead letter) goes as soon as it is at the head;
- lanes still holding messages, or read beyond floor + margin, should not be fetched from (paused) once they
  hold `hold` messages: what is held in memory is bounded by that, one batch the router reads and one fetch.

Why this is exact: when an event at time T is forwarded, every lane X that may still yield has read some
event at or after T - margin. A later event f from X is then no earlier than that minus X's own disorder (how
far an event of X comes before one read earlier from X; for events published in time order that is 0). So f
is no earlier than T - (margin + disorder): within the engine's reorder buffer when margin + disorder is at
most the lateness. With margin 0 that is the condition `monitor replay` needs of the same events in a file
(each lane is a subsequence of the file, so its disorder is at most the file's). Not covered: a lane that was
idle and receives new events later than others (a live feed's own skew: the lateness is there for that).

A lane counts as read to its end only where that end was *confirmed* after the message to be forwarded was read:
the router asks the broker for the lane's end offset (not the client's cached high-water mark, which goes stale
while a partition is paused or has records buffered) and notes how many messages had been read when it asked
(`Aligner.reads`). Every message of the lane published before the forwarded one was published before that
question, so it is below the confirmed end: read already, or the lane may still yield. Without this, a paused lane
whose held messages had gone looked idle on its stale end, and the others ran ahead of its unread events.

Several workers: each router aligns only the input partitions it holds, so one may forward days of event time
ahead of another. Each therefore sends every work partition its watermark (`watermark`): the time before which
it will forward nothing more. An engine releases events only below the lowest watermark over all input
partitions (streams/partition.py), so the merged work log is folded in event-time order whatever the skew. A
watermark is a promise about every lane, idle ones too: while a held message waits for an idle lane's end to be
confirmed, the watermark stays at what that lane may still bring (the newest time read when its end was last
confirmed; unknown for a lane whose end was never confirmed, such as one just gained in a rebalance).
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")

UNKNOWN = datetime.min.replace(tzinfo=UTC)  # the floor when a lane that may yield has no known time


@dataclass(slots=True)
class Lane(Generic[T]):
    """One input partition as the router sees it."""

    start: int | None = None  # offset reading starts from (committed or earliest), while nothing is read
    read: int | None = None  # offset after the last message read
    end: int | None = None  # high-water mark: offset after the last message in the partition
    time: datetime | None = None  # latest event time read
    confirmed: int = -1  # `Aligner.reads` when `end` was last confirmed by the broker (-1: never)
    confirmed_newest: datetime | None = None  # `Aligner.newest` then: no later event of the lane is earlier
    seq: int = 0  # `Aligner.reads` when the latest message of this lane was read (0: none yet)
    held: deque[tuple[datetime | None, int, T]] = field(default_factory=deque)  # (time, read number, message)

    def may_yield(self) -> bool:
        """True while the lane holds messages or is not known to be read to its end."""
        if self.held:
            return True
        position = self.read if self.read is not None else self.start
        return position is None or self.end is None or position < self.end


@dataclass(frozen=True, slots=True)
class Plan(Generic[K]):
    limit: datetime | None  # the latest event time that may be forwarded now; None: any
    pause: frozenset[K]  # lanes not to fetch from


def plan(lanes: Mapping[K, Lane[T]], margin: timedelta = timedelta(0), hold: int = 0) -> Plan[K]:
    """How far events may be forwarded now if every lane's end were fresh, and which lanes to pause: those
    holding messages or read ahead of the limit, once they hold at least `hold` messages (pausing bounds what is
    held in memory; in a live feed, pausing and resuming a partition for every message held a moment is waste)."""
    floor = _floor(lanes.values())
    if floor is None:  # every lane is read to its end
        return Plan(None, frozenset(k for k, lane in lanes.items() if lane.held and len(lane.held) >= hold))
    limit = floor if floor == UNKNOWN else floor + margin
    pause = frozenset(
        k for k, lane in lanes.items()
        if (lane.held or (lane.time is not None and lane.time > limit)) and len(lane.held) >= hold
    )  # fmt: skip
    return Plan(limit, pause)


def _floor(lanes: Iterable[Lane[T]]) -> datetime | None:
    """The lowest event time of the lanes that may yield (UNKNOWN if one has none), or None if none may yield."""
    floor: datetime | None = None
    for lane in lanes:
        if lane.may_yield():
            t = lane.time if lane.time is not None else UNKNOWN
            if floor is None or t < floor:
                floor = t
    return floor


class Aligner(Generic[K, T]):
    """The lanes of the input partitions held now, their held messages, and what may be forwarded."""

    def __init__(self, margin: timedelta = timedelta(0), hold: int = 0) -> None:
        self.margin = margin
        self.hold = hold  # messages a lane may hold before it is paused (see `plan`)
        self.lanes: dict[K, Lane[T]] = {}
        self.reads = 0  # messages read so far: the number of the latest one
        self.newest: datetime | None = None  # the latest event time read so far, from any lane

    def assign(self, keys: Iterable[K]) -> None:
        """The partitions held now: new ones start unknown, ones no longer held are dropped with what they held."""
        keys = set(keys)
        for k in [k for k in self.lanes if k not in keys]:
            del self.lanes[k]
        for k in keys:
            self.lanes.setdefault(k, Lane())

    def read(self, key: K, offset: int, time: datetime | None, item: T) -> None:
        """A message read from a lane (time None: it has no event time; it does not move the lane's time)."""
        lane = self.lanes.get(key)
        if lane is None:
            lane = self.lanes[key] = Lane()
        self.reads += 1
        lane.seq = self.reads
        lane.held.append((time, self.reads, item))
        lane.read = offset + 1
        if time is not None and (lane.time is None or time > lane.time):
            lane.time = time
        if time is not None and (self.newest is None or time > self.newest):
            self.newest = time

    def saw_end(self, key: K, end: int) -> None:
        """A lane's end as the client last saw it (its cached high-water mark). An end only grows: a cached one
        older than the end the broker confirmed must not make a lane that may still yield look idle again."""
        lane = self.lanes.get(key)
        if lane is not None and (lane.end is None or end > lane.end):
            lane.end = end

    def to_confirm(self) -> list[K]:
        """Lanes read to their end whose end must be asked of the broker again: before held messages may pass them,
        and once after each read, so the watermark (`watermark`) no longer waits on them."""
        held = any(lane.held for lane in self.lanes.values())
        return [
            k for k, lane in self.lanes.items()
            if not lane.may_yield() and (lane.confirmed < lane.seq or (held and lane.confirmed < self.reads))
        ]  # fmt: skip

    def confirm(self, ends: Mapping[K, int], seq: int, newest: datetime | None = None) -> None:
        """End offsets the broker gave for a question asked when `seq` messages had been read and `newest` was the
        latest event time read (None: `self.newest` if nothing was read since, else not known)."""
        if newest is None and seq == self.reads:
            newest = self.newest
        for k, end in ends.items():
            lane = self.lanes.get(k)
            if lane is None:
                continue
            self.saw_end(k, end)
            if seq >= lane.confirmed:
                lane.confirmed, lane.confirmed_newest = seq, newest

    def held(self) -> int:
        return sum(len(lane.held) for lane in self.lanes.values())

    def release(self) -> list[T]:
        """The held messages that may be forwarded now, in event time order across lanes, offset order within."""
        out: list[T] = []
        while True:  # forwarding a lane's last held message may lift the floor: go again until nothing moves
            more = self._release_once()
            if not more:
                return out
            out.extend(more)

    def _release_once(self) -> list[T]:
        # One pass over the lanes (the router calls this for every batch it reads): the floor as `plan` finds
        # it, the lanes read to their end (each holds back the messages read after its end was last confirmed),
        # and the head of every lane holding messages.
        floor: datetime | None = None
        idle: list[tuple[int, datetime]] = []
        heads: list[tuple[datetime, int, K]] = []
        for k, lane in self.lanes.items():
            if lane.may_yield():
                t = lane.time if lane.time is not None else UNKNOWN
                if floor is None or t < floor:
                    floor = t
                if lane.held:
                    heads.append((lane.held[0][0] or UNKNOWN, len(heads), k))
            else:
                idle.append((lane.confirmed, self._limit(lane.time)))
        if not heads:
            return []
        limit = None if floor is None else floor if floor == UNKNOWN else floor + self.margin  # if ends were fresh
        heapq.heapify(heads)
        n = len(heads)
        out: list[T] = []
        while heads:
            t, _, k = heads[0]
            held = self.lanes[k].held
            seq = held[0][1]
            if limit is not None and t > limit:
                break  # every other head is at or after it
            if t != UNKNOWN and any(confirmed < seq and t > lim for confirmed, lim in idle):
                break  # an idle lane's end is older than this message: ask the broker first (`to_confirm`)
            out.append(held.popleft()[2])
            if held:
                heapq.heapreplace(heads, (held[0][0] or UNKNOWN, n, k))
                n += 1
            else:
                heapq.heappop(heads)
        return out

    def _limit(self, time: datetime | None) -> datetime:
        return UNKNOWN if time is None else time + self.margin

    def pause(self) -> frozenset[K]:
        """Lanes not to fetch from now (what waits only for an end to be confirmed is held a moment, not paused)."""
        return plan(self.lanes, self.margin, self.hold).pause


def pause_changes(assigned: Iterable[K], paused: Iterable[K], want: Iterable[K],
                  mine: Callable[[K], bool]) -> tuple[list[K], list[K]]:  # fmt: skip
    """What to pause and resume in the client so that, of the partitions assigned now, exactly `want` are paused.

    Computed against the client's own state at the moment it is applied, not against what was last asked for: a
    rebalance between the two gives fresh, unpaused partitions, or leaves a pause asked for before it in place.
    `mine` says which paused partitions this router may resume (its input partitions).
    """
    wanted, now = set(want), set(paused)
    return ([k for k in assigned if k in wanted and k not in now],
            [k for k in now if mine(k) and k not in wanted])  # fmt: skip


def caught_up(lanes: Mapping[K, Lane[T]]) -> bool:
    """True when no input partition held may still yield: nothing held, each read to its known high-water mark.

    Holding no input partition at all counts as caught up (the other workers' routers feed this one's partitions).
    """
    return not any(lane.may_yield() for lane in lanes.values())


def watermark(lanes: Mapping[K, Lane[T]], lateness: timedelta, now: datetime | None = None) -> datetime | None:
    """The router's watermark: events earlier than it will not be forwarded from these lanes any more (except
    late ones), or None while that is not known (a lane that may yield, or whose end is unconfirmed, has no event
    time yet; or no lanes).

    Engines take the lowest watermark of all input partitions, whichever router holds them (streams/partition.py),
    so several workers are as exact as one. Below it: every held message, every lane that may still yield (a lane
    keeps its event order within the lateness), every idle lane whose end was not confirmed since it was last
    read (its end may be stale), and, for an idle lane whose end was confirmed before a held message was read, the
    latest event time read when it was confirmed. What such a lane gained since was published after that, but maybe
    before the held message: the message waits for the lane's end to be confirmed again (`Aligner.release`), and the
    watermark must not pass what the lane may still bring either (a worker reading a feed as it is published took
    a device approval late when it did). Once the router is caught up and settled, nothing it knows of is still to
    come: the watermark is then the latest event time it read, or the wall clock (`now`) if later, less the
    lateness: a new event is at most that late. So one router releases what a replay's reorder buffer of that
    lateness would (events at the newest time wait for a later one, or for the wall clock).
    """
    if not lanes:
        return None
    bound: datetime | None = None
    top: datetime | None = None
    held_last = max((lane.held[-1][1] for lane in lanes.values() if lane.held), default=0)  # its read number
    for lane in lanes.values():
        t = lane.time
        if t is not None and (top is None or t > top):
            top = t
        for held_time, _, _ in lane.held:
            if held_time is not None and (bound is None or held_time < bound):
                bound = held_time
        if lane.may_yield() or lane.confirmed < lane.seq:
            low = t  # its later events are no earlier than the latest it read
        elif lane.confirmed < held_last:
            # Read to an end confirmed before a held message was read: it may still yield an event published before
            # that message, however far behind it, but not before what had been read when its end was confirmed.
            low = lane.confirmed_newest if lane.confirmed_newest is not None else t
        else:
            continue
        if low is None:
            return None  # no event time read from it (or nothing read when its end was confirmed): any may come
        if bound is None or low < bound:
            bound = low
    if bound is None:  # caught up and settled
        if now is not None and (top is None or now > top):
            top = now
        if top is None:
            return None
        bound = top  # as a replay's reorder buffer: the events before the newest read, less the lateness, go
    return bound - lateness
