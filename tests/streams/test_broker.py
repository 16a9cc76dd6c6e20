"""The broker from ``kafka_bootstrap`` creates topics and round-trips messages; a worker checks its topics."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from kafka import (  # type: ignore[import-untyped, unused-ignore]
    KafkaAdminClient,
    KafkaConsumer,
    KafkaProducer,
)
from kafka.admin import NewTopic  # type: ignore[import-untyped, unused-ignore]

from streams.settings import StreamSettings
from streams.topics import ARRIVAL, KEEP, config_problems, create_topics, topic_problems, topic_specs

PARTITIONS = 4
MESSAGES = 100
TIMEOUT_S = 60.0


@pytest.mark.kafka
def test_produce_consume_roundtrip(kafka_bootstrap: str) -> None:
    topic = f"smoke-{uuid.uuid4().hex[:12]}"
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap, client_id="smoke-admin")
    try:
        admin.create_topics([NewTopic(topic, num_partitions=PARTITIONS, replication_factor=1)])
    finally:
        admin.close()

    sent = {f"account-{i}".encode(): f"event-{i}".encode() for i in range(MESSAGES)}
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", linger_ms=5)
    try:
        futures = [producer.send(topic, key=k, value=v) for k, v in sent.items()]
        producer.flush(timeout=TIMEOUT_S)
        partitions = {f.get(timeout=TIMEOUT_S).partition for f in futures}
    finally:
        producer.close()
    assert partitions == set(range(PARTITIONS))  # keys spread over every partition

    received: dict[bytes, bytes] = {}
    count = 0
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=kafka_bootstrap,
        group_id=f"smoke-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    try:
        deadline = time.monotonic() + TIMEOUT_S
        while count < MESSAGES and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=1000).values():
                for record in records:
                    received[record.key] = record.value
                    count += 1
    finally:
        consumer.close()

    assert count == MESSAGES
    assert received == sent


@pytest.mark.kafka
def test_a_worker_refuses_topics_it_could_not_run_exactly_on(kafka_bootstrap: str, tmp_path: Path) -> None:
    """Engines wait for a watermark from every input partition they expect: a worker checks the counts first."""
    s = StreamSettings(broker=f"kafka://{kafka_bootstrap}", topic_prefix=f"chk{uuid.uuid4().hex[:8]}", partitions=3,
                       data_dir=tmp_path)  # fmt: skip
    assert topic_problems(s) == [f"topic {t.name} does not exist" for t in topic_specs(s)]
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap, client_id="check-admin")
    try:
        admin.create_topics([NewTopic(s.topic("signins"), num_partitions=5, replication_factor=1)])
    finally:
        admin.close()
    create_topics(s)  # the rest, with 3 partitions
    assert topic_problems(s) == [f"topic {s.topic('signins')} has 5 partitions, MONITOR_PARTITIONS is 3"]
    env = {**os.environ, "MONITOR_BROKER": s.broker, "MONITOR_TOPIC_PREFIX": s.topic_prefix,
           "MONITOR_PARTITIONS": "3", "MONITOR_DATA_DIR": str(tmp_path)}  # fmt: skip
    run = subprocess.run([sys.executable, "-m", "monitor.cli", "run"], env=env, capture_output=True, text=True,
                         timeout=60, cwd=Path(__file__).parents[2])  # fmt: skip
    assert run.returncode != 0 and "has 5 partitions, MONITOR_PARTITIONS is 3" in run.stderr


@pytest.mark.kafka
def test_topics_create_again_with_another_partition_count_says_the_topics_keep_theirs(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """Topics are only created, never changed: run again with another MONITOR_PARTITIONS, `topics create` said
    'exists' for each and exit 0, though no worker with those settings would start on them."""
    prefix = f"cnt{uuid.uuid4().hex[:8]}"
    create_topics(StreamSettings(broker=f"kafka://{kafka_bootstrap}", topic_prefix=prefix, partitions=3,
                                 data_dir=tmp_path))  # fmt: skip

    def topics_create(partitions: int) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "MONITOR_BROKER": f"kafka://{kafka_bootstrap}", "MONITOR_TOPIC_PREFIX": prefix,
               "MONITOR_PARTITIONS": str(partitions), "MONITOR_DATA_DIR": str(tmp_path)}  # fmt: skip
        return subprocess.run([sys.executable, "-m", "monitor.cli", "topics", "create"], env=env, capture_output=True,
                              text=True, timeout=60, cwd=Path(__file__).parents[2])  # fmt: skip

    same = topics_create(3)
    assert same.returncode == 0 and "partitions" not in same.stderr, same.stderr
    other = topics_create(2)
    assert other.returncode == 2, other.stderr
    said = [line for line in other.stderr.splitlines() if "partitions, MONITOR_PARTITIONS is 2" in line]
    assert said == [f"monitor: topic {prefix}.{t} has 3 partitions, MONITOR_PARTITIONS is 2"
                    for t in ("hr", "directory", "credentials", "signins", "incidents", "work")]  # fmt: skip
    assert "a worker with MONITOR_PARTITIONS=2 will not start on these" in other.stderr


@pytest.mark.kafka
def test_topics_holding_history_are_kept_and_an_older_one_that_is_not_is_named(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """Inputs, work log, lockouts and dead letters never age out, and inputs take the broker's timestamps; one made
    with a 7-day retention (the broker's usual default) and producers' timestamps is found, by `monitor topics
    create` too, with the commands that mend it."""
    s = StreamSettings(broker=f"kafka://{kafka_bootstrap}", topic_prefix=f"ret{uuid.uuid4().hex[:8]}", partitions=2,
                       data_dir=tmp_path)  # fmt: skip
    kept = {t.name for t in topic_specs(s) if KEEP.items() <= t.config.items()}
    assert kept == {
        s.topic(t) for t in ("hr", "credentials", "signins", "incidents", "work", "lockouts", "dead-letter")
    }
    stamped = {t.name for t in topic_specs(s) if ARRIVAL.items() <= t.config.items()}
    assert stamped == {s.topic(t) for t in ("hr", "directory", "credentials", "signins", "incidents")}
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap, client_id="check-admin")
    try:
        week = {"retention.ms": "604800000"}  # the usual broker default, set so the test does not rest on it
        admin.create_topics([NewTopic(s.topic("hr"), num_partitions=2, replication_factor=1, topic_configs=week)])
    finally:
        admin.close()
    env = {**os.environ, "MONITOR_BROKER": s.broker, "MONITOR_TOPIC_PREFIX": s.topic_prefix,
           "MONITOR_PARTITIONS": "2", "MONITOR_DATA_DIR": str(tmp_path)}  # fmt: skip
    made = subprocess.run([sys.executable, "-m", "monitor.cli", "topics", "create"], env=env, capture_output=True,
                          text=True, timeout=60, cwd=Path(__file__).parents[2])  # fmt: skip
    assert made.returncode == 0, made.stderr
    # the older one alone, twice: it ages out, and it keeps its producers' timestamps (the rest were made right)
    problem, stamps = config_problems(s)
    assert problem.startswith(f"topic {s.topic('hr')} deletes messages (retention.ms=604800000, ")
    assert f"--entity-name {s.topic('hr')} --add-config retention.ms=-1,retention.bytes=-1" in problem
    assert stamps.startswith(f"topic {s.topic('hr')} keeps its producers' timestamps (message.timestamp.type=Create")
    assert stamps.endswith(f"--entity-name {s.topic('hr')} --add-config message.timestamp.type=LogAppendTime")
    assert f"monitor: warning: {problem}" in made.stderr and f"monitor: warning: {stamps}" in made.stderr


@pytest.mark.kafka
def test_an_advance_reaches_every_work_partition_whatever_the_settings_here_say(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """`monitor advance` and an emergency request run where MONITOR_PARTITIONS may be unset (8) or stale: a work
    partition they left out would never move, and a request on it never be decided."""
    from streams.client import send_advance

    s = StreamSettings(broker=f"kafka://{kafka_bootstrap}", topic_prefix=f"adv{uuid.uuid4().hex[:8]}", partitions=3,
                       data_dir=tmp_path)  # fmt: skip
    create_topics(s)
    here = s.model_copy(update={"partitions": 1})
    assert sorted(send_advance(here, datetime(2026, 11, 1, tzinfo=UTC))) == [0, 1, 2]
