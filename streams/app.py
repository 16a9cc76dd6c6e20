"""The Faust app: route input events to work partitions, run the engine per partition, send the results.

Agents are thin: decode, call the engine, produce. Both run with concurrency 1 (at-least-once, and order).
A partition's engine state is the fold of its work-topic messages: a worker that gains a partition (start,
restart, rebalance) rebuilds the engine by reading that partition from the beginning up to the first offset
it is handed, emitting nothing; alert ids derive from the facts, so anything re-emitted after a crash carries
the same ids and the compacted alerts topic keeps one alert per id.

The router merges its input partitions by event time (streams/alignment.py): a message is held, unacked, until
no input partition that may still yield is behind it, and partitions running ahead are paused, so what it
forwards is in event-time order. Each router also sends every work partition its watermark for the input
partitions it holds, and engines release events only up to the lowest watermark of all input partitions
(streams/partition.py), so several workers are as exact as one.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Set
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import faust
from aiokafka import AIOKafkaConsumer, TopicPartition  # type: ignore[import-untyped]
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from monitor.directory import load_organisation, organisation_params
from monitor.durations import format_duration
from monitor.gcpause import collector_paused, thaw
from monitor.policy import load_profile
from monitor.wording import counted
from streams import metrics
from streams.alignment import UNKNOWN, Aligner, caught_up, pause_changes, plan, watermark
from streams.brokerwatch import CHECK_INTERVAL_S, BrokerWatch
from streams.logfilter import limit_repeats
from streams.partition import PartitionEngine
from streams.routing import DeadLetter, Routed, arrival, lane_name, redact, route, watermark_message, work_messages
from streams.settings import StreamSettings
from streams.sideclient import SideClient
from streams.snapshots import SnapshotStore
from streams.topics import ALERTS, DEAD_LETTER, INPUTS, LOCKOUTS, WORK

log = logging.getLogger("streams")

ALIGN_INTERVAL_S = 0.5  # how often the router looks at idle input partitions (high-water marks, start offsets)
CONFIRM_INTERVAL_S = 0.05  # how often the router may ask the broker for the ends of idle input partitions
WATERMARK_INTERVAL_S = 0.1  # how often the router may send its watermark (each costs a message per work partition)
HOLD_BEFORE_PAUSE = 200  # messages an input partition may hold before the router pauses it (streams/alignment.py)
EARLIEST_REFRESH_S = 5.0  # how long a partition's earliest offset is trusted while nothing is read from it
REBUILD_BATCH = 5000  # work messages a rebuild asks the broker for at once
REBUILD_EVENTS = 5000  # events a rebuild folds between two turns of the event loop (about 0.3 s)
TAKE_MAX = 1000  # input messages the router reads before it releases what they free
TAKE_WITHIN_S = 0.01  # how long it waits for a batch to fill (a live feed's messages wait this long at most);
# the wait wakes an idle worker 100 times a second: 6% of a core idle against 2% reading one by one, where 0.05 s
# would cost 3% and add about 0.07 s to the latency (bench/README, "Through Kafka", session 20)
OFFSETS_TIMEOUT_S = 10.0  # how long the router waits for the broker to say where partitions end or begin


class Runtime:
    """The engines of the work partitions this worker holds, and their rebuilding."""

    def __init__(self, settings: StreamSettings) -> None:
        self.settings = settings
        self.profile = load_profile(settings.policy)
        # The register's people and accounts arrive as directory.* events; the file gives the organisation.
        self.params = (
            organisation_params(self.profile.parameters, load_organisation(settings.directory))
            if settings.directory
            else self.profile.parameters
        )
        self.engines: dict[int, PartitionEngine] = {}
        self.started = time.time()
        self.snapshots = SnapshotStore(settings, settings.topic(WORK)) if settings.snapshot_every > 0 else None
        self.since_snapshot: dict[int, int] = {}  # partition -> work messages folded since its last snapshot
        self.rebuilt: dict[int, dict[str, Any]] = {}  # partition -> how its engine was last rebuilt (for /health)

    async def engine_for(self, partition: int, offset: int) -> PartitionEngine:
        """The partition's engine, rebuilt when this worker has not been folding it: from the newest usable
        snapshot and the work log after it, else from the whole log."""
        pe = self.engines.get(partition)
        if pe is not None and pe.next_offset == offset:
            return pe
        if pe is not None:
            self._drop({partition})
        pe = self._new_engine(partition)
        if offset > 0:
            started, units = time.perf_counter(), pe.units
            start, snap = 0, self.snapshots.best(partition, offset) if self.snapshots else None
            # Other tasks' garbage waits for the rebuild, and the state it builds is frozen, so that collections
            # after it do not walk it (the 8 restores of a 100k-account worker, bench/README "Recovery").
            with collector_paused(freeze=True):
                if snap is not None:
                    try:
                        pe.restore(snap.blob)
                        start = snap.offset
                        metrics.RESTORES.inc()
                    except Exception as exc:  # a damaged or foreign file: the log is the truth, fold it all
                        log.warning("snapshot %s not usable (%r): rebuilding partition %d from the log", snap.path,
                                    exc, partition)  # fmt: skip
                        pe, start, snap = self._new_engine(partition), 0, None
                n = await self._fold_log(pe, start, offset) if start < offset else 0
            pe.next_offset = offset
            took = time.perf_counter() - started
            log.info("rebuilt partition %d: %s, then %d messages [%d, %d) of the work log, in %.2fs", partition,
                     f"snapshot at {start}" if snap else "no snapshot", n, start, offset, took)  # fmt: skip
            metrics.REBUILDS.inc()
            metrics.REBUILD_MESSAGES.inc(n)
            self.rebuilt[partition] = {"snapshot_offset": start if snap else None, "messages": n, "offset": offset,
                                       "seconds": round(took, 3)}  # fmt: skip
            if self.snapshots is not None and pe.units - units >= self.settings.snapshot_every:
                self._write_snapshot(pe)  # the next gain of this partition starts from here
        self.since_snapshot[partition] = 0
        self.engines[partition] = pe
        return pe

    def _new_engine(self, partition: int) -> PartitionEngine:
        s = self.settings
        lanes = [lane_name(s.topic(t), p) for t in INPUTS for p in range(s.partitions)]
        return PartitionEngine(self.profile, self.params, partition, s.partitions, lanes)

    def folded(self, pe: PartitionEngine, units: int) -> None:
        """One work message of the partition was folded and its outputs sent: snapshot every N events and control
        messages (`PartitionEngine.units`; a batch counts its events, so a snapshot bounds the events a rebuild folds).

        Called only after the outputs were sent, so a snapshot at offset o+1 is used only by a worker handed an
        offset past o, which means message o was committed and its outputs are out.
        """
        if self.snapshots is None:
            return
        n = self.since_snapshot.get(pe.partition, 0) + units
        self.since_snapshot[pe.partition] = n
        if n >= self.settings.snapshot_every:
            self._write_snapshot(pe)

    def _write_snapshot(self, pe: PartitionEngine) -> None:
        assert self.snapshots is not None
        started = time.perf_counter()
        try:
            blob = pe.snapshot()
            self.snapshots.write(pe.partition, pe.next_offset, blob)
        except Exception:  # a full disk must not stop the stream: the log still has everything
            log.exception("snapshot of partition %d at %d failed", pe.partition, pe.next_offset)
            return
        finally:
            self.since_snapshot[pe.partition] = 0
        metrics.SNAPSHOTS.inc()
        log.info("snapshot of partition %d at offset %d: %d bytes in %.2fs", pe.partition, pe.next_offset, len(blob),
                 time.perf_counter() - started)  # fmt: skip

    async def _fold_log(self, pe: PartitionEngine, start: int, end: int) -> int:
        """Fold messages [start, end) of the engine's work partition into it, a batch at a time as they are read.

        The event loop runs between batches: a rebuild of 400,000 messages takes half a minute (bench/README,
        "Recovery"), and folding them in one go would stop the group heartbeats (the group would take the
        partitions away, and the next owner would rebuild again) and /health for all that time.
        """
        tp = TopicPartition(self.settings.topic(WORK), pe.partition)
        consumer = AIOKafkaConsumer(bootstrap_servers=self.settings.bootstrap, enable_auto_commit=False)
        await consumer.start()
        try:
            consumer.assign([tp])
            consumer.seek(tp, start)
            n, last = 0, start - 1
            while last < end - 1:
                batch = await consumer.getmany(tp, timeout_ms=1000, max_records=REBUILD_BATCH)
                records = batch.get(tp, [])
                todo = ((r.offset, r.value) for r in records if start <= r.offset < end and r.value is not None)
                while folded := pe.rebuild(todo, max_events=REBUILD_EVENTS):
                    n += folded
                    await asyncio.sleep(0)  # getmany returns fetched records without yielding: yield here
                if records:
                    last = records[-1].offset
                elif await consumer.position(tp) >= end:
                    break
            return n
        finally:
            await consumer.stop()

    def forget(self, partitions: set[int]) -> None:
        """Partitions moved to another worker: their engines, and /health's word on how they were rebuilt."""
        self._drop(partitions)
        for p in partitions:
            self.since_snapshot.pop(p, None)
            self.rebuilt.pop(p, None)

    def _drop(self, partitions: set[int]) -> None:
        """Let go of the partitions' engines; their state was frozen when built, so thaw it to be freed."""
        if [p for p in partitions if self.engines.pop(p, None) is not None]:
            thaw()


class _Router:
    """Applies the aligner to the Faust consumer: high-water marks, start offsets, pausing, forwarding, acks.

    Everything that changes the aligner runs under `lock` (the agent and the timer share it), so messages are
    forwarded in one order, one at a time.
    """

    def __init__(self, app: faust.App, aligner: Aligner[Any, tuple[Any, Routed | DeadLetter]],
                 topics: set[str], bootstrap: str) -> None:  # fmt: skip
        self.app, self.aligner, self.topics, self.bootstrap = app, aligner, topics, bootstrap
        self._offsets = SideClient(bootstrap, f"{app.conf.id}-router-offsets", OFFSETS_TIMEOUT_S)
        self.lock = asyncio.Lock()
        self.paused: set[Any] = set()  # input partitions this router paused
        self.earliest: dict[Any, tuple[float, int]] = {}  # tp -> (when asked, earliest offset)
        self.stream: Any = None
        self.forward: Any = None
        self.send: Any = None  # sends one message to every work partition
        self.forwarded = 0  # messages forwarded so far
        self.mark: tuple[datetime, frozenset[Any]] | None = None  # the watermark last sent, and for which lanes
        self.mark_sent_at = 0.0  # when (monotonic)
        self.mark_forwarded = 0  # `forwarded` when it was sent

    async def _ask_offsets(self, tps: list[Any], end: bool) -> dict[Any, int]:
        """End (or beginning) offsets of input partitions, asked on a connection of the router's own.

        Faust's consumer long-polls its fetches (1.5 s, fixed in its aiokafka driver), and the broker answers a
        connection's requests in order, so a question on the consumer's connection waited behind the poll: in a
        live feed every message waited that long for an idle partition's end to be confirmed.
        """
        parts = [TopicPartition(tp.topic, tp.partition) for tp in tps]
        got = await self._offsets.ask(lambda c: c.end_offsets(parts) if end else c.beginning_offsets(parts))
        return {tp: int(got[p]) for tp, p in zip(tps, parts, strict=True) if got.get(p) is not None}

    async def close(self) -> None:
        await self._offsets.close()

    def highwater(self, tp: Any) -> int | None:
        try:
            hw = self.app.consumer.highwater(tp)
        except Exception:  # not assigned (any more), or no fetch response yet
            return None
        return int(hw) if hw is not None else None

    def sync_assignment(self) -> None:
        try:
            assignment = self.app.consumer.assignment()
        except Exception:
            return
        self.assigned({tp for tp in assignment if tp.topic in self.topics})

    def assigned(self, tps: set[Any], fresh: bool = False) -> None:
        self.aligner.assign(tps)
        # a new assignment comes with fresh partition states in the client: nothing is paused there any more
        self.paused = set() if fresh else self.paused & tps
        self.earliest = {tp: v for tp, v in self.earliest.items() if tp in tps}

    def revoked(self, tps: set[Any]) -> None:
        """Held messages of revoked partitions are dropped unacked: their next owner reads them again."""
        self.assigned({tp for tp in self.aligner.lanes if tp not in tps})

    async def _pause(self, pause: Set[Any]) -> None:
        """Make the input partitions paused in the Kafka client exactly `pause` (those of it assigned now).

        Not Faust's pause_partitions: it drops the rest of a fetched batch of a partition paused mid-batch while
        the client's position has already moved past it (Faust then takes the hole for a gap and commits past
        it). aiokafka's pause discards only records it has not handed over yet and fetches them again on resume.
        The client lives in Faust's consumer thread, so it is called there, and the assignment is read there: a
        rebalance can land between this loop's decision and the call, and a partition left paused in the client
        while the router thinks it fetches is never read again (the floor waits on it for ever). So the whole
        wanted state is applied each time, against the assignment at that moment, and each `refresh` applies it again.
        """
        thread = self.app.consumer._thread  # type: ignore[attr-defined]
        client = thread._ensure_consumer()
        want = [TopicPartition(tp.topic, tp.partition) for tp in pause]

        async def apply() -> None:
            to_pause, to_resume = pause_changes(client.assignment(), client.paused(), want,
                                                lambda tp: tp.topic in self.topics)  # fmt: skip
            client.pause(*to_pause)
            client.resume(*to_resume)

        await thread.call_thread(apply)
        self.paused = set(pause)

    async def ack(self, event: Any) -> None:
        await self.stream.ack(event)

    async def release(self, resync: bool = False) -> None:
        """Forward what may go now and pause or resume input partitions to match (resync: apply it to the client
        even if it did not change here, see `_pause`)."""
        released = self.aligner.release()
        if released:
            await self.forward(released)
            self.forwarded += len(released)
        pause = self.aligner.pause()
        if resync or pause != self.paused:
            await self._pause(pause)
        if resync:  # the align timer's turn (every ALIGN_INTERVAL_S), not every batch's
            metrics.HELD.set(self.aligner.held())
            metrics.PAUSED.set(len(self.paused))

    async def confirm(self) -> None:
        """Ask the broker for the end offsets of input partitions read to their end, when held messages wait on
        them (streams/alignment.py): the client's cached high-water marks go stale while a partition is paused."""
        if self.stream is None or self.forward is None:
            return
        wanted = self.aligner.to_confirm()
        if not wanted:
            return
        # every message read so far was published before the question below, the newest of them at `newest`
        seq, newest = self.aligner.reads, self.aligner.newest
        try:
            ends = await self._ask_offsets(wanted, end=True)
        except Exception as exc:  # a broker hiccup or a rebalance: ask again next time
            log.debug("end offsets: %r", exc)
            return
        async with self.lock:
            self.aligner.confirm(ends, seq, newest)
            await self.release()
        metrics.CONFIRMS.inc()

    async def send_mark(self, lateness: timedelta, wall_clock_every: float) -> None:
        """Send every work partition this router's watermark, when it moved (streams/alignment.py `watermark`).

        Once caught up, the watermark follows the wall clock (if `wall_clock_every` > 0) and would move at every
        call, so then it is sent only when something was forwarded since, or `wall_clock_every` seconds passed.
        """
        if self.stream is None or self.send is None:
            return
        async with self.lock:
            lanes = frozenset(self.aligner.lanes)
            now = datetime.now(UTC) if wall_clock_every > 0 else None
            mark = watermark(self.aligner.lanes, lateness, now)
            idle = caught_up(self.aligner.lanes) and not self.aligner.held()
        if mark is None or not lanes:
            return
        last = self.mark
        if last is not None and last[1] == lanes:
            if mark <= last[0]:
                return
            quiet = self.forwarded == self.mark_forwarded
            if idle and quiet and time.monotonic() - self.mark_sent_at < wall_clock_every:
                return
        await self.send(watermark_message(mark, (lane_name(tp.topic, tp.partition) for tp in lanes)))
        self.mark, self.mark_sent_at, self.mark_forwarded = (mark, lanes), time.monotonic(), self.forwarded
        metrics.WATERMARKS.inc()
        if now is not None and not idle:
            metrics.WALL_CLOCK_WAITS.inc()

    def state(self) -> dict[str, Any]:
        """What the router holds back and why: for /health."""
        p = plan(self.aligner.lanes, self.aligner.margin)
        behind = sorted(
            f"{tp.topic}:{tp.partition} start={lane.start} read={lane.read} end={lane.end} held={len(lane.held)}"
            for tp, lane in self.aligner.lanes.items() if lane.may_yield()
        )  # fmt: skip
        return {
            "held": self.aligner.held(),
            "paused": len(self.paused),
            "limit": None if p.limit is None else ("unknown" if p.limit == UNKNOWN else p.limit.isoformat()),
            "behind": behind[:20],
            "watermark": None if self.mark is None else self.mark[0].isoformat(),
        }

    async def refresh(self) -> None:
        """High-water marks of every input partition; where nothing was read yet, the offset reading starts at."""
        if self.stream is None or self.forward is None or self.lock.locked():
            return  # not started, or the agent is at work: it moves things on itself
        self.sync_assignment()
        lanes = self.aligner.lanes
        unread = [tp for tp, lane in lanes.items() if lane.read is None and self.highwater(tp) is not None]
        now = time.monotonic()
        stale = [tp for tp in unread if now - self.earliest.get(tp, (-1e9, 0))[0] > EARLIEST_REFRESH_S]
        if stale:
            try:
                got = await self._ask_offsets(stale, end=False)
            except Exception as exc:  # a broker hiccup: try again next time
                log.debug("earliest offsets: %r", exc)
                got = {}
            for tp, off in got.items():
                self.earliest[tp] = (now, int(off or 0))
        committed = getattr(self.app.consumer, "_committed_offset", {})  # filled when partitions are assigned
        async with self.lock:
            for tp in lanes:
                end = self.highwater(tp)
                if end is not None:
                    self.aligner.saw_end(tp, end)
            for tp in unread:
                held = lanes.get(tp)
                if held is not None and held.read is None and tp in self.earliest:
                    # where the consumer starts: its group's committed offset, else (or if trimmed) the earliest
                    held.start = max(committed.get(tp) or 0, self.earliest[tp][1])
            await self.release(resync=True)


Send = Callable[[str, bytes | None, bytes, int | None, float | None, list[tuple[str, bytes]] | None], Awaitable[None]]


def _sender(app: faust.App) -> Send:
    """Hand a raw message to the app's producer, without the channel, future and sensor layers of Faust's
    `Topic.send` (a tenth of a worker's time in a profile, bench/README). Delivery stays as sure: Faust flushes
    the producer before it commits any offset; a message the producer gives up on is logged and counted."""

    def delivered(topic: str, fut: asyncio.Future[Any]) -> None:
        if not fut.cancelled() and (exc := fut.exception()) is not None:
            metrics.SEND_ERRORS.labels(topic).inc()
            log.error("a message to %s was not delivered: %r", topic, exc)

    async def send(topic: str, key: bytes | None, value: bytes, partition: int | None, timestamp: float | None,
                   headers: list[tuple[str, bytes]] | None) -> None:  # fmt: skip
        fut = cast("asyncio.Future[Any]", await app.producer.send(topic, key, value, partition, timestamp, headers))
        fut.add_done_callback(lambda f: delivered(topic, f))

    return send


def app_options(s: StreamSettings) -> dict[str, Any]:
    """The Faust app's options from the settings (the bench's Faust passthrough runs with the same)."""
    return dict(
        broker=s.broker,
        store="memory://",
        datadir=str(s.data_dir / f"worker-{s.web_port}"),
        web_host=s.web_host,
        web_bind=s.web_host,
        web_port=s.web_port,
        web_enabled=True,
        topic_partitions=s.partitions,
        topic_allow_declare=False,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        producer_linger=s.linger_ms / 1000,
        broker_commit_every=1000,
        broker_commit_interval=1.0,
        # The router holds aligned messages unacked in memory; waiting for every message to be acked before a
        # rebalance or a stop would wait for ever. Offsets of what was forwarded are committed as usual; what is
        # read again after a rebalance is a duplicate the engines drop.
        stream_wait_empty=False,
        broker_session_timeout=s.session_timeout,
        broker_heartbeat_interval=min(3.0, s.session_timeout / 3),
        consumer_group_instance_id=s.instance_id,
    )


def build_app(settings: StreamSettings) -> faust.App:
    """A Faust app wired to the settings' broker and topics."""
    s = settings
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    app = faust.App(s.app_id, **app_options(s))
    raw: dict[str, Any] = {"key_serializer": "raw", "value_serializer": "raw", "internal": False}
    inputs = app.topic(*[s.topic(t) for t in INPUTS], **raw)
    work = app.topic(s.topic(WORK), partitions=s.partitions, **raw)
    work_topic, alerts_topic, lockouts_topic, dead_topic = (s.topic(t) for t in (WORK, ALERTS, LOCKOUTS, DEAD_LETTER))
    send = _sender(app)
    runtime = Runtime(s)
    app.monitor_runtime = runtime  # type: ignore[attr-defined]

    # Event-time alignment of the input partitions (streams/alignment.py): messages are held in memory, unacked,
    # until no input partition that may still yield is behind them; partitions ahead are paused.
    input_names = {s.topic(t) for t in INPUTS}
    aligner: Aligner[Any, tuple[Any, Routed | DeadLetter]] = Aligner(hold=HOLD_BEFORE_PAUSE)
    router = _Router(app, aligner, input_names, s.bootstrap)
    broker = BrokerWatch(s.bootstrap, f"{app.conf.id}-broker-watch")

    async def forward(released: list[tuple[Any, Routed | DeadLetter]]) -> None:
        """Send what the router released: dead letters one by one, the events in one work message per partition
        (streams/routing.py `work_messages`), in release order within each; then ack them all in that order."""
        by_partition: dict[int, list[tuple[bytes, float | None]]] = {}
        for event, outcome in released:
            msg = event.message
            if isinstance(outcome, DeadLetter):
                metrics.REJECTED.labels(metrics.reason_label(outcome.reason)).inc()
                headers = [
                    ("reason", outcome.reason.encode()),
                    ("source-topic", msg.topic.encode()),
                    ("source-partition", str(msg.partition).encode()),
                    ("source-offset", str(msg.offset).encode()),
                ]
                await send(dead_topic, msg.key, redact(msg.value), None, None, headers)
            else:
                for p in outcome.partitions:
                    by_partition.setdefault(p, []).append((msg.value, msg.timestamp))
        for p, events in by_partition.items():
            for value, sent in work_messages(events):
                await send(work_topic, b"", value, p, sent, None)
        # acked only once forwarded, in offset order per partition: the committed offset never passes a held one
        for event, _ in released:
            await router.ack(event)

    router.forward = forward

    async def to_every_partition(value: bytes) -> None:
        for p in range(s.partitions):
            await send(work_topic, b"", value, p, None, None)

    router.send = to_every_partition

    @app.agent(inputs, concurrency=1)
    async def route_events(stream: Any) -> None:
        """Decode each input message; dead-letter what is invalid; send the rest to its partitions, aligned.

        Messages come in batches (up to TAKE_MAX, or what came within TAKE_WITHIN_S) and are released once per
        batch: Faust's per-message iteration and a release per message were most of a router's time (bench/README).
        Acks stay manual: a message is acked once forwarded (`forward`), never by the batch.
        """
        manual = stream.noack()  # noack_take restores the stream's own ack setting when it ends: keep that manual too
        router.stream = manual
        async for batch in manual.noack_take(TAKE_MAX, within=TAKE_WITHIN_S):
            outcomes = [
                route(m.value, s.partitions, arrival(m.timestamp), s.max_ahead) for m in (e.message for e in batch)
            ]
            async with router.lock:
                for event, outcome in zip(batch, outcomes, strict=True):
                    msg = event.message
                    if not app.flow_control.is_active() or msg.generation_id != app.consumer_generation_id:
                        # Read before a rebalance that came while the batch filled: Faust's stream drops such a
                        # message itself when it reads one at a time. Not acked: its partition's owner reads it again.
                        continue
                    if msg.tp not in aligner.lanes:
                        router.sync_assignment()
                    aligner.read(msg.tp, msg.offset, outcome.event.time if isinstance(outcome, Routed) else None,
                                 (event, outcome))  # fmt: skip
                    lane = aligner.lanes[msg.tp]
                    if lane.end is None or msg.offset + 1 >= lane.end:  # an end still ahead needs no fresher one
                        end = router.highwater(msg.tp)
                        if end is not None:
                            aligner.saw_end(msg.tp, end)
                await router.release()

    @app.timer(interval=ALIGN_INTERVAL_S)
    async def align() -> None:
        """Learn the high-water marks and starting offsets of idle input partitions; forward what that frees."""
        await router.refresh()

    @app.timer(interval=CONFIRM_INTERVAL_S)
    async def confirm_ends() -> None:
        """Confirm the ends of idle input partitions that held messages wait on, so they can go."""
        await router.confirm()

    @app.agent(work, concurrency=1)
    async def process(stream: Any) -> None:
        """Fold each work message into its partition's engine and send the alerts and lockouts it made."""
        async for event in stream.events():
            msg = event.message
            pe = await runtime.engine_for(msg.partition, msg.offset)
            before = pe.units
            out = pe.apply(msg.value, msg.offset, msg.timestamp)
            metrics.observe_event(out)
            if out.late:
                log.warning("partition %d offset %d: %s arrived after the reorder buffer had passed its time, the "
                            "furthest %s behind", msg.partition, msg.offset, counted(out.late_events, "event"),
                            out.late)  # fmt: skip
            if out.beyond_memory:
                shown = ", ".join(out.beyond_memory[:5]) + (", ..." if len(out.beyond_memory) > 5 else "")
                log.warning("partition %d offset %d: %s more than %s behind the engine's event time (%s), judged "
                            "late: its duplicate memory no longer covers them, so if they are copies (a file "
                            "published again) they were judged twice; `monitor replay --broker` gives what the "
                            "history gives",
                            msg.partition, msg.offset, counted(len(out.beyond_memory), "event"),
                            format_duration(pe.engine.dedup_horizon), shown)  # fmt: skip
            hw = app.consumer.highwater(event.message.tp)
            if hw is not None:
                metrics.LAG.labels(msg.topic, str(msg.partition)).set(max(0, hw - msg.offset - 1))
            for a in out.alerts:
                await send(alerts_topic, a.id.encode(), a.model_dump_json().encode(), None, None, None)
            for cmd in out.lockouts:
                await send(lockouts_topic, cmd.account_id.encode(), cmd.model_dump_json().encode(), None, None, None)
            runtime.folded(pe, pe.units - before)

    @app.task
    async def watch_broker() -> None:
        """Ask the brokers for the cluster's metadata, so /health and `monitor_broker_up` say when none answers. Not a
        Faust timer: an unanswered check takes longer than the interval, and a timer then warns of overlapping."""
        await broker.run(CHECK_INTERVAL_S)

    @app.on_before_shutdown.connect  # type: ignore[arg-type]
    async def on_shutdown(sender: Any, **kwargs: Any) -> None:
        await router.close()
        await broker.close()

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]
    async def on_revoked(sender: Any, revoked: Any, **kwargs: Any) -> None:
        runtime.forget({tp.partition for tp in revoked if tp.topic == s.topic(WORK)})
        router.revoked(set(revoked))

    @app.on_partitions_assigned.connect  # type: ignore[arg-type]
    async def on_assigned(sender: Any, assigned: Any, **kwargs: Any) -> None:
        router.assigned({tp for tp in assigned if tp.topic in input_names}, fresh=True)

    @app.timer(interval=WATERMARK_INTERVAL_S)
    async def send_watermark() -> None:
        """Tell every work partition how far in event time this router's input partitions have come.

        With the wall clock on (tick_seconds > 0), a caught-up router's watermark follows it less the lateness, so
        a quiet stream still meets its deadlines; never while a backlog is held or unread (its events are history,
        and judging them late would make the alerts differ from a replay).
        """
        await router.send_mark(s.lateness, s.tick_seconds)

    @app.page("/health")
    async def health(web: Any, request: Any) -> Any:
        """200 while the consumer runs, 503 otherwise: what a liveness probe needs. A broker that does not answer
        makes it "degraded", still 200: a restarted worker would wait for the broker all the same."""
        state = app.consumer.state if app.consumer else "init"
        warning = broker.warning()
        try:
            assignment = app.consumer.assignment() if app.consumer else set()
        except Exception:  # the consumer not started, or between assignments
            assignment = set()
        committed = getattr(app.consumer, "_committed_offset", {})  # filled when partitions are assigned
        return web.json(
            {
                "status": state if state != "running" else "degraded" if warning else "ok",
                "warnings": [warning] if warning else [],
                "partitions": sorted(runtime.engines),
                # work partitions held with no engine yet (none reached since assigned): where reading resumes
                "idle": idle_partitions(assignment, s.topic(WORK), runtime.engines, committed),
                # partition -> last offset folded, for the partitions this worker holds now
                "processed": {str(p): pe.next_offset - 1 for p, pe in sorted(runtime.engines.items())},
                # partition -> events that reached its engine after the reorder buffer had passed their time
                "late": {str(p): pe.engine.stats.late for p, pe in sorted(runtime.engines.items())},
                # partition -> event time the engine has reached (its clock), and how it was last rebuilt
                "clock": {str(p): _iso(pe.engine.clock) for p, pe in sorted(runtime.engines.items())},
                "rebuilt": {str(p): r for p, r in sorted(runtime.rebuilt.items())},
                # partition -> input partitions no router has sent a watermark for yet (their engines wait)
                "waiting_for": {str(p): w for p, pe in sorted(runtime.engines.items()) if (w := pe.waiting_for())},
                "uptime_seconds": round(time.time() - runtime.started, 1),
                "router": router.state(),
            },
            status=200 if state == "running" else 503,
        )

    @app.page("/metrics")
    async def metrics_page(web: Any, request: Any) -> Any:
        return web.bytes(generate_latest(metrics.REGISTRY), content_type=CONTENT_TYPE_LATEST.split(";")[0])

    return app


def idle_partitions(assignment: Set[Any], work_topic: str, engines: Mapping[int, Any],
                    committed: Mapping[Any, int | None]) -> dict[str, int | None]:  # fmt: skip
    """Work partitions this worker holds but has made no engine for, each with the group's committed offset (None
    until the consumer has read it, a moment after the assignment, or if the group never committed one).

    An engine is made (rebuilt) when a partition's first message after its assignment comes, so a partition moved
    here by a rebalance after its last message shows nowhere else on /health; its committed offset says whether
    anything is left to process (equal to the topic's end: nothing).
    """
    return {
        str(tp.partition): committed.get(tp)
        for tp in sorted(assignment, key=lambda tp: tp.partition)
        if tp.topic == work_topic and tp.partition not in engines
    }


def _iso(t: datetime | None) -> str | None:
    return t.isoformat() if t is not None else None


class _Worker(faust.Worker):
    """Faust's worker, with the Kafka clients' repeated log lines limited (streams/logfilter.py), and no spinner."""

    def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
        # At WARN and above, Faust's terminal spinner sets the root logger to DEBUG for a handler of its own, so
        # every debug call in aiokafka and Faust makes a record that is then dropped: 8% of a Faust passthrough's
        # time in a py-spy profile (bench/README, "Through Kafka"). A service has no terminal to spin on.
        self.spinner = None
        super().on_setup_root_logger(logger, level)
        limit_repeats(logger)


def run_worker(settings: StreamSettings) -> None:
    """Start a worker in this process until it is stopped (SIGTERM or Ctrl-C)."""
    app = build_app(settings)
    worker = _Worker(app, loglevel=settings.loglevel, quiet=True)
    asyncio.set_event_loop(worker.loop)
    worker.execute_from_commandline()
