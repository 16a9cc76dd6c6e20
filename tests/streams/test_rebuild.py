"""A worker gaining a partition rebuilds its engine from the work log on a real broker, a batch at a time."""

from __future__ import annotations

import asyncio
import uuid
import zlib
from pathlib import Path
from typing import Any

import pytest

from monitor.demo import mix_lines
from monitor.engine import loads_state
from schemas.events import parse_event
from streams import app as app_module
from streams.partition import PartitionEngine
from streams.routing import lane_name, watermark_message, work_events, work_messages
from streams.settings import StreamSettings
from streams.topics import INPUTS, WORK, create_topics

pytestmark = pytest.mark.kafka

EVENTS = 3000
BATCH = 400


def _work_log(s: StreamSettings) -> list[bytes]:
    """Mix events, each 100 followed by a watermark for every input partition, as one router would write them:
    of each 100, half one message each, half in batches of 10 (events released together)."""
    lanes = [lane_name(s.topic(t), p) for t in INPUTS for p in range(s.partitions)]
    out: list[bytes] = []
    lines = list(mix_lines(EVENTS))
    for i in range(0, len(lines), 100):
        group = lines[i : i + 100]
        out.extend(group[:50])
        for j in range(50, len(group), 10):
            out.extend(value for value, _ in work_messages([(raw, None) for raw in group[j : j + 10]]))
        out.append(watermark_message(parse_event(group[-1]).time, lanes))
    return out


def _produce(s: StreamSettings, values: list[bytes]) -> None:
    from kafka import KafkaProducer  # type: ignore[import-untyped, unused-ignore]

    producer = KafkaProducer(bootstrap_servers=s.bootstrap, acks="all", linger_ms=5)
    try:
        for v in values:
            producer.send(s.topic(WORK), value=v, partition=0)
        producer.flush(timeout=60)
    finally:
        producer.close()


def test_a_rebuild_folds_batch_by_batch_and_lets_the_event_loop_run(kafka_bootstrap: str, tmp_path: Path,
                                                                    monkeypatch: Any) -> None:  # fmt: skip
    """The rebuild reaches the state of folding the log in one go, yet the event loop (group heartbeats, /health)
    runs between its batches: a long rebuild in one piece would cost the worker its partitions."""
    tag = uuid.uuid4().hex[:8]
    s = StreamSettings(broker=f"kafka://{kafka_bootstrap}", topic_prefix=f"r{tag}", app_id=f"app{tag}",
                       partitions=1, data_dir=tmp_path, lateness="0s", tick_seconds=0,
                       snapshot_every=0)  # type: ignore[arg-type]  # fmt: skip
    create_topics(s)
    log = _work_log(s)
    _produce(s, log)

    runtime = app_module.Runtime(s)
    expected = runtime._new_engine(0)
    expected.rebuild(enumerate(log))

    monkeypatch.setattr(app_module, "REBUILD_BATCH", BATCH)
    monkeypatch.setattr(app_module, "REBUILD_EVENTS", BATCH)
    order: list[str] = []
    fold = PartitionEngine.rebuild

    def recording_rebuild(self: PartitionEngine, messages: Any, max_events: int | None = None) -> int:
        events: list[int] = []

        def counted() -> Any:
            for offset, raw in messages:
                events.append(max(1, len(work_events(raw))))  # a watermark counts as one, as in `rebuild`
                yield offset, raw

        n = fold(self, counted(), max_events)
        if n:
            order.append(f"fold {n} {sum(events)}")
        return n

    monkeypatch.setattr(PartitionEngine, "rebuild", recording_rebuild)

    async def rebuild_while_ticking() -> PartitionEngine:
        done = asyncio.Event()

        async def tick() -> None:
            while not done.is_set():
                order.append("tick")
                await asyncio.sleep(0)

        ticker = asyncio.create_task(tick())
        try:
            return await runtime.engine_for(0, len(log))
        finally:
            done.set()
            await ticker

    pe = asyncio.run(rebuild_while_ticking())

    folds = [int(x.split()[1]) for x in order if x.startswith("fold")]
    events = [int(x.split()[2]) for x in order if x.startswith("fold")]
    assert sum(folds) == len(log) and sum(events) == EVENTS + EVENTS // 100
    assert max(events) < BATCH + 10 and len(folds) >= sum(events) // (BATCH + 10)  # a batch carries 10 at most
    first, last = order.index(next(x for x in order if x.startswith("fold"))), len(order) - 1 - order[::-1].index(
        next(x for x in reversed(order) if x.startswith("fold")))  # fmt: skip
    between = order[first:last]
    assert between.count("tick") >= len(folds) - 1, "the event loop did not run between the batches"
    assert pe.next_offset == len(log)
    assert pe.engine.clock == expected.engine.clock and pe.engine.clock is not None
    # the same state (pickled bytes may differ: an equal string shared in one engine is two objects in the other)
    state, expected_state = (loads_state(zlib.decompress(p.engine.snapshot())) for p in (pe, expected))
    assert state == expected_state
    assert {a.id: a for a in pe.engine.alerts.values()} == {a.id: a for a in expected.engine.alerts.values()}
    assert pe.engine.alerts, "the fold raised no alert: the comparison would say little"
