"""A sink that fails half its requests, then is down (and the monitor is killed meanwhile): every alert arrives."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from service.store import Store, connect
from tests.service.test_embedded import _free_port, _health


class Receiver:
    """A webhook receiver on 127.0.0.1 that can fail every other request, or be down altogether."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.flaky = True
        self.keys: set[str] = set()
        self.ids: set[str] = set()
        self.requests = 0
        self.failed = 0
        self.lock = threading.Lock()
        self.server: ThreadingHTTPServer | None = None

    def up(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.lock:
                    receiver.requests += 1
                    fail = receiver.flaky and receiver.requests % 2 == 0
                    if fail:
                        receiver.failed += 1
                    else:
                        sent = json.loads(body)
                        what = sent["alert"] if "alert" in sent else sent["lockout"]  # lockouts go to sinks too
                        assert what["id"] == self.headers["X-Monitor-Alert-Id"]
                        receiver.keys.add(self.headers["Idempotency-Key"])
                        receiver.ids.add(self.headers["X-Monitor-Alert-Id"])
                self.send_response(500 if fail else 200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def down(self) -> None:
        assert self.server is not None
        self.server.shutdown()
        self.server.server_close()
        self.server = None


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver(_free_port())
    r.up()
    yield r
    if r.server is not None:
        r.down()


def _wait(pred: object, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if pred():  # type: ignore[operator]
            return
        time.sleep(0.2)
    pytest.fail(f"timed out after {seconds:.0f} s waiting for {what}")


def test_every_alert_is_delivered_after_a_flaky_then_dead_sink(
    tmp_path: Path, demo_files: tuple[Path, Path], receiver: Receiver
) -> None:
    data = tmp_path / "data"
    inbox = data / "inbox"
    inbox.mkdir(parents=True)
    sinks = tmp_path / "sinks.yaml"
    sinks.write_text("sinks:\n  - name: soc\n    kind: webhook\n    url_env: SOC_URL\n    min_severity: high\n")
    raw = demo_files[1].read_bytes().splitlines(keepends=True)
    half = len(raw) // 2
    (inbox / "a.jsonl").write_bytes(b"".join(raw[:half]))
    os.utime(inbox / "a.jsonl", (time.time() - 60, time.time() - 60))
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
    env.update(
        SOC_URL=f"http://127.0.0.1:{receiver.port}/hooks/T000/SECRETVALUE",
        MONITOR_DELIVERY_MAX_BACKOFF="1",
        MONITOR_LOGLEVEL="info",
    )
    cmd = [sys.executable, "-m", "monitor.cli", "run", "--data-dir", str(data), "--directory", str(demo_files[0]),
           "--sinks", str(sinks), "--web-port", str(port), "--lateness", "1h", "--tick-seconds", "0.5"]  # fmt: skip
    log = tmp_path / "monitor.log"

    def start() -> subprocess.Popen[bytes]:
        with log.open("ab") as out:
            return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)

    proc = start()
    try:
        _wait(lambda: _health(port) is not None, 60, "the monitor to start")
        _wait(lambda: len(receiver.keys) >= 10 and receiver.failed >= 10, 60, "deliveries while the sink is flaky")
        receiver.down()  # down; the second half of the month arrives meanwhile, and the monitor dies once
        (inbox / "b.jsonl").write_bytes(b"".join(raw[half:]))
        os.utime(inbox / "b.jsonl", (time.time() - 60, time.time() - 60))
        _wait(lambda: not (inbox / "b.jsonl").exists(), 60, "the second file to be taken")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        proc = start()
        _wait(lambda: _health(port) is not None, 60, "the monitor to restart")
        time.sleep(5)  # down for a while: retries back off and keep failing
        store = Store(connect(data / "monitor.db"))
        pending = store.conn.execute("SELECT COUNT(*) FROM outbox WHERE delivered_at IS NULL").fetchone()[0]
        assert pending > 0
        receiver.flaky = False
        receiver.up()
        _wait(
            lambda: store.conn.execute("SELECT COUNT(*) FROM outbox WHERE delivered_at IS NULL").fetchone()[0] == 0,
            90,
            "the outbox to drain once the sink is back",
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
    wanted = {a.id for a in store.all_alerts() if a.severity in ("high", "critical")}
    rows = store.conn.execute("SELECT sink, alert_id, version FROM outbox").fetchall()
    queued = {f"{s}:{a}:{v}" for s, a, v in rows}
    assert len(wanted) > 50
    assert wanted <= receiver.ids  # every high or critical alert arrived
    assert queued <= receiver.keys  # and every version queued for it, at least once
    assert "SECRETVALUE" not in str(store.conn.execute("SELECT * FROM outbox").fetchall())
