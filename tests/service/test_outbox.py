"""The outbox against a real HTTP receiver on 127.0.0.1: nothing lost while down, at-least-once, no URL leaks."""

from __future__ import annotations

import json
import logging
import random
import socket
import sqlite3
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from schemas.alerts import Alert
from service import outbox
from service.embedded import EmbeddedMonitor
from service.outbox import Deliverer, create_tables, enqueue, pending
from service.sinks import SinkConfig, alert_version
from tests.service.conftest import NOW
from tests.service.test_sinks import T0, make_alert

SECRET_PATH = "/hooks/T000/SECRETVALUE"


class Receiver:
    """An HTTP server on 127.0.0.1 recording every POST; `fail_every` makes every n-th request answer 500."""

    def __init__(self, port: int, fail_every: int = 0, status: int = 200) -> None:
        self.requests: list[dict[str, Any]] = []
        self.fail_every = fail_every
        self.status = status
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver._lock:
                    receiver.requests.append(
                        {"path": self.path, "headers": dict(self.headers), "body": json.loads(body)}
                    )
                    n = len(receiver.requests)
                code = 500 if receiver.fail_every and n % receiver.fail_every == 0 else receiver.status
                # A careless receiver that echoes the path (the secret) in its error body.
                reply = f"error at {self.path}".encode() if code >= 300 else b"ok"
                self.send_response(code)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()

    def keys(self) -> list[str]:
        """The Idempotency-Key of every request received, in order."""
        return [r["headers"]["Idempotency-Key"] for r in self.requests]

    def stop(self) -> None:
        """Shut the server down and free the port."""
        self.server.shutdown()
        self.server.server_close()


class Clock:
    """An injectable clock that only moves when told."""

    def __init__(self, t: float = 1_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def free_port() -> int:
    """A port on 127.0.0.1 with nothing listening on it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
def receivers() -> Iterator[list[Receiver]]:
    started: list[Receiver] = []
    yield started
    for r in started:
        r.stop()


@pytest.fixture
def db(tmp_path: Path) -> Iterator[tuple[Path, sqlite3.Connection]]:
    path = tmp_path / "monitor.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    create_tables(conn)
    conn.commit()
    yield path, conn
    conn.close()


SINKS = [SinkConfig(name="hook", kind="webhook", url_env="HOOK_URL")]


def alerts(n: int) -> list[Any]:
    return [make_alert(id=f"alr-{i:04d}", summary=f"alert {i}") for i in range(n)]


def rows(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
    return conn.execute("SELECT * FROM outbox ORDER BY id").fetchall()


def deliverer(path: Path, url: str, clock: Clock, **kw: Any) -> Deliverer:
    return Deliverer(path, SINKS, env={"HOOK_URL": url}, clock=clock, rng=random.Random(7), timeout=2.0, **kw)


def test_sink_down_loses_nothing_then_everything_arrives(
    db: tuple[Path, sqlite3.Connection], port: int, receivers: list[Receiver]
) -> None:
    path, conn = db
    clock = Clock()
    for a in alerts(5):
        assert enqueue(conn, SINKS, a, now=clock()) == 1
    conn.commit()
    with deliverer(path, f"http://127.0.0.1:{port}{SECRET_PATH}", clock) as d:
        report = d.run_once()
        assert (report.delivered, report.failed, report.pending) == (0, 5, 5)
        for _, _, _, _, _, created, attempts, next_at, delivered_at, last_error in rows(conn):
            assert attempts == 1 and delivered_at is None
            assert created + 0.8 <= next_at <= created + 1.2  # base_backoff 1 s, ±20%
            assert "connection failed" in last_error or "not tried" in last_error
        # Not due yet: nothing is tried.
        assert d.run_once() == outbox.DeliveryReport(0, 0, 5)

        clock.t += 1.3
        d.run_once()  # still down: second failure, backoff doubles
        assert {r[6] for r in rows(conn)} == {2}
        assert all(clock() + 1.6 <= r[7] <= clock() + 2.4 for r in rows(conn))

        receivers.append(Receiver(port))
        clock.t += 2.5
        report = d.run_once()
        assert (report.delivered, report.failed, report.pending) == (5, 0, 0)
    got = receivers[0].requests
    assert [r["body"]["alert"]["id"] for r in got] == [f"alr-{i:04d}" for i in range(5)]
    for r in got:
        alert_id = r["body"]["alert"]["id"]
        version = alert_version(Alert.model_validate(r["body"]["alert"]))
        assert r["path"] == SECRET_PATH
        assert r["headers"]["Idempotency-Key"] == f"hook:{alert_id}:{version}"
        assert r["headers"]["X-Monitor-Alert-Id"] == alert_id
        assert r["headers"]["Content-Type"] == "application/json"
        assert r["body"]["delivery_id"] == f"{alert_id}:{version}"
    assert all(r[8] == clock() and r[9] is None for r in rows(conn))


def test_flaky_receiver_gets_everything_at_least_once(
    db: tuple[Path, sqlite3.Connection], port: int, receivers: list[Receiver]
) -> None:
    path, conn = db
    clock = Clock()
    for a in alerts(10):
        enqueue(conn, SINKS, a, now=clock())
    conn.commit()
    rec = Receiver(port, fail_every=2)
    receivers.append(rec)
    with deliverer(path, f"http://127.0.0.1:{port}{SECRET_PATH}", clock, max_backoff=4.0) as d:
        for _ in range(20):
            if d.run_once().pending == 0:
                break
            clock.t += 5.0
        assert d.run_once().pending == 0
    expected = {f"hook:{a.id}:{alert_version(a)}" for a in alerts(10)}
    keys = rec.keys()
    assert set(keys) == expected  # every alert arrived; duplicates only ever repeat the same key
    assert len(keys) > len(expected)  # the 500s were retried
    # Each request that got a 200 delivered a distinct alert: no row was sent again after it succeeded.
    ok = [k for i, k in enumerate(keys, start=1) if i % 2]
    assert sorted(ok) == sorted(expected)
    assert all(r[8] is not None and r[9] is None for r in rows(conn))


def test_same_version_is_queued_once_and_a_new_version_again(db: tuple[Path, sqlite3.Connection]) -> None:
    _, conn = db
    a = make_alert()
    assert enqueue(conn, SINKS, a, now=1.0) == 1
    assert enqueue(conn, SINKS, a, now=2.0) == 0  # a replayed version
    conn.commit()
    assert len(rows(conn)) == 1
    ack = make_alert(status="acknowledged", updated_at=T0 + timedelta(hours=1))
    assert enqueue(conn, SINKS, ack, now=3.0) == 1
    two = [*SINKS, SinkConfig(name="pager", kind="teams", url_env="P", min_severity="critical")]
    assert enqueue(conn, two, make_alert(id="alr-9", severity="critical"), now=4.0) == 2
    assert enqueue(conn, two, make_alert(id="alr-8", severity="low"), now=4.0) == 1
    create_tables(conn)  # idempotent
    assert len(rows(conn)) == 5


def test_sink_url_is_never_stored_or_logged(
    db: tuple[Path, sqlite3.Connection], port: int, receivers: list[Receiver], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # httpx and httpcore log request URLs at INFO and DEBUG
    path, conn = db
    clock = Clock()
    for a in alerts(4):
        enqueue(conn, SINKS, a, now=clock(), console_url="https://monitor.example")
    conn.commit()
    url = f"http://127.0.0.1:{port}{SECRET_PATH}"
    with deliverer(path, url, clock) as d:
        d.run_once()  # connection refused
        receivers.append(Receiver(port, fail_every=2))  # then 500s that echo the path, and 200s
        for _ in range(6):
            clock.t += 400
            d.run_once()
        statuses = d.status()
    assert len(receivers[0].requests) >= 4
    errors = {r[9] for r in conn.execute("SELECT * FROM outbox")} | {s.last_error for s in statuses}
    table = json.dumps(rows(conn))
    assert "SECRETVALUE" not in table and "/hooks/" not in table
    assert not any(e and "SECRETVALUE" in e for e in errors)
    assert caplog.records, "expected delivery logs"
    assert any("HTTP 500" in r.getMessage() for r in caplog.records)
    assert any(r.name == "httpx" for r in caplog.records)
    for record in caplog.records:
        assert "SECRETVALUE" not in record.getMessage(), record.name
    assert "SECRETVALUE" not in caplog.text
    # The error a careless receiver echoed is kept, with the URL path redacted.
    seen = [r.getMessage() for r in caplog.records if "HTTP 500" in r.getMessage()]
    assert any("error at [sink url]" in m for m in seen)


def test_rolled_back_enqueue_leaves_no_row(db: tuple[Path, sqlite3.Connection]) -> None:
    path, conn = db
    conn.execute("CREATE TABLE alerts (id TEXT PRIMARY KEY)")
    conn.commit()
    a = make_alert()
    conn.execute("INSERT INTO alerts VALUES (?)", (a.id,))
    assert enqueue(conn, SINKS, a, now=1.0) == 1
    conn.rollback()  # e.g. the process died before commit
    other = sqlite3.connect(path)
    assert other.execute("SELECT COUNT(*) FROM outbox").fetchone() == (0,)
    assert other.execute("SELECT COUNT(*) FROM alerts").fetchone() == (0,)
    # Uncommitted rows are not visible to the deliverer's connection either.
    enqueue(conn, SINKS, a, now=1.0)
    assert other.execute("SELECT COUNT(*) FROM outbox").fetchone() == (0,)
    conn.commit()
    assert other.execute("SELECT COUNT(*) FROM outbox").fetchone() == (1,)
    other.close()


def test_unset_env_keeps_rows_pending_with_reason(db: tuple[Path, sqlite3.Connection]) -> None:
    path, conn = db
    clock = Clock()
    for a in alerts(3):
        enqueue(conn, SINKS, a, now=clock())
    conn.commit()
    with Deliverer(path, SINKS, env={}, clock=clock, rng=random.Random(1)) as d:
        report = d.run_once()
        assert (report.delivered, report.failed, report.pending) == (0, 3, 3)
        assert {r[9] for r in rows(conn)} == {"environment variable HOOK_URL is not set"}
        assert {r[6] for r in rows(conn)} == {1}
        clock.t += 30
        (st,) = d.status()
    assert (st.sink, st.pending, st.delivered, st.configured) == ("hook", 3, 0, True)
    assert st.oldest_pending_age == 30
    assert st.last_error == "environment variable HOOK_URL is not set"
    assert outbox.PENDING.labels("hook")._value.get() == 3
    assert [s.to_dict()["pending"] for s in pending(conn)] == [3]
    assert outbox.status(conn, now=clock()) == {
        "hook": {"pending": 3, "delivered": 0, "oldest_pending_age": 30.0, "last_error": st.last_error}
    }


def test_backoff_doubles_to_the_cap_with_jitter_and_never_drops(
    db: tuple[Path, sqlite3.Connection], port: int, receivers: list[Receiver]
) -> None:
    path, conn = db
    clock = Clock()
    enqueue(conn, SINKS, make_alert(), now=clock())
    conn.commit()
    receivers.append(Receiver(port, status=404))  # a permanent failure
    before = outbox.FAILED.labels("hook")._value.get()
    delays = []
    with deliverer(path, f"http://127.0.0.1:{port}{SECRET_PATH}", clock, base_backoff=1.0, max_backoff=8.0) as d:
        for _ in range(7):
            d.run_once()
            (row,) = rows(conn)
            delays.append(row[7] - clock())
            clock.t = row[7]
    (row,) = rows(conn)
    assert row[6] == 7 and row[8] is None and row[9] == "HTTP 404: error at [sink url]"
    assert outbox.status(conn)["hook"]["last_error"] == "HTTP 404"  # /health, which needs no token: not its answer
    for got, want in zip(delays, [1, 2, 4, 8, 8, 8, 8], strict=True):
        assert want * 0.8 <= got <= want * 1.2
    assert outbox.FAILED.labels("hook")._value.get() - before == 7


def test_run_forever_delivers_in_a_thread_and_stops(
    db: tuple[Path, sqlite3.Connection], port: int, receivers: list[Receiver]
) -> None:
    path, conn = db
    receivers.append(Receiver(port))
    before = outbox.DELIVERED.labels("hook")._value.get()
    stop = threading.Event()
    with Deliverer(path, SINKS, env={"HOOK_URL": f"http://127.0.0.1:{port}/h"}, timeout=2.0) as d:
        t = threading.Thread(target=d.run_forever, args=(stop,), kwargs={"interval": 0.02})
        t.start()
        for a in alerts(3):  # the writer enqueues while the deliverer runs beside it
            enqueue(conn, SINKS, a, now=0.0)
            conn.commit()
        for _ in range(250):
            if len(receivers[0].requests) == 3:
                break
            threading.Event().wait(0.02)
        stop.set()
        t.join(timeout=5)
        assert not t.is_alive()
    assert len(receivers[0].requests) == 3
    assert outbox.DELIVERED.labels("hook")._value.get() - before == 3


def test_rows_of_a_sink_no_longer_configured_stay_pending(db: tuple[Path, sqlite3.Connection]) -> None:
    path, conn = db
    enqueue(conn, [SinkConfig(name="old", kind="slack", url_env="OLD")], make_alert(), now=0.0)
    conn.commit()
    with Deliverer(path, SINKS, env={}, clock=lambda: 10.0) as d:
        assert d.run_once().pending == 1
        statuses = {s.sink: s for s in d.status()}
    assert statuses["old"].configured is False and statuses["old"].last_error == "sink old is not configured"
    assert statuses["hook"].pending == 0 and statuses["hook"].configured is True


def test_an_emergency_grant_s_lockout_reaches_the_sinks(
    tmp_path: Path, demo_files: tuple[Path, Path], port: int, receivers: list[Receiver]
) -> None:
    """EMG-02: a grant issues a lockout command, and IT security hear of it through their sinks."""
    from datetime import UTC, datetime

    from monitor.policy import load_profile
    from service.embedded import EmbeddedMonitor

    sinks = [
        SinkConfig(name="hook", kind="webhook", url_env="HOOK_URL", min_severity="critical"),
        SinkConfig(name="quiet", kind="webhook", url_env="HOOK_URL", lockouts=False, controls=["NONE-*"]),
    ]
    now = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    m = EmbeddedMonitor(tmp_path / "m.db", load_profile("default"), demo_files[0].read_text(), sinks=sinks,
                        clock=lambda: now)  # fmt: skip
    comms = next(p.person_id for p in m.directory.people if "comms-team" in p.groups)  # type: ignore[union-attr]
    _, result = m.request_emergency("acc-005", comms, "hacked", 60, comms)
    assert [c.alert_id.startswith("gr-") for c in result.lockouts] == [True]
    m.close()
    receivers.append(Receiver(port))
    d = Deliverer(tmp_path / "m.db", sinks, env={"HOOK_URL": f"http://127.0.0.1:{port}/x"}, timeout=2.0)
    assert d.run_once().delivered == 1
    d.close()
    (got,) = receivers[0].requests
    assert got["body"]["lockout"]["account_id"] == "acc-005"
    assert got["body"]["lockout"]["notify"] == ["account_manager", "it_security", "requester"]
    assert got["headers"]["Idempotency-Key"] == f"hook:{result.lockouts[0].id}:lockout"


def test_a_version_stamped_the_same_time_as_the_last_is_queued_under_a_key_of_its_own(
    db: tuple[Path, sqlite3.Connection], port: int, receivers: list[Receiver]
) -> None:
    """An alert version with the updated_at of an earlier one (a resolve of an alert stamped ahead of the wall
    clock, or new evidence in the lateness window after an acknowledge) is a new version: queued, and delivered
    under its own Idempotency-Key; the same version queued again (a replay after a restart) is still one row."""
    path, conn = db
    clock = Clock()
    opened = make_alert()
    acked = make_alert(status="acknowledged", resolved_by="sec", note="on it")
    more = make_alert(status="acknowledged", resolved_by="sec", note="on it", evidence=["e-1", "e-2", "e-3"])
    resolved = make_alert(status="resolved", resolved_by="sec", note="called them", evidence=["e-1", "e-2", "e-3"])
    assert len({a.updated_at for a in (opened, acked, more, resolved)}) == 1
    for a in (opened, acked, more, resolved):
        assert enqueue(conn, SINKS, a, now=clock()) == 1, a.status
    for a in (opened, resolved):  # the same versions, read back as after a restart: nothing new
        assert enqueue(conn, SINKS, Alert.model_validate_json(a.model_dump_json()), now=clock()) == 0
    conn.commit()
    receivers.append(Receiver(port))
    with deliverer(path, f"http://127.0.0.1:{port}{SECRET_PATH}", clock) as d:
        assert d.run_once().delivered == 4
    got = receivers[0].requests
    assert [r["body"]["alert"]["status"] for r in got] == ["open", "acknowledged", "acknowledged", "resolved"]
    assert [r["body"]["alert"]["evidence"][-1] for r in got] == ["e-2", "e-2", "e-3", "e-3"]
    assert len(set(receivers[0].keys())) == 4
    assert len({r["body"]["delivery_id"] for r in got}) == 4
    assert receivers[0].keys() == [f"hook:alr-0001:{alert_version(a)}" for a in (opened, acked, more, resolved)]


def test_an_alert_resolved_while_stamped_ahead_of_the_clock_reaches_the_sinks_resolved(
    make_monitor: Callable[..., EmbeddedMonitor],
) -> None:
    """A platform clock a couple of minutes fast (taken: up to 1 h ahead) stamps the alert's updated_at in the
    future; resolving it keeps that updated_at. The resolution was not queued, so the sink showed it open."""
    sinks = [SinkConfig(name="siem", kind="webhook", url_env="SIEM_URL")]
    m = make_monitor(sinks=sinks, lateness=timedelta(seconds=5))
    m.advance(NOW - timedelta(minutes=1))

    def sign_in(n: int, at: datetime) -> tuple[str, int | None, bytes]:
        data = {"account_id": "acc-001", "person_id": "p-0001", "device_id": "d-9", "device_managed": False,
                "mfa": False, "ip": "203.0.113.9"}  # fmt: skip
        ev = {"specversion": "1.0", "id": f"l-{n}", "source": "x/audit", "type": "login.succeeded",
              "time": at.isoformat(), "data": data}  # fmt: skip
        return "api", None, json.dumps(ev).encode()

    ahead = NOW + timedelta(minutes=2)
    result = m.submit([sign_in(1, ahead), sign_in(2, ahead + timedelta(seconds=10))], "sec")
    assert result.alerts
    opened = result.alerts[0]
    assert opened.updated_at == ahead and opened.status == "open"
    resolved = m.resolve(opened.id, "sec", "called them")
    assert (resolved.status, resolved.updated_at) == ("resolved", ahead)  # the engine keeps the later stamp
    queued = m.store.conn.execute(
        "SELECT json_extract(payload, '$.alert.status') FROM outbox WHERE alert_id = ? ORDER BY id", (opened.id,)
    ).fetchall()
    assert [s for (s,) in queued] == ["open", "resolved"]


def test_a_sink_url_ending_in_a_newline_is_delivered_to(
    db: tuple[Path, sqlite3.Connection], port: int, receivers: list[Receiver]
) -> None:
    """A Kubernetes Secret made from a file usually ends in a newline: httpx refused the URL (InvalidURL) and
    every delivery was retried for ever, while the start said nothing (it strips the value to see it is set)."""
    path, conn = db
    clock = Clock()
    enqueue(conn, SINKS, make_alert(), now=clock())
    conn.commit()
    receivers.append(Receiver(port))
    with deliverer(path, f"  http://127.0.0.1:{port}{SECRET_PATH}\n", clock) as d:
        report = d.run_once()
    assert (report.delivered, report.failed, report.pending) == (1, 0, 0), rows(conn)
    assert [r["path"] for r in receivers[0].requests] == [SECRET_PATH]
