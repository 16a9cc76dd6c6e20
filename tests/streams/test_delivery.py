"""`monitor deliver` on a real broker: the alerts and lockouts topics reach a webhook once each, across a restart."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from kafka import KafkaProducer  # type: ignore[import-untyped, unused-ignore]

from schemas.alerts import Alert, LockoutCommand
from service.sinks import alert_version
from streams.settings import StreamSettings
from streams.topics import ALERTS, LOCKOUTS, create_topics

pytestmark = pytest.mark.kafka

REPO = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


class Receiver:
    """A webhook on 127.0.0.1 that records each request's idempotency key and body."""

    def __init__(self) -> None:
        self.got: list[tuple[str, dict[str, object]]] = []
        got = self.got

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                got.append((self.headers["Idempotency-Key"], json.loads(body)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, n: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while len(self.got) < n and time.monotonic() < deadline:
            time.sleep(0.2)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()


def _alert(i: int, minutes: int) -> Alert:
    return Alert(
        id=f"al-{i:04d}", control="LVR-01", severity="high", status="open", account_id="acc-1", person_id="p-1",
        raised_at=T0, updated_at=T0 + timedelta(minutes=minutes), policy="default", sources=["hr"],
        evidence=["ev-1"], summary=f"alert {i}", next_step="look",
    )  # fmt: skip


def test_every_alert_version_and_lockout_reaches_the_webhook_once_across_a_restart(
    kafka_bootstrap: str, tmp_path: Path, receiver: Receiver
) -> None:
    s = StreamSettings(broker=f"kafka://{kafka_bootstrap}", topic_prefix=f"t{uuid.uuid4().hex[:8]}",
                       app_id=f"app{uuid.uuid4().hex[:8]}", partitions=2)  # fmt: skip
    create_topics(s)
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    versions = [_alert(1, 0), _alert(2, 0), _alert(1, 5), _alert(2, 7)]
    lockout = LockoutCommand(id="lk-0001-0", account_id="acc-1", alert_id="al-0001", issued_at=T0, reason="hijack",
                             actions=["end_sessions"], notify=["comms"])  # fmt: skip
    for a in versions:
        producer.send(s.topic(ALERTS), key=a.id.encode(), value=a.model_dump_json().encode())
    producer.send(s.topic(ALERTS), key=b"junk", value=b'{"not": "an alert"}')
    producer.send(s.topic(LOCKOUTS), key=b"acc-1", value=lockout.model_dump_json().encode())
    producer.flush()
    (tmp_path / "sinks.yaml").write_text("sinks:\n  - name: siem\n    kind: webhook\n    url_env: TEST_SIEM_URL\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
    env["TEST_SIEM_URL"] = receiver.url

    from tests.streams.harness import free_port

    port = free_port()

    def start(outbox: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "monitor.cli", "deliver", "--broker", s.broker, "--topic-prefix", s.topic_prefix,
             "--sinks", str(tmp_path / "sinks.yaml"), "--outbox", str(tmp_path / outbox), "--metrics-port", str(port)],
            cwd=REPO, env={**env, "MONITOR_APP_ID": s.app_id}, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip

    def stop(proc: subprocess.Popen[str]) -> str:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        return err

    first = start("first.db")
    receiver.wait_for(5)
    time.sleep(1.5)  # the round that delivered the last one sets the pending gauge after it
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        scraped = resp.read().decode()
    assert 'monitor_alert_deliveries_total{sink="siem"} 5.0' in scraped, scraped
    assert 'monitor_alert_deliveries_pending{sink="siem"} 0.0' in scraped, scraped
    err = stop(first)
    want = {f"siem:{a.id}:{alert_version(a)}" for a in versions} | {"siem:lk-0001-0:lockout"}
    assert sorted(k for k, _ in receiver.got) == sorted(want), err
    assert "is not an alert or a lockout command" in err
    assert "is a new outbox" not in err  # a first start reads the topics whole: nothing was read before

    later = _alert(1, 9)
    producer.send(s.topic(ALERTS), key=later.id.encode(), value=later.model_dump_json().encode())
    producer.flush()
    producer.close()
    second = start("second.db")  # a new queue: only the group's committed offsets keep it from sending all again
    receiver.wait_for(6)
    time.sleep(3)  # anything sent again would have come by now
    err = stop(second)
    # what waited in first.db would not be sent from here: said, rather than left for a receiver to miss
    assert f"monitor: warning: {tmp_path / 'second.db'} is a new outbox, but the delivery group" in err, err
    assert [k for k, _ in receiver.got[5:]] == [f"siem:al-0001:{alert_version(later)}"]
    assert receiver.got[5][1]["alert"] == json.loads(later.model_dump_json())


def test_a_batch_queued_again_adds_nothing_and_a_bad_message_is_skipped(tmp_path: Path) -> None:
    """What makes a crash between the outbox's commit and the offsets' commit harmless."""
    import sqlite3

    from service.outbox import create_tables
    from service.sinks import SinkConfig
    from streams.delivery import queue_batch

    conn = sqlite3.connect(tmp_path / "q.db", isolation_level=None)
    create_tables(conn)
    sinks = [SinkConfig(name="siem", kind="webhook", url_env="X"), SinkConfig(name="chat", kind="slack", url_env="Y",
             lockouts=False)]  # fmt: skip
    lockout = LockoutCommand(id="lk-1-0", account_id="acc-1", alert_id="al-0001", issued_at=T0, reason="hijack",
                             actions=["end_sessions"], notify=["comms"])  # fmt: skip
    batch = [("a", 0, 0, _alert(1, 0).model_dump_json().encode()), ("a", 0, 1, b"{}"), ("a", 1, 0, None),
             ("l", 0, 0, lockout.model_dump_json().encode())]  # fmt: skip
    first = queue_batch(conn, sinks, "a", batch, now=1.0)
    assert (first.messages, first.rows, first.skipped) == (3, 3, 1)  # the alert to both sinks, the lockout to one
    again = queue_batch(conn, sinks, "a", batch, now=2.0)
    assert (again.messages, again.rows, again.skipped) == (3, 0, 1)
    assert conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] == 3
