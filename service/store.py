"""The embedded runtime's durable state in one SQLite file: the input log, the alerts, the audit trail.

The log (accepted events, clock advances, people acting on alerts) is the truth: the engine's state is the
fold of it, rebuilt on start. Everything one step produces (its log rows, the alert versions, lockouts,
grants, outbox rows) is written in the same transaction as the log rows, so a crash at any moment leaves
either all of a step or none of it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from schemas.alerts import Alert, EmergencyGrant, LockoutCommand

log = logging.getLogger("service.store")

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS log (seq INTEGER PRIMARY KEY, kind TEXT NOT NULL, body BLOB NOT NULL, key BLOB);
CREATE UNIQUE INDEX IF NOT EXISTS log_by_key ON log (key) WHERE key IS NOT NULL;
CREATE TABLE IF NOT EXISTS alerts (
    id TEXT PRIMARY KEY, control TEXT NOT NULL, severity TEXT NOT NULL, status TEXT NOT NULL,
    account_id TEXT, person_id TEXT, raised_at TEXT NOT NULL, updated_at TEXT NOT NULL, body TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS alerts_by_time ON alerts (raised_at, id);
CREATE TABLE IF NOT EXISTS alert_versions (
    id INTEGER PRIMARY KEY, alert_id TEXT NOT NULL, updated_at TEXT NOT NULL, status TEXT NOT NULL,
    severity TEXT NOT NULL, body TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS versions_by_alert ON alert_versions (alert_id, id);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY, at TEXT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
    target TEXT, detail TEXT);
CREATE INDEX IF NOT EXISTS audit_by_target ON audit (target, id);
CREATE TABLE IF NOT EXISTS lockouts (
    id TEXT PRIMARY KEY, account_id TEXT NOT NULL, alert_id TEXT NOT NULL, issued_at TEXT NOT NULL, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS grants (
    id TEXT PRIMARY KEY, account_id TEXT NOT NULL, requester_id TEXT NOT NULL, granted_at TEXT NOT NULL,
    expires_at TEXT NOT NULL, evidence TEXT NOT NULL, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS rejections (
    id INTEGER PRIMARY KEY, at TEXT NOT NULL, origin TEXT NOT NULL, line INTEGER, event_id TEXT, reason TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS snapshot (id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL,
    code TEXT NOT NULL, blob BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS tokens (
    hash TEXT PRIMARY KEY, name TEXT NOT NULL, role TEXT NOT NULL, created_at TEXT NOT NULL, revoked_at TEXT);
"""


@dataclass(frozen=True, slots=True)
class AuditEntry:
    at: str
    actor: str
    action: str
    target: str | None
    detail: str | None


def storable(text: str) -> str:
    """`text` as SQLite can hold it. UTF-8 cannot hold a lone surrogate, which valid JSON can (`"\\udc00"`, taken by
    Python's decoder, as in the id a rejected line is named by): one is kept as its backslash escape, so an id from
    outside never makes a step fail."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


_warned: set[Path] = set()  # folders and files open to others already warned about, once a process


def private_folder(path: Path, *, tighten: bool = False) -> None:
    """Make the folder `path` for the monitor's user alone (0700) if it is missing; the monitor's data (the HR
    leaver reports, the alerts, the audit trail, the token hashes) is no other local user's business.

    One made earlier that other users may enter is made 0700 too when `tighten` (done/, rejected/: the monitor's
    alone), else warned about once and left: an account that feeds the drop folder may need to reach the inbox."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    _keep_private(path, 0o700, tighten, "; the monitor makes its folders 0700: `chmod 700 {}` unless an account that "
                  "feeds the drop folder needs it")  # fmt: skip


def _private_files(db: Path) -> None:
    """The database made for its user alone (0600) before SQLite opens it: SQLite gives the -wal and -shm files it
    makes later the database's mode. Files an earlier version made open to others are made 0600."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(db, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    for p in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        with contextlib.suppress(FileNotFoundError):
            _keep_private(p, 0o600, True, ": `chmod 600 {}`")


def _keep_private(path: Path, mask: int, tighten: bool, advice: str) -> None:
    """`path` made by an earlier version open to other users: given its mode within `mask` when `tighten` (said in
    the log), else, or when that fails (not this user's), warned about once a process with `advice` ({}: the path)."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if not mode & 0o077:
        return
    if tighten:
        try:
            path.chmod(mode & mask)
        except OSError:
            pass
        else:
            log.warning("%s was open to other users (mode %o): made %o", path, mode, mode & mask)
            return
    if path not in _warned:
        _warned.add(path)
        log.warning("%s may be read by other users (mode %o)%s", path, mode, advice.format(path))


def connect(path: Path) -> sqlite3.Connection:
    """A connection in WAL mode with full fsync on commit: a committed step survives a power cut. The database and
    its folder are made for the monitor's user alone (see private_folder)."""
    private_folder(path.parent)
    _private_files(path)
    conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


class Store:
    """Typed reads and writes over the monitor's SQLite file; writes join the caller's transaction."""

    def __init__(self, conn: sqlite3.Connection, *, create: bool = True) -> None:
        self.conn = conn
        if create:
            conn.executescript(SCHEMA)

    # ----- transactions --------------------------------------------------------------------------

    def begin(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")

    def commit(self) -> None:
        self.conn.execute("COMMIT")

    def rollback(self) -> None:
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK")

    # ----- meta ----------------------------------------------------------------------------------

    def meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (storable(key),)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self.conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (storable(key), storable(value)))

    # ----- the log -------------------------------------------------------------------------------

    def append(self, kind: str, body: bytes, key: bytes | None = None) -> None:
        """Add a log row; `key` is an event's identity, (source, id), which the log holds at most once."""
        self.conn.execute("INSERT INTO log (kind, body, key) VALUES (?, ?, ?)", (kind, body, key))

    def has_event(self, key: bytes) -> bool:
        return self.conn.execute("SELECT 1 FROM log WHERE key = ?", (key,)).fetchone() is not None

    def log(self, batch: int = 5000) -> Iterator[tuple[int, str, bytes]]:
        """Every log row in order, read in batches so a long log does not sit in memory twice."""
        return self.log_from(0, batch)

    def log_from(self, after: int, batch: int = 5000) -> Iterator[tuple[int, str, bytes]]:
        """Log rows after `after`, in order."""
        last = after
        while True:
            rows = self.conn.execute(
                "SELECT seq, kind, body FROM log WHERE seq > ? ORDER BY seq LIMIT ?", (last, batch)
            ).fetchall()
            if not rows:
                return
            for seq, kind, body in rows:
                yield int(seq), str(kind), bytes(body)
            last = rows[-1][0]

    def last_seq(self) -> int:
        row = self.conn.execute("SELECT MAX(seq) FROM log").fetchone()
        return int(row[0] or 0)

    def put_snapshot(self, seq: int, code: str, blob: bytes) -> None:
        self.conn.execute(
            "INSERT OR REPLACE INTO snapshot (id, seq, code, blob) VALUES (1, ?, ?, ?)", (seq, code, blob)
        )

    def get_snapshot(self) -> tuple[int, str, bytes] | None:
        row = self.conn.execute("SELECT seq, code, blob FROM snapshot WHERE id = 1").fetchone()
        return None if row is None else (int(row[0]), str(row[1]), bytes(row[2]))

    def log_size(self) -> int:
        return int(self.conn.execute("SELECT COUNT(*) FROM log").fetchone()[0])

    # ----- alerts --------------------------------------------------------------------------------

    def put_alert(self, a: Alert) -> None:
        body = a.model_dump_json()
        self.conn.execute(
            "INSERT OR REPLACE INTO alerts (id, control, severity, status, account_id, person_id, raised_at,"
            " updated_at, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                a.id,
                a.control,
                a.severity,
                a.status,
                a.account_id,
                a.person_id,
                a.raised_at.isoformat(),
                a.updated_at.isoformat(),
                body,
            ),
        )
        self.conn.execute(
            "INSERT INTO alert_versions (alert_id, updated_at, status, severity, body) VALUES (?, ?, ?, ?, ?)",
            (a.id, a.updated_at.isoformat(), a.status, a.severity, body),
        )

    def alert(self, alert_id: str) -> Alert | None:
        row = self.conn.execute("SELECT body FROM alerts WHERE id = ?", (alert_id,)).fetchone()
        return None if row is None else Alert.model_validate_json(row[0])

    def alerts(
        self,
        *,
        status: Sequence[str] = (),
        control: Sequence[str] = (),
        severity: Sequence[str] = (),
        account_id: str | None = None,
        person_id: str | None = None,
        limit: int = 200,
        offset: int = 0,
    ) -> tuple[int, list[Alert]]:
        """(total matching, one page of alerts), newest first."""
        where: list[str] = []
        args: list[Any] = []
        for col, values in (("status", status), ("control", control), ("severity", severity)):
            if values:
                where.append(f"{col} IN ({','.join('?' * len(values))})")
                args.extend(values)
        for col, value in (("account_id", account_id), ("person_id", person_id)):
            if value:
                where.append(f"{col} = ?")
                args.append(value)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        total = int(self.conn.execute(f"SELECT COUNT(*) FROM alerts{clause}", args).fetchone()[0])
        rows = self.conn.execute(
            f"SELECT body FROM alerts{clause} ORDER BY raised_at DESC, id DESC LIMIT ? OFFSET ?", [*args, limit, offset]
        ).fetchall()
        return total, [Alert.model_validate_json(r[0]) for r in rows]

    def all_alerts(self) -> list[Alert]:
        """Every alert's current version in the replay order (raised_at, id)."""
        rows = self.conn.execute("SELECT body FROM alerts").fetchall()
        found = [Alert.model_validate_json(r[0]) for r in rows]
        return sorted(found, key=lambda a: (a.raised_at, a.id))

    def versions(self, alert_id: str) -> list[Alert]:
        rows = self.conn.execute("SELECT body FROM alert_versions WHERE alert_id = ? ORDER BY id", (alert_id,))
        return [Alert.model_validate_json(r[0]) for r in rows]

    def alert_counts(self) -> dict[str, int]:
        rows = self.conn.execute("SELECT status, COUNT(*) FROM alerts GROUP BY status").fetchall()
        return {str(s): int(n) for s, n in rows}

    # ----- lockouts and grants -------------------------------------------------------------------

    def put_lockout(self, cmd: LockoutCommand) -> None:
        self.conn.execute(
            "INSERT OR IGNORE INTO lockouts (id, account_id, alert_id, issued_at, body) VALUES (?, ?, ?, ?, ?)",
            (cmd.id, cmd.account_id, cmd.alert_id, cmd.issued_at.isoformat(), cmd.model_dump_json()),
        )

    def lockouts(self, account_id: str | None = None) -> list[LockoutCommand]:
        q = "SELECT body FROM lockouts" + (" WHERE account_id = ?" if account_id else "") + " ORDER BY issued_at, id"
        rows = self.conn.execute(q, (account_id,) if account_id else ()).fetchall()
        return [LockoutCommand.model_validate_json(r[0]) for r in rows]

    def put_grant(self, g: EmergencyGrant) -> None:
        self.conn.execute(
            "INSERT OR IGNORE INTO grants (id, account_id, requester_id, granted_at, expires_at, evidence, body)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                g.id,
                g.account_id,
                g.requester_id,
                g.granted_at.isoformat(),
                g.expires_at.isoformat(),
                g.evidence,
                g.model_dump_json(),
            ),
        )

    def grants(self) -> list[EmergencyGrant]:
        rows = self.conn.execute("SELECT body FROM grants ORDER BY granted_at, id").fetchall()
        return [EmergencyGrant.model_validate_json(r[0]) for r in rows]

    def grant_for(self, request_id: str) -> EmergencyGrant | None:
        row = self.conn.execute("SELECT body FROM grants WHERE evidence = ?", (request_id,)).fetchone()
        return None if row is None else EmergencyGrant.model_validate_json(row[0])

    # ----- audit and rejections ------------------------------------------------------------------

    def audit(self, at: str, actor: str, action: str, target: str | None = None, detail: Any = None) -> None:
        text = None if detail is None else detail if isinstance(detail, str) else json.dumps(detail, sort_keys=True)
        self.conn.execute(
            "INSERT INTO audit (at, actor, action, target, detail) VALUES (?, ?, ?, ?, ?)",
            (at, actor, action, target, text),
        )

    def audit_trail(self, target: str | None = None, limit: int = 500) -> list[AuditEntry]:
        if target is None:
            rows = self.conn.execute(
                "SELECT at, actor, action, target, detail FROM audit ORDER BY id DESC LIMIT ?", (limit,)
            ).fetchall()
        else:
            rows = self.conn.execute(
                "SELECT at, actor, action, target, detail FROM audit WHERE target = ? ORDER BY id LIMIT ?",
                (target, limit),
            ).fetchall()
        return [AuditEntry(*r) for r in rows]

    def reject(self, at: str, origin: str, line: int | None, event_id: str | None, reason: str) -> None:
        self.conn.execute(
            "INSERT INTO rejections (at, origin, line, event_id, reason) VALUES (?, ?, ?, ?, ?)",
            (at, storable(origin), line, None if event_id is None else storable(event_id), storable(reason)),
        )

    def rejections(self, limit: int = 200) -> list[dict[str, Any]]:
        rows = self.conn.execute(
            "SELECT at, origin, line, event_id, reason FROM rejections ORDER BY id DESC LIMIT ?", (limit,)
        ).fetchall()
        return [dict(zip(("at", "origin", "line", "event_id", "reason"), r, strict=True)) for r in rows]
