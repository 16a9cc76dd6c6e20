"""A watched folder of JSONL files: each file's events are taken in batches, then the file moves to done/.

Progress through a file is committed with each batch, so after a crash the file is picked up at the first
line not yet taken. Rejected lines are listed (line number and reason, never the line itself, which may
hold the very secret it was rejected for) in rejected/NAME.errors. The copy kept in done/ never holds a
secret either: a rejected line's secret-looking fields are redacted (as the Kafka runtime's dead letters
are), and a rejected line that is not a JSON object, with no field names to judge by, is blanked (line
numbers stay).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Collection
from pathlib import Path

from service import metrics
from service.embedded import EmbeddedMonitor
from streams.routing import redact

log = logging.getLogger("service.dropfolder")
BATCH = 2000
SETTLE_SECONDS = 1.0  # a file changed more recently than this may still be being written
# How long the clock waits for settling files at most: a feeder that never stops writing must not stop deadlines.
TICK_HOLD_SECONDS = 60.0


class DropFolder:
    """Takes `*.jsonl` files put in `inbox`, oldest name first."""

    def __init__(self, monitor: EmbeddedMonitor, inbox: Path, actor: str = "drop-folder") -> None:
        self.monitor = monitor
        self.inbox = inbox
        self.done = inbox / "done"
        self.rejected = inbox / "rejected"
        self.actor = actor
        for d in (inbox, self.done, self.rejected):
            d.mkdir(parents=True, exist_ok=True)

    def ready(self, now: float | None = None) -> list[Path]:
        """Files in the inbox that have settled: to take."""
        return [p for p, settled in self._inbox_files(now) if settled]

    def waiting(self, now: float | None = None) -> list[Path]:
        """Files in the inbox still settling (changed in the last SETTLE_SECONDS): input the clock must not pass."""
        return [p for p, settled in self._inbox_files(now) if not settled]

    def _inbox_files(self, now: float | None) -> list[tuple[Path, bool]]:
        """Every *.jsonl file in the inbox, sorted, and whether it has settled (unchanged for SETTLE_SECONDS)."""
        now = time.time() if now is None else now
        out = []
        for p in sorted(self.inbox.glob("*.jsonl")):
            try:
                if p.is_file():
                    out.append((p, now - p.stat().st_mtime >= SETTLE_SECONDS))
            except FileNotFoundError:  # taken or moved away meanwhile
                continue
        return out

    def poll(self, now: float | None = None) -> int:
        """Take every ready file; the number of files taken."""
        files = self.ready(now)
        for path in files:
            self.take(path)
        return len(files)

    def take(self, path: Path) -> None:
        st = path.stat()
        key = f"inbox:{path.name}:{st.st_size}:{st.st_mtime_ns}"
        start = int(self.monitor.progress(key) or 0)
        started = time.perf_counter()
        accepted = duplicates = 0
        errors: list[str] = []
        rejected: set[int] = set()
        origin = path.name
        if start:
            log.info("%s: resuming after line %d", origin, start)
        with path.open("rb") as fh:
            batch: list[tuple[str, int | None, bytes]] = []
            last = start
            for n, raw in enumerate(fh, 1):
                last = n
                if n <= start:
                    continue
                line = raw.strip()
                if n == 1:
                    line = line.removeprefix(b"\xef\xbb\xbf").strip()  # a UTF-8 BOM some editors write first
                if line:
                    batch.append((origin, n, line))
                if len(batch) >= BATCH:
                    a, d, e = self._submit(batch, key, n, rejected)
                    accepted, duplicates = accepted + a, duplicates + d
                    errors.extend(e)
                    batch = []
                    log.info("%s: %d lines taken (%.0f/s)", origin, n, (n - start) / (time.perf_counter() - started))
            a, d, e = self._submit(batch, key, last, rejected)
            accepted, duplicates = accepted + a, duplicates + d
            errors.extend(e)
        if errors:
            with (self.rejected / f"{path.name}.errors").open("a", encoding="utf-8") as out:
                out.writelines(f"{e}\n" for e in errors)
        target = self.done / path.name
        if target.exists():
            target = self.done / f"{path.stem}.{int(time.time())}{path.suffix}"
        if rejected or start:
            # A rejected line may hold the secret it was rejected for; after a crash, the lines taken before it
            # were judged by the run that crashed, so they are scrubbed too.
            _store_scrubbed(path, target, rejected, start)
        else:
            path.replace(target)
        log.info(
            "%s: %d events taken, %d duplicates, %d rejected%s; moved to %s",
            origin,
            accepted,
            duplicates,
            len(errors),
            f" (reasons in {self.rejected / (path.name + '.errors')})" if errors else "",
            target,
        )

    def _submit(
        self, batch: list[tuple[str, int | None, bytes]], key: str, upto: int, rejected: set[int]
    ) -> tuple[int, int, list[str]]:
        result = self.monitor.submit(batch, self.actor, mark=(key, str(upto)))
        metrics.observe_step(result)
        rejected.update(r.line for r in result.rejected if r.line is not None)
        return (
            result.accepted,
            result.duplicates,
            [f"line {r.line}: {r.reason}" + (f" (event {r.event_id})" if r.event_id else "") for r in result.rejected],
        )

    def run(self, stop: threading.Event, interval: float = 1.0) -> None:
        """Poll until `stop` is set; an error on one file is logged and the folder is tried again later."""
        while not stop.is_set():
            try:
                self.poll()
            except Exception:
                log.exception("drop folder %s: taking a file failed; retrying in %.0fs", self.inbox, interval * 10)
                stop.wait(interval * 10)
            stop.wait(interval)


def scrubbed(line: bytes) -> bytes:
    """A rejected line as it may be kept: its secret-looking fields redacted, or nothing if it is not a JSON object
    (no field names to tell a secret by, so none of it is kept)."""
    try:
        obj = json.loads(line)
    except (ValueError, RecursionError):
        return b""
    return redact(line) if isinstance(obj, dict) else b""


def _store_scrubbed(path: Path, target: Path, lines: Collection[int], upto: int) -> None:
    """Move `path` to `target` with the lines numbered in `lines`, and every line up to `upto`, scrubbed."""
    part = target.with_name(target.name + ".part")
    with path.open("rb") as src, part.open("wb") as out:
        for n, raw in enumerate(src, 1):
            if n in lines or n <= upto:
                body = raw.strip()
                if body:
                    raw = scrubbed(body) + (b"\n" if raw.endswith(b"\n") else b"")
            out.write(raw)
        out.flush()
        os.fsync(out.fileno())
    os.chmod(part, path.stat().st_mode & 0o777)
    part.replace(target)
    path.unlink()
