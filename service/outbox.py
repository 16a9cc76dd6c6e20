"""A durable outbox of alert deliveries: rows written with the alert, delivered at least once by a Deliverer.

`enqueue` adds one row per matching sink inside the caller's transaction, so an alert version and its
deliveries are committed together or not at all. A `Deliverer` (its own connection, its own thread)
POSTs due rows and retries failures with capped exponential backoff; no row is ever dropped. Every
request carries `Idempotency-Key: <sink>:<alert_id>:<version>` so a receiver can drop the duplicates
that at-least-once delivery may produce; the version (`sinks.alert_version`) is the alert's updated_at and
a digest of its JSON, so every distinct version is queued and keyed apart, and the same one queued again
(a replay after a restart) is one row. Sink URLs are secrets: they are read from the environment
at delivery time and never stored, logged, or put in an error message.
"""

from __future__ import annotations

import json
import logging
import os
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import httpx
from prometheus_client import CollectorRegistry, Counter, Gauge

from schemas.alerts import Alert, LockoutCommand
from service.sinks import SinkConfig, alert_version, lockout_payload, matching, payload, sink_url

log = logging.getLogger(__name__)

REGISTRY = CollectorRegistry()
DELIVERED = Counter("monitor_alert_deliveries", "Alert versions delivered, by sink", ["sink"], registry=REGISTRY)
FAILED = Counter(
    "monitor_alert_delivery_failures", "Failed delivery attempts (retried later), by sink", ["sink"], registry=REGISTRY
)
PENDING = Gauge("monitor_alert_deliveries_pending", "Alert versions waiting for delivery, by sink", ["sink"],
                registry=REGISTRY)  # fmt: skip

_JITTER = 0.2
_MAX_EXPONENT = 62  # 2**attempts beyond this is far past any max_backoff; keeps the float finite
_BODY_SNIPPET = 120

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS outbox (
        id INTEGER PRIMARY KEY,
        sink TEXT NOT NULL,
        alert_id TEXT NOT NULL,
        version TEXT NOT NULL,
        payload TEXT NOT NULL,
        created_at REAL NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_at REAL NOT NULL,
        delivered_at REAL,
        last_error TEXT,
        UNIQUE (sink, alert_id, version)
    )""",
    "CREATE INDEX IF NOT EXISTS outbox_due ON outbox (delivered_at, next_at)",
)


def create_tables(conn: sqlite3.Connection) -> None:
    """Create the outbox table and its due-rows index if missing (idempotent; commits nothing itself)."""
    for stmt in _SCHEMA:
        conn.execute(stmt)


def enqueue(
    conn: sqlite3.Connection, sinks: Sequence[SinkConfig], alert: Alert, *, now: float, console_url: str | None = None
) -> int:
    """Queue this alert version for every matching sink; returns rows added. The caller commits, with the alert."""
    version = alert_version(alert)
    added = 0
    for sink in matching(sinks, alert):
        body = json.dumps(payload(sink.kind, alert, console_url), separators=(",", ":"), ensure_ascii=False)
        cur = conn.execute(
            "INSERT OR IGNORE INTO outbox (sink, alert_id, version, payload, created_at, attempts, next_at)"
            " VALUES (?, ?, ?, ?, ?, 0, ?)",
            (sink.name, alert.id, version, body, now, now),
        )
        added += cur.rowcount
    return added


def enqueue_lockout(
    conn: sqlite3.Connection,
    sinks: Sequence[SinkConfig],
    cmd: LockoutCommand,
    *,
    now: float,
    console_url: str | None = None,
) -> int:
    """Queue an emergency lockout command for every sink that takes lockouts; the caller commits it with the step."""
    added = 0
    for sink in sinks:
        if not sink.lockouts:
            continue
        body = json.dumps(lockout_payload(sink.kind, cmd, console_url), separators=(",", ":"), ensure_ascii=False)
        cur = conn.execute(
            "INSERT OR IGNORE INTO outbox (sink, alert_id, version, payload, created_at, attempts, next_at)"
            " VALUES (?, ?, ?, ?, ?, 0, ?)",
            (sink.name, cmd.id, "lockout", body, now, now),
        )
        added += cur.rowcount
    return added


@dataclass(frozen=True)
class DeliveryReport:
    """What one delivery round did: rows delivered, attempts failed, rows still pending afterwards."""

    delivered: int
    failed: int
    pending: int


@dataclass(frozen=True)
class SinkStatus:
    """One sink's outbox for /health and the CLI: counts, age of the oldest pending row, and its last error."""

    sink: str
    pending: int
    delivered: int
    oldest_pending_age: float | None
    last_error: str | None
    configured: bool = True

    def to_dict(self) -> dict[str, Any]:
        """As JSON-ready data."""
        return asdict(self)


def pending(conn: sqlite3.Connection, *, now: float | None = None) -> list[SinkStatus]:
    """Per-sink outbox counts from the table, sorted by sink name (a sink appears once it has a row)."""
    at = time.time() if now is None else now
    rows = conn.execute(
        "SELECT sink, SUM(delivered_at IS NULL), SUM(delivered_at IS NOT NULL),"
        " MIN(CASE WHEN delivered_at IS NULL THEN created_at END) FROM outbox GROUP BY sink ORDER BY sink"
    ).fetchall()
    out = []
    for sink, n_pending, n_delivered, oldest in rows:
        err = conn.execute(
            "SELECT last_error FROM outbox WHERE sink = ? AND delivered_at IS NULL AND last_error IS NOT NULL"
            " ORDER BY id LIMIT 1",
            (sink,),
        ).fetchone()
        out.append(
            SinkStatus(
                sink=sink,
                pending=int(n_pending or 0),
                delivered=int(n_delivered or 0),
                oldest_pending_age=None if oldest is None else max(0.0, at - oldest),
                last_error=err[0] if err else None,
            )
        )
    return out


def status(conn: sqlite3.Connection, *, now: float | None = None) -> dict[str, dict[str, Any]]:
    """`pending` as JSON-ready data keyed by sink name, for /health and metrics readers holding a connection.

    /health answers without a token, so a last error shows the receiver's status, not the start of its answer that
    the log keeps: a receiver that echoes what it was sent would show an alert's summary to anyone who asks."""
    return {
        s.sink: {k: _without_body(v) if k == "last_error" else v for k, v in s.to_dict().items()
                 if k not in ("sink", "configured")}
        for s in pending(conn, now=now)
    }  # fmt: skip


def _without_body(reason: str | None) -> str | None:
    """'HTTP 404: <the receiver's answer>' as 'HTTP 404'; any other reason as it is."""
    if reason is not None and reason.startswith("HTTP "):
        return reason.split(":", 1)[0]
    return reason


class _RedactUrls(logging.Filter):
    """Rewrites httpx/httpcore log records that mention a sink URL, which is a secret, before any handler sees them."""

    def __init__(self) -> None:
        super().__init__()
        self._secrets: set[str] = set()
        self._lock = threading.Lock()

    def add(self, url: str) -> None:
        """Remember a URL (and its path, which carries the secret in Slack and Teams URLs) to redact."""
        parts = urlsplit(url)
        with self._lock:
            self._secrets.add(url)
            path = parts.path + (f"?{parts.query}" if parts.query else "")
            if len(path) > 1:
                self._secrets.add(path)

    def redact(self, text: str) -> str:
        """Text with every remembered URL or URL path replaced."""
        with self._lock:
            secrets = sorted(self._secrets, key=len, reverse=True)
        for s in secrets:
            if s in text:
                text = text.replace(s, "[sink url]")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        """Replace the record's message by its redacted form when it names a remembered URL."""
        if not self._secrets:
            return True
        try:
            msg = record.getMessage()
        except Exception:  # a malformed record: let logging report it as usual
            return True
        clean = self.redact(msg)
        if clean != msg:
            record.msg, record.args = clean, None
        return True


_REDACT = _RedactUrls()
for _name in ("httpx", "httpcore.connection", "httpcore.http11", "httpcore.http2", "httpcore.proxy", "httpcore.socks"):
    logging.getLogger(_name).addFilter(_REDACT)


def _error_reason(exc: Exception) -> str:
    """A short reason for a failed request that never contains the URL (httpx messages can)."""
    if isinstance(exc, httpx.TimeoutException):
        return f"timed out ({type(exc).__name__})"
    if isinstance(exc, httpx.ConnectError):
        return "connection failed (ConnectError)"
    if isinstance(exc, httpx.TransportError):
        return f"transport error ({type(exc).__name__})"
    return f"request failed ({type(exc).__name__})"


class Deliverer:
    """Delivers due outbox rows to their sinks over HTTP, with retries and backoff; run it in its own thread."""

    def __init__(
        self,
        db_path: str | Path,
        sinks: Sequence[SinkConfig],
        *,
        env: Mapping[str, str] = os.environ,
        client: httpx.Client | None = None,
        clock: Callable[[], float] = time.time,
        base_backoff: float = 1.0,
        max_backoff: float = 300.0,
        timeout: float = 10.0,
        batch: int = 100,
        rng: random.Random | None = None,
    ) -> None:
        """Open a WAL connection of our own (beside the writer's) and make sure the table exists."""
        self.sinks = {s.name: s for s in sinks}
        self.env = env
        self.clock = clock
        self.base_backoff = base_backoff
        self.max_backoff = max_backoff
        self.batch = batch
        self.rng = rng if rng is not None else random.Random()
        self._own_client = client is None
        self.client = client if client is not None else httpx.Client(timeout=timeout, follow_redirects=False)
        self._lock = threading.Lock()
        self.db_path = str(db_path)
        self.conn = sqlite3.connect(self.db_path, timeout=30, isolation_level=None, check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode=WAL")
        create_tables(self.conn)

    def close(self) -> None:
        """Close the connection, and the HTTP client when we made it."""
        with self._lock:
            self.conn.close()
            if self._own_client:
                self.client.close()

    def __enter__(self) -> Deliverer:
        """Use as a context manager that closes on exit."""
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        """Close on exit."""
        self.close()

    def _url(self, sink_name: str) -> tuple[str | None, str | None]:
        """The sink's URL from the environment, or why there is none (naming the variable, never the value)."""
        sink = self.sinks.get(sink_name)
        if sink is None:
            return None, f"sink {sink_name} is not configured"
        url, problem = sink_url(sink, self.env)
        if url is None:
            return None, problem
        _REDACT.add(url)
        return url, None

    def _post(self, url: str, sink: str, alert_id: str, version: str, body: str) -> str | None:
        """POST one payload; None when the sink took it (2xx), else a short reason without the URL."""
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": f"{sink}:{alert_id}:{version}",
            "X-Monitor-Alert-Id": alert_id,
        }
        try:
            resp = self.client.post(url, content=body.encode("utf-8"), headers=headers)
        except Exception as e:  # any failure is retried later; the message may hold the URL, so only its type is kept
            return _error_reason(e)
        if 200 <= resp.status_code < 300:
            return None
        snippet = " ".join(resp.text[:_BODY_SNIPPET].split())
        reason = f"HTTP {resp.status_code}" + (f": {_REDACT.redact(snippet)}" if snippet else "")
        return reason

    def _backoff(self, attempts: int) -> float:
        """Seconds until the next try after `attempts` earlier failures: doubling, capped, with ±20% jitter."""
        delay = min(self.max_backoff, self.base_backoff * 2.0 ** min(attempts, _MAX_EXPONENT))
        return delay * self.rng.uniform(1 - _JITTER, 1 + _JITTER)

    def _fail(self, row_id: int, sink: str, alert_id: str, attempts: int, reason: str, *, quiet: bool = False) -> None:
        """Record a failed attempt: count it, keep the reason, schedule the retry; `quiet` logs it at debug only."""
        now = self.clock()
        self.conn.execute(
            "UPDATE outbox SET attempts = ?, next_at = ?, last_error = ? WHERE id = ?",
            (attempts + 1, now + self._backoff(attempts), reason, row_id),
        )
        FAILED.labels(sink).inc()
        log.log(logging.DEBUG if quiet else logging.WARNING, "delivery to sink %s of alert %s failed (attempt %d): %s",
                sink, alert_id, attempts + 1, reason)  # fmt: skip

    def run_once(self) -> DeliveryReport:
        """Try each due undelivered row once, oldest first; an unreachable sink is not tried again this round."""
        with self._lock:
            now = self.clock()
            rows = self.conn.execute(
                "SELECT id, sink, alert_id, version, payload, attempts FROM outbox"
                " WHERE delivered_at IS NULL AND next_at <= ? ORDER BY id LIMIT ?",
                (now, self.batch),
            ).fetchall()
            delivered = failed = 0
            down: dict[str, str] = {}  # sink -> why it is not being tried again this round
            for row_id, sink, alert_id, version, body, attempts in rows:
                reason: str | None
                repeat = sink in down  # the sink already failed this round: one warning per sink per round is enough
                if repeat:
                    reason = down[sink]
                else:
                    url, missing = self._url(sink)
                    if url is None:
                        reason = down[sink] = missing or "no URL"
                    else:
                        reason = self._post(url, sink, alert_id, version, body)
                        if reason is not None and not reason.startswith("HTTP "):
                            # Unreachable (refused, timed out): don't spend a timeout per row on it this round.
                            down[sink] = f"not tried: sink unreachable this round ({reason})"
                if reason is None:
                    self.conn.execute("UPDATE outbox SET delivered_at = ?, last_error = NULL WHERE id = ?",
                                      (self.clock(), row_id))  # fmt: skip
                    DELIVERED.labels(sink).inc()
                    delivered += 1
                    log.info("delivered alert %s version %s to sink %s", alert_id, version, sink)
                else:
                    self._fail(row_id, sink, alert_id, attempts, reason, quiet=repeat)
                    failed += 1
            left = self._update_pending_gauge()
        return DeliveryReport(delivered=delivered, failed=failed, pending=left)

    def _update_pending_gauge(self) -> int:
        """Set the pending gauge for every sink with rows or configuration; returns the total pending."""
        counts = dict(self.conn.execute("SELECT sink, COUNT(*) FROM outbox WHERE delivered_at IS NULL GROUP BY sink"))
        for name in set(counts) | set(self.sinks):
            PENDING.labels(name).set(counts.get(name, 0))
        return sum(counts.values())

    def run_forever(self, stop: threading.Event, interval: float = 1.0) -> None:
        """Deliver until `stop` is set: a round every `interval` seconds, at once again after a full batch."""
        while not stop.is_set():
            try:
                report = self.run_once()
            except sqlite3.Error as e:  # e.g. the database busy beyond the timeout: try again next round
                log.error("outbox delivery round failed: %s: %s", type(e).__name__, e)
                report = DeliveryReport(0, 0, 0)
            if report.delivered + report.failed < self.batch:
                stop.wait(interval)

    def status(self) -> list[SinkStatus]:
        """Per-sink outbox status, with configured sinks that have no rows and rows of sinks no longer configured."""
        conn = sqlite3.connect(self.db_path, timeout=30)  # its own, so /health never waits for a delivery round
        try:
            found = {s.sink: s for s in pending(conn, now=self.clock())}
        finally:
            conn.close()
        out = []
        for name in sorted(set(found) | set(self.sinks)):
            s = found.get(name, SinkStatus(name, 0, 0, None, None))
            out.append(SinkStatus(s.sink, s.pending, s.delivered, s.oldest_pending_age, s.last_error,
                                  configured=name in self.sinks))  # fmt: skip
        return out
