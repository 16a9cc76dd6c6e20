"""Alert delivery for the Kafka runtime: the alerts and lockouts topics into the embedded monitor's durable outbox.

One process (`monitor deliver`) reads both topics in a consumer group of its own, queues each alert version and
lockout command for its sinks in a local SQLite outbox, and commits its offsets only once those rows are committed;
the outbox's Deliverer (service/outbox.py) sends them with retries and idempotency keys. A crash between the two
commits reads the messages again, and the outbox ignores rows it already has: nothing is lost or queued twice.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from schemas.alerts import Alert, LockoutCommand
from service.outbox import Deliverer, create_tables, enqueue, enqueue_lockout
from service.sinks import SinkConfig
from service.store import connect
from streams.settings import StreamSettings
from streams.topics import ALERTS, LOCKOUTS

log = logging.getLogger("streams.delivery")


@dataclass(slots=True)
class Queued:
    """What one batch of messages added to the outbox."""

    messages: int = 0
    rows: int = 0
    skipped: int = 0  # messages that were neither an alert nor a lockout command


def queue_batch(conn: sqlite3.Connection, sinks: Sequence[SinkConfig], alerts_topic: str,
                records: Sequence[tuple[str, int, int, bytes | None]], now: float) -> Queued:  # fmt: skip
    """Queue (topic, partition, offset, value) messages for their sinks in one transaction of `conn`."""
    out = Queued()
    conn.execute("BEGIN IMMEDIATE")
    try:
        for topic, partition, offset, value in records:
            if value is None:
                continue
            out.messages += 1
            try:
                if topic == alerts_topic:
                    out.rows += enqueue(conn, sinks, Alert.model_validate_json(value), now=now)
                else:
                    out.rows += enqueue_lockout(conn, sinks, LockoutCommand.model_validate_json(value), now=now)
            except ValidationError as exc:
                out.skipped += 1
                log.warning("%s:%d@%d is not an alert or a lockout command; skipped: %s", topic, partition, offset,
                            exc.errors()[0]["msg"] if exc.errors() else exc)  # fmt: skip
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return out


def run_delivery(s: StreamSettings, sinks: Sequence[SinkConfig], outbox: Path, stop: threading.Event, *,
                 from_now: bool = False, max_backoff: float = 300.0, metrics_port: int | None = None,
                 report: Callable[[str], None] | None = None) -> None:  # fmt: skip
    """Queue what the alerts and lockouts topics carry and deliver it, until `stop` is set.

    A group with no committed offsets starts at the topics' beginnings (every alert's history is delivered once),
    or with `from_now` at their ends. With `metrics_port`, the outbox's metrics (delivered, failed, pending by sink)
    are served for Prometheus on MONITOR_WEB_HOST at that port.
    """
    from kafka import KafkaConsumer  # type: ignore[import-untyped, unused-ignore]
    from prometheus_client import start_http_server

    from service.outbox import REGISTRY

    server = None if metrics_port is None else start_http_server(metrics_port, addr=s.web_host, registry=REGISTRY)[0]
    conn = connect(outbox)  # the embedded monitor's: WAL, and a committed row survives a power cut
    create_tables(conn)
    deliverer = Deliverer(outbox, sinks, max_backoff=max_backoff)
    sender = threading.Thread(target=deliverer.run_forever, args=(stop,), name="deliver", daemon=True)
    alerts_topic = s.topic(ALERTS)
    consumer = KafkaConsumer(
        alerts_topic, s.topic(LOCKOUTS), bootstrap_servers=s.bootstrap, group_id=f"{s.app_id}-delivery",
        enable_auto_commit=False, auto_offset_reset="latest" if from_now else "earliest",
        client_id=f"{s.app_id}-delivery",
    )  # fmt: skip
    sender.start()
    last_report = time.monotonic()
    totals = Queued()
    try:
        while not stop.is_set():
            polled = consumer.poll(timeout_ms=1000, max_records=500)
            records = [(tp.topic, tp.partition, r.offset, r.value) for tp, rs in polled.items() for r in rs]
            if records:
                got = queue_batch(conn, sinks, alerts_topic, records, time.time())
                consumer.commit()  # only now: the rows are committed
                totals.messages, totals.rows = totals.messages + got.messages, totals.rows + got.rows
                totals.skipped += got.skipped
            if report is not None and time.monotonic() - last_report >= 30:
                last_report = time.monotonic()
                pending = sum(st.pending for st in deliverer.status())
                report(f"{totals.messages:,} messages read, {totals.rows:,} deliveries queued, {pending:,} pending, "
                       f"{totals.skipped:,} skipped")  # fmt: skip
    finally:
        stop.set()
        sender.join(15)
        consumer.close()
        deliverer.close()
        conn.close()
        if server is not None:
            server.shutdown()
