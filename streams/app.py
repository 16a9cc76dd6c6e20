"""The Faust app: route input events to work partitions, run the engine per partition, send the results.

Agents are thin: decode, call the engine, produce. Both run with concurrency 1 (at-least-once, and order).
A partition's engine state is the fold of its work-topic messages: a worker that gains a partition (start,
restart, rebalance) rebuilds the engine by reading that partition from the beginning up to the first offset
it is handed, emitting nothing; alert ids derive from the facts, so anything re-emitted after a crash carries
the same ids and the compacted alerts topic keeps one alert per id.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime
from typing import Any

import faust
from aiokafka import AIOKafkaConsumer, TopicPartition  # type: ignore[import-untyped]
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from monitor.directory import load_directory, organisation_params
from monitor.policy import load_profile
from streams import metrics
from streams.partition import PartitionEngine
from streams.routing import DeadLetter, advance_message, redact, route
from streams.settings import StreamSettings
from streams.topics import ALERTS, DEAD_LETTER, INPUTS, LOCKOUTS, WORK

log = logging.getLogger("streams")


class Runtime:
    """The engines of the work partitions this worker holds, and their rebuilding."""

    def __init__(self, settings: StreamSettings) -> None:
        self.settings = settings
        self.profile = load_profile(settings.policy)
        # The register's people and accounts arrive as directory.* events; the file gives the organisation.
        self.params = (
            organisation_params(self.profile.parameters, load_directory(settings.directory))
            if settings.directory
            else self.profile.parameters
        )
        self.engines: dict[int, PartitionEngine] = {}
        self.started = time.time()

    async def engine_for(self, partition: int, offset: int) -> PartitionEngine:
        """The partition's engine, rebuilt from the log when this worker has not been folding it."""
        pe = self.engines.get(partition)
        if pe is not None and pe.next_offset == offset:
            return pe
        s = self.settings
        pe = PartitionEngine(self.profile, self.params, partition, s.partitions, s.lateness)
        if offset > 0:
            started = time.perf_counter()
            n = pe.rebuild(await self._read(partition, offset))
            pe.next_offset = offset
            log.info("rebuilt partition %d from %d messages in %.1fs", partition, n, time.perf_counter() - started)
            metrics.REBUILDS.inc()
        self.engines[partition] = pe
        return pe

    async def _read(self, partition: int, end: int) -> list[tuple[int, bytes]]:
        """Messages [0, end) of one work partition."""
        tp = TopicPartition(self.settings.topic(WORK), partition)
        consumer = AIOKafkaConsumer(bootstrap_servers=self.settings.bootstrap, enable_auto_commit=False)
        await consumer.start()
        try:
            consumer.assign([tp])
            await consumer.seek_to_beginning(tp)
            out: list[tuple[int, bytes]] = []
            while not out or out[-1][0] < end - 1:
                batch = await consumer.getmany(tp, timeout_ms=1000, max_records=5000)
                for rec in batch.get(tp, []):
                    if rec.offset < end and rec.value is not None:
                        out.append((rec.offset, rec.value))
                if not batch and await consumer.position(tp) >= end:
                    break
            return out
        finally:
            await consumer.stop()

    def forget(self, partitions: set[int]) -> None:
        for p in partitions:
            self.engines.pop(p, None)


def build_app(settings: StreamSettings) -> faust.App:
    """A Faust app wired to the settings' broker and topics."""
    s = settings
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        s.app_id,
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
        broker_commit_every=1000,
        broker_commit_interval=1.0,
    )
    raw: dict[str, Any] = {"key_serializer": "raw", "value_serializer": "raw", "internal": False}
    inputs = app.topic(*[s.topic(t) for t in INPUTS], **raw)
    work = app.topic(s.topic(WORK), partitions=s.partitions, **raw)
    alerts = app.topic(s.topic(ALERTS), **raw)
    lockouts = app.topic(s.topic(LOCKOUTS), **raw)
    dead = app.topic(s.topic(DEAD_LETTER), **raw)
    runtime = Runtime(s)
    app.monitor_runtime = runtime  # type: ignore[attr-defined]

    @app.agent(inputs, concurrency=1)
    async def route_events(stream: Any) -> None:
        """Decode each input message; dead-letter what is invalid; send the rest to its partitions."""
        async for event in stream.events():
            msg = event.message
            value: bytes = msg.value
            outcome = route(value, s.partitions)
            if isinstance(outcome, DeadLetter):
                metrics.REJECTED.labels(metrics.reason_label(outcome.reason)).inc()
                headers = [
                    ("reason", outcome.reason.encode()),
                    ("source-topic", msg.topic.encode()),
                    ("source-partition", str(msg.partition).encode()),
                    ("source-offset", str(msg.offset).encode()),
                ]
                await dead.send(key=msg.key, value=redact(value), headers=headers)
                continue
            for p in outcome.partitions:
                await work.send(key=outcome.key, value=value, partition=p, timestamp=msg.timestamp)

    @app.agent(work, concurrency=1)
    async def process(stream: Any) -> None:
        """Fold each work message into its partition's engine and send the alerts and lockouts it made."""
        async for event in stream.events():
            msg = event.message
            pe = await runtime.engine_for(msg.partition, msg.offset)
            out = pe.apply(msg.value, msg.offset, msg.timestamp)
            metrics.observe_event(out)
            hw = app.consumer.highwater(event.message.tp)
            if hw is not None:
                metrics.LAG.labels(msg.topic, str(msg.partition)).set(max(0, hw - msg.offset - 1))
            for a in out.alerts:
                await alerts.send(key=a.id.encode(), value=a.model_dump_json().encode())
            for cmd in out.lockouts:
                await lockouts.send(key=cmd.account_id.encode(), value=cmd.model_dump_json().encode())

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]
    async def on_revoked(sender: Any, revoked: Any, **kwargs: Any) -> None:
        runtime.forget({tp.partition for tp in revoked if tp.topic == s.topic(WORK)})

    if s.tick_seconds > 0:

        @app.timer(interval=s.tick_seconds)
        async def tick() -> None:
            """Move event time on with the wall clock (less the lateness), so a quiet stream meets its deadlines."""
            until = datetime.now(UTC) - s.lateness
            for p in list(runtime.engines):
                await work.send(key=b"", value=advance_message(until), partition=p)

    @app.page("/health")
    async def health(web: Any, request: Any) -> Any:
        """200 while the consumer runs, 503 otherwise: what a liveness probe needs."""
        state = app.consumer.state if app.consumer else "init"
        return web.json(
            {
                "status": "ok" if state == "running" else state,
                "partitions": sorted(runtime.engines),
                # partition -> last offset folded, for the partitions this worker holds now
                "processed": {str(p): pe.next_offset - 1 for p, pe in sorted(runtime.engines.items())},
                "uptime_seconds": round(time.time() - runtime.started, 1),
            },
            status=200 if state == "running" else 503,
        )

    @app.page("/metrics")
    async def metrics_page(web: Any, request: Any) -> Any:
        return web.bytes(generate_latest(metrics.REGISTRY), content_type=CONTENT_TYPE_LATEST.split(";")[0])

    return app


def run_worker(settings: StreamSettings) -> None:
    """Start a worker in this process until it is stopped (SIGTERM or Ctrl-C)."""
    app = build_app(settings)
    worker = faust.Worker(app, loglevel=settings.loglevel, quiet=True)
    asyncio.set_event_loop(worker.loop)
    worker.execute_from_commandline()
