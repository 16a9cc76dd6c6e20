"""Smoke test: the broker from ``kafka_bootstrap`` creates topics and round-trips messages."""

from __future__ import annotations

import time
import uuid

import pytest
from kafka import (  # type: ignore[import-untyped, unused-ignore]
    KafkaAdminClient,
    KafkaConsumer,
    KafkaProducer,
)
from kafka.admin import NewTopic  # type: ignore[import-untyped, unused-ignore]

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
