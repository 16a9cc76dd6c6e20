"""A worker gaining a partition rebuilds its engine from the work log on a real broker, a batch at a time."""

from __future__ import annotations

import asyncio
import pickle
import uuid
from pathlib import Path
from typing import Any

import pytest

from monitor.demo import mix_lines
from schemas.events import parse_event
from streams import app as app_module
from streams.partition import PartitionEngine
from streams.routing import lane_name, watermark_message
from streams.settings import StreamSettings
from streams.topics import INPUTS, WORK, create_topics

pytestmark = pytest.mark.kafka

EVENTS = 3000
BATCH = 400


def _work_log(s: StreamSettings) -> list[bytes]:
    """Mix events, each 100 followed by a watermark for every input partition, as one router would write them."""
    lanes = [lane_name(s.topic(t), p) for t in INPUTS for p in range(s.partitions)]
    out: list[bytes] = []
    for n, raw in enumerate(mix_lines(EVENTS), 1):
        out.append(raw)
        if n % 100 == 0:
            out.append(watermark_message(parse_event(raw).time, lanes))
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
    order: list[str] = []
    fold = PartitionEngine.rebuild

    def recording_rebuild(self: PartitionEngine, messages: Any) -> int:
        n = fold(self, messages)
        order.append(f"fold {n}")
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
    assert sum(folds) == len(log)
    assert max(folds) <= BATCH and len(folds) >= len(log) // BATCH
    first, last = order.index(next(x for x in order if x.startswith("fold"))), len(order) - 1 - order[::-1].index(
        next(x for x in reversed(order) if x.startswith("fold")))  # fmt: skip
    between = order[first:last]
    assert between.count("tick") >= len(folds) - 1, "the event loop did not run between the batches"
    assert pe.next_offset == len(log)
    assert pe.engine.clock == expected.engine.clock and pe.engine.clock is not None
    # the same state (pickled bytes may differ: an equal string shared in one engine is two objects in the other)
    assert pickle.loads(pe.engine.snapshot()) == pickle.loads(expected.engine.snapshot())
    assert {a.id: a for a in pe.engine.alerts.values()} == {a.id: a for a in expected.engine.alerts.values()}
    assert pe.engine.alerts, "the fold raised no alert: the comparison would say little"
