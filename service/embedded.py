"""The embedded runtime: the engine in one process, its input log and outputs in SQLite, no broker.

Every step (a batch of events, a clock advance, someone acknowledging an alert) runs under one lock and
commits its log rows together with everything it produced. On start the engine is rebuilt by folding the
log, so a restart, even after kill -9, loses nothing and repeats nothing: an event whose batch committed is
in the log and is a duplicate if sent again; one whose batch did not commit was never acknowledged.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from monitor.arrival import DEFAULT_MAX_AHEAD, refuse_if_ahead
from monitor.codeversion import code_version
from monitor.directory import directory_events, parse_directory
from monitor.engine import Engine, EngineError
from monitor.gcpause import collector_paused
from monitor.policy import Profile
from monitor.replay import prepared_engine
from monitor.report import LeaverRow, leaver_report
from schemas.alerts import Alert, EmergencyGrant, LockoutCommand
from schemas.directory import Directory, Organisation
from schemas.events import Event, Rejected, parse_event, parse_event_obj
from service import outbox
from service.sinks import SinkConfig
from service.store import Store, connect, private_folder, storable

log = logging.getLogger("service.embedded")


CODE_VERSION = code_version()
T = TypeVar("T")
API_SOURCE = "monitor/api"


class StateMismatch(Exception):
    """The data directory was started with another policy, directory or lateness."""


class InUse(StateMismatch):
    """Another embedded monitor holds this data directory: two would each fold only their own events."""


def _hold(lock_path: Path) -> int:
    """An exclusive lock on `lock_path`, held until the descriptor is closed or the process ends (even kill -9)."""
    private_folder(lock_path.parent)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise InUse(
            f"{lock_path.parent} is in use by another monitor (pid {holder}); stop it first, and let it finish "
            "closing: it saves a snapshot on the way out"
        ) from None
    os.ftruncate(fd, 0)
    os.write(fd, str(os.getpid()).encode())
    return fd


@dataclass(frozen=True, slots=True)
class Rejection:
    origin: str
    line: int | None
    event_id: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class Status:
    """The monitor's state for probes and scrapes (`EmbeddedMonitor.status`), as of the last committed step."""

    clock: datetime | None
    log_entries: int
    alerts: dict[str, int]
    outbox: dict[str, Any]
    busy: str | None  # what the engine is doing now, when a step holds it
    busy_seconds: float | None
    events_by_type: dict[str, int]
    rule_errors: dict[str, int]


@dataclass(slots=True)
class StepResult:
    """What one step took and made."""

    accepted: int = 0
    duplicates: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    lockouts: list[LockoutCommand] = field(default_factory=list)
    grants: list[EmergencyGrant] = field(default_factory=list)


def utcnow() -> datetime:
    return datetime.now(UTC)


class EmbeddedMonitor:
    """One organisation's monitor over one SQLite file; safe to call from several threads."""

    def __init__(
        self,
        db_path: Path,
        profile: Profile,
        directory_text: str | None = None,
        *,
        directory_origin: str = "directory",
        lateness: timedelta = timedelta(0),
        sinks: Sequence[SinkConfig] = (),
        console_url: str | None = None,
        clock: Callable[[], datetime] = utcnow,
        max_ahead: timedelta | None = DEFAULT_MAX_AHEAD,
        snapshot_every: int = 50_000,
        close_snapshot_after: int = 10_000,
    ) -> None:
        # A directory file is checked before anything is written (errors name `directory_origin` and the line),
        # unless it is the one this data folder was started with, whose parsed form is kept (see _keep_register).
        given = parse_directory(directory_text, directory_origin) if directory_text and not db_path.exists() else None
        self.db_path = db_path
        self.snapshot_every = snapshot_every
        self.close_snapshot_after = close_snapshot_after
        self._snapshot_seq = 0
        self.profile = profile
        self.lateness = lateness
        self.sinks = list(sinks)
        self.console_url = console_url
        self.clock = clock
        self.max_ahead = max_ahead  # events stamped further ahead of `clock` are refused (monitor/arrival.py)
        self._lock = threading.RLock()
        self._busy: list[tuple[str, float]] = []  # what holds the lock, outermost first, and since when (monotonic)
        self._reader_lock = threading.Lock()
        self._reader: Store | None = None  # a connection of its own for `status`, opened on first use
        self._warnings: dict[str, str] = {}  # what /health says is wrong, by what reports it (see `warn`)
        self._warnings_lock = threading.Lock()
        self._held = _hold(db_path.with_name(db_path.name + ".lock"))
        try:
            self.store = Store(connect(db_path))
            outbox.create_tables(self.store.conn)
            if directory_text and given is None and directory_text != self.store.meta("directory"):
                given = parse_directory(directory_text, directory_origin)
            self.directory_text: str | None = self._pin_settings(directory_text)
            self._directory: Directory | None = given
            self.organisation: Organisation | None = self._keep_register(self.directory_text, given)
            self._collected: dict[str, Alert] = {}
            self.engine = self._rebuild()
        except BaseException:
            if hasattr(self, "store"):
                self.store.conn.close()
            os.close(self._held)  # a start that failed holds nothing
            self._held = -1
            raise

    # ----- start ---------------------------------------------------------------------------------

    def _pin_settings(self, directory_text: str | None) -> str | None:
        """The first start fixes policy, directory and lateness; later starts must agree (the log depends on them)."""
        s = self.store
        wanted = {
            "policy": self.profile.name,
            "lateness": str(self.lateness.total_seconds()),
        }
        found = {k: s.meta(k) for k in wanted}
        stored_dir = s.meta("directory")
        if all(v is None for v in found.values()):
            s.begin()
            for k, v in wanted.items():
                s.set_meta(k, v)
            s.set_meta("directory", directory_text or "")
            s.commit()
            return directory_text
        for k, v in wanted.items():
            if found[k] != v:
                raise StateMismatch(
                    f"{self.db_path} was started with {k} {found[k]!r}, not {v!r}: use the same {k}, "
                    "or a new --data-dir for a new monitor"
                )
        if directory_text is not None and directory_text != stored_dir:
            raise StateMismatch(
                f"{self.db_path} was started with another directory file; the register is now kept in the "
                "monitor: change it with `monitor directory import` (or a new --data-dir for a new monitor)"
            )
        return stored_dir or None

    def _keep_register(self, text: str | None, parsed: Directory | None) -> Organisation | None:
        """The organisation of the register this data folder was started with; the register itself is kept parsed
        beside its text, so a later start reads it back as JSON, and only if it needs it (see `directory`):
        a start from a snapshot never does. Opening with 10,000 accounts: 0.8 s instead of 6.5 s."""
        if not text:
            return None
        digest = hashlib.sha256(text.encode()).hexdigest()
        kept = self.store.meta("directory_organisation")
        if parsed is None and kept is not None and kept.startswith(digest + "\n"):
            return Organisation.model_validate_json(kept[len(digest) + 1 :])
        if parsed is None:
            parsed = parse_directory(text, "directory")
        self.store.begin()
        self.store.set_meta("directory_parsed", f"{digest}\n{parsed.model_dump_json()}")
        self.store.set_meta("directory_organisation", f"{digest}\n{parsed.organisation.model_dump_json()}")
        self.store.commit()
        self._directory = parsed
        return parsed.organisation

    @property
    def directory(self) -> Directory | None:
        """The register this data folder was started with (before any import), read back on first use."""
        if self._directory is None and self.directory_text:
            kept = self.store.meta("directory_parsed") or ""
            self._directory = Directory.model_validate_json(kept.partition("\n")[2])
        return self._directory

    def _register_events(self) -> Iterator[Event]:
        """The register's directory.* events, drawn by the engine at its first moment (never after a restore)."""
        d = self.directory
        if d is not None:
            yield from directory_events(d)

    def _new_engine(self) -> Engine:
        register = self._register_events() if self.directory_text else None
        engine = prepared_engine(self.profile, self.organisation, register, self.lateness)
        # The log holds every event id for good (see _take); the engine need only remember the recent ones.
        engine.dedup_horizon = self.lateness + timedelta(hours=1)
        return engine

    def _rebuild(self) -> Engine:
        """Restore the last snapshot and fold the log after it, emitting nothing (the outputs were committed)."""
        started = time.perf_counter()
        engine = self._new_engine()
        after = 0
        snap = self.store.get_snapshot()
        if snap is not None and snap[1] == CODE_VERSION:
            try:
                with collector_paused():
                    engine.restore(snap[2])
                after = snap[0]
            except Exception as exc:  # a snapshot only saves time: the log is the truth
                log.warning("the snapshot could not be restored (%s); folding the whole log instead", exc)
                engine = self._new_engine()
        elif snap is not None:
            log.info("the snapshot was written by other code; folding the whole log instead")
        n = 0
        with collector_paused():
            for _, kind, body in self.store.log_from(after):
                _apply(engine, kind, body)
                n += 1
        self._snapshot_seq = after
        engine.on_alert = self._collect
        if n or after:
            log.info(
                "rebuilt the engine from %s and %d log entries in %.2fs",
                f"a snapshot at entry {after}" if after else "nothing",
                n,
                time.perf_counter() - started,
            )
        return engine

    @contextlib.contextmanager
    def _holding(self, what: str) -> Iterator[None]:
        """The lock, with what holds it and since when noted for `status`, which does not wait for it.

        `what` is shown by /health, which needs no token: it names a kind of work, never a person or an id.
        """
        with self._lock:
            self._busy.append((what, time.monotonic()))
            try:
                yield
            finally:
                self._busy.pop()

    def status(self) -> Status:
        """What /health and /metrics show, read without waiting for the engine's lock: a long step (folding a
        large register, an import, a snapshot) is shown as such instead of holding every probe until it ends.

        The counts come from the last committed step, read on a connection of this reader's own.
        """
        busy = self._busy[:]  # a copy: the holder's thread changes the list
        engine = self.engine
        with self._reader_lock:
            if self._held < 0:
                raise EngineError("the monitor is closed")
            if self._reader is None:
                self._reader = Store(connect(self.db_path), create=False)
            reader = self._reader
            log_entries, alerts = reader.log_size(), reader.alert_counts()
            try:
                outbox_status: dict[str, Any] = dict(outbox.status(reader.conn))
            except Exception:  # a probe still answers; the outbox's own errors are in the log
                outbox_status = {"error": "outbox unreadable"}
        return Status(
            clock=engine.clock,
            log_entries=log_entries,
            alerts=alerts,
            outbox=outbox_status,
            busy=busy[-1][0] if busy else None,  # the innermost: a step's snapshot shows as the snapshot
            busy_seconds=round(time.monotonic() - busy[0][1], 1) if busy else None,  # since the lock was taken
            events_by_type=dict(engine.stats.events),
            rule_errors=dict(engine.stats.rule_errors),
        )

    def warn(self, about: str, warning: str | None) -> None:
        """Say what is wrong with `about` (the drop folder, the clock, a file) on /health, or (None) that it is over."""
        with self._warnings_lock:
            if warning is None:
                self._warnings.pop(about, None)
            else:
                self._warnings[about] = warning

    def warnings(self) -> list[str]:
        """What /health names as wrong, besides the configuration (see `warn`)."""
        with self._warnings_lock:
            return list(self._warnings.values())

    def snapshot(self) -> None:
        """Save the engine's state beside the log, so the next start folds only what came after."""
        with self._holding("saving a snapshot"):
            seq = self.store.last_seq()
            if seq == self._snapshot_seq:
                return
            with collector_paused():
                blob = self.engine.snapshot()
            self.store.begin()
            self.store.put_snapshot(seq, CODE_VERSION, blob)
            self.store.commit()
            self._snapshot_seq = seq

    # ----- steps ---------------------------------------------------------------------------------

    def _collect(self, a: Alert) -> None:
        self._collected[a.id] = a

    def _step(self, work: Callable[[StepResult], T], what: str) -> tuple[T, StepResult]:
        """Run `work` against the engine and commit its log rows and outputs together, or neither."""
        with self._holding(what):
            engine = self.engine
            result = StepResult()
            n_lockouts, n_grants = len(engine.lockouts), len(engine.grants)
            self._collected = {}
            self.store.begin()
            try:
                value = work(result)
                now = time.time()
                for a in self._collected.values():
                    self.store.put_alert(a)
                    outbox.enqueue(self.store.conn, self.sinks, a, now=now, console_url=self.console_url)
                for cmd in engine.lockouts[n_lockouts:]:
                    self.store.put_lockout(cmd)
                    outbox.enqueue_lockout(self.store.conn, self.sinks, cmd, now=now, console_url=self.console_url)
                    self.store.audit(cmd.issued_at.isoformat(), "monitor", "lockout.issued", cmd.account_id, cmd.id)
                for g in engine.grants[n_grants:]:
                    self.store.put_grant(g)
                    self.store.audit(
                        g.granted_at.isoformat(),
                        "monitor",
                        "emergency.granted",
                        g.evidence,
                        {"account_id": g.account_id, "requester_id": g.requester_id, "until": g.expires_at.isoformat()},
                    )
                self.store.commit()
                due = self.snapshot_every and self.store.last_seq() - self._snapshot_seq >= self.snapshot_every
            except EngineError:
                self.store.rollback()  # raised before the engine changed anything
                raise
            except BaseException:
                self.store.rollback()
                self.engine = self._rebuild()  # the engine may hold half a step: fold the committed log again
                raise
            result.alerts = list(self._collected.values())
            result.lockouts = engine.lockouts[n_lockouts:]
            result.grants = engine.grants[n_grants:]
            self._collected = {}
            if due:
                self.snapshot()
            return value, result

    def submit(
        self,
        lines: Iterable[tuple[str, int | None, bytes]],
        actor: str,
        mark: tuple[str, str | Callable[[StepResult], str]] | None = None,
    ) -> StepResult:
        """Validate and take raw events (origin, line, bytes); bad ones are recorded with their reason.

        `mark` (key, value) is stored in the same transaction: a reader's progress through a file. A value that is
        a function is given the step's result just before the commit, under the lock (the drop folder writes the
        batch's rejected lines there, so that no mark is committed before them), and returns the value.
        """

        def work(result: StepResult) -> None:
            now = self.clock()
            at = now.isoformat()
            for origin, line, raw in lines:
                try:
                    ev = parse_event(raw)
                    if self.max_ahead is not None:
                        refuse_if_ahead(ev, now, self.max_ahead)
                except Rejected as rej:
                    # Named as UTF-8 can hold it: the rejection is stored, answered in JSON and written to .errors.
                    event_id = None if rej.event_id is None else storable(rej.event_id)
                    result.rejected.append(Rejection(origin, line, event_id, storable(rej.reason)))
                    self.store.reject(at, origin, line, event_id, rej.reason)
                    continue
                self._take(ev, raw, result)
            if result.accepted or result.rejected:
                detail = {
                    "accepted": result.accepted,
                    "duplicates": result.duplicates,
                    "rejected": len(result.rejected),
                }
                self.store.audit(at, actor, "events.submitted", None, detail)
            if mark is not None:
                key, value = mark
                self.store.set_meta(key, value if isinstance(value, str) else value(result))

        return self._step(work, "taking events")[1]

    def submit_events(
        self,
        events: Sequence[Event],
        actor: str,
        action: str = "events.submitted",
        in_effect_at: datetime | None = None,
    ) -> StepResult:
        """Take events built by the monitor itself (API forms, directory import).

        With `in_effect_at`, event time moves to it in the same step, past the lateness: a registrar's import
        is in the register, and in its export, as soon as the call returns.
        """

        def work(result: StepResult) -> None:
            for ev in events:
                self._take(ev, ev.model_dump_json(exclude_none=True).encode(), result)
            at = self.clock().isoformat()
            self.store.audit(at, actor, action, None, {"accepted": result.accepted, "duplicates": result.duplicates})
            if in_effect_at is not None:
                self._move_to(in_effect_at)

        return self._step(work, f"taking {len(events):,} events ({action})")[1]

    def _take(self, ev: Event, raw: bytes, result: StepResult) -> None:
        # The engine forgets ids after a week of event time (its memory follows the state); the log does not.
        key = event_key(ev)
        if not self.store.has_event(key) and self.engine.submit(ev):
            self.store.append("event", raw, key)
            result.accepted += 1
        else:
            result.duplicates += 1

    def advance(self, until: datetime) -> StepResult:
        """Move event time to `until` (the wall clock less the lateness, or an operator's command)."""
        return self._step(lambda result: self._move_to(until), f"moving event time to {until.isoformat()}")[1]

    def _move_to(self, until: datetime) -> None:
        """Inside a step: move event time on to `until` and log it (a time already passed changes nothing)."""
        clock = self.engine.clock
        if clock is not None and until < clock:
            return
        self.engine.advance(until)
        self.store.append("advance", until.isoformat().encode())

    def tick(self) -> StepResult:
        """Advance to the wall clock less the lateness, so a quiet stream still meets its deadlines."""
        return self.advance(self.clock() - self.lateness)

    def acknowledge(self, alert_id: str, actor: str, note: str | None = None) -> Alert:
        return self._act_on_alert("ack", alert_id, actor, note)

    def resolve(self, alert_id: str, actor: str, note: str | None = None) -> Alert:
        return self._act_on_alert("resolve", alert_id, actor, note)

    def _act_on_alert(self, kind: str, alert_id: str, actor: str, note: str | None) -> Alert:
        def work(result: StepResult) -> Alert:
            at = self.clock()
            body = {"alert_id": alert_id, "by": actor, "at": at.isoformat(), "note": note}
            before = self.engine.alerts.get(alert_id)
            # A resolve of a resolved alert changes nothing and keeps the first note; an acknowledge of an
            # acknowledged one changes nothing either, but its note lives only in the audit trail, so one is kept.
            done = before is not None and (
                (kind == "resolve" and before.status == "resolved")
                or (kind == "ack" and before.status == "acknowledged" and not note)
            )
            a = _apply_command(self.engine, kind, body)
            if done:  # nothing to show in the audit trail
                return a
            self.store.append(kind, json.dumps(body).encode())
            action = "alert.acknowledged" if kind == "ack" else "alert.resolved"
            self.store.audit(at.isoformat(), actor, action, alert_id, {"note": note} if note else None)
            return a

        return self._step(work, "acting on an alert")[0]

    def request_emergency(
        self, account_id: str, requester_id: str, reason: str, minutes: int | None, actor: str
    ) -> tuple[str, StepResult]:
        """File an emergency.access_requested event for the requester; EMG-02 grants or refuses it."""
        now = self.clock()
        rid = (
            "er-"
            + hashlib.blake2b(
                f"{requester_id}\x1f{account_id}\x1f{now.isoformat()}".encode(), digest_size=8
            ).hexdigest()
        )
        data: dict[str, Any] = {"account_id": account_id, "requester_id": requester_id, "reason": reason}
        if minutes is not None:
            data["minutes"] = minutes
        ev = parse_event_obj(
            {
                "specversion": "1.0",
                "id": rid,
                "source": API_SOURCE,
                "type": "emergency.access_requested",
                "time": now.isoformat(),
                "data": data,
            }
        )

        def work(result: StepResult) -> None:
            self._take(ev, ev.model_dump_json(exclude_none=True).encode(), result)
            self.store.audit(
                now.isoformat(), actor, "emergency.requested", rid, {"account_id": account_id, "reason": reason}
            )
            self._move_to(now)  # the request is judged at its own time: the engine reaches it even with a lateness

        return rid, self._step(work, "taking a request")[1]

    def progress(self, key: str) -> str | None:
        """A reader's committed progress mark (see `submit`)."""
        return self.read(lambda _, s: s.meta(key))

    def audit(self, actor: str, action: str, target: str | None = None, detail: Any = None) -> None:
        """Record something a person did that is not an event (token use is not recorded: it is every request)."""
        with self._holding("recording an audit entry"):
            self.store.begin()
            self.store.audit(self.clock().isoformat(), actor, action, target, detail)
            self.store.commit()

    # ----- reads ---------------------------------------------------------------------------------

    def read(self, fn: Callable[[Engine, Store], T]) -> T:
        """Run a read against the engine and store under the lock."""
        with self._holding("reading"):
            return fn(self.engine, self.store)

    def leaver_report(self) -> list[LeaverRow]:
        return self.read(lambda e, _: leaver_report(e))

    def final_alerts(self) -> list[Alert]:
        return self.read(lambda _, s: s.all_alerts())

    def close(self, snapshot: bool = True) -> None:
        """Save a snapshot (a quick next start) and close the database.

        Only when there is none yet or `close_snapshot_after` log entries came after the last one: saving
        100,000 accounts takes about 20 s, folding a few thousand entries on the next start well under one.
        """
        with self._holding("closing"):
            if self._held < 0:
                return  # closed already
            try:
                behind = self.store.last_seq() - self._snapshot_seq
                if snapshot and behind and (not self._snapshot_seq or behind >= self.close_snapshot_after):
                    self.snapshot()
            except Exception:  # a failed snapshot costs only start-up time: the log is the truth
                log.exception("could not save a snapshot on closing")
            self.store.conn.close()
            with self._reader_lock:
                if self._reader is not None:
                    self._reader.conn.close()
                    self._reader = None
                os.close(self._held)
                self._held = -1


def event_key(ev: Event) -> bytes:
    """An event's identity, (source, id), as 16 bytes."""
    return hashlib.blake2b(f"{len(ev.source)}:{ev.source}{ev.id}".encode(), digest_size=16).digest()


def _apply(engine: Engine, kind: str, body: bytes) -> None:
    """Fold one log row into the engine (the rebuild path)."""
    if kind == "event":
        engine.submit(parse_event(body))
    elif kind == "advance":
        engine.advance(datetime.fromisoformat(body.decode()))
    elif kind in ("ack", "resolve"):
        with contextlib.suppress(EngineError):  # refused live too: the log keeps what was asked
            _apply_command(engine, kind, json.loads(body))
    else:
        raise ValueError(f"unknown log entry kind {kind!r}")


def _apply_command(engine: Engine, kind: str, body: dict[str, Any]) -> Alert:
    return engine.act(kind, body["alert_id"], body["by"], datetime.fromisoformat(body["at"]), body.get("note"))
