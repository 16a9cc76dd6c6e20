"""A watched folder of JSONL files: each file's events are taken in batches, then the file moves to done/.

Progress through a file is committed with each batch, so after a crash the file is picked up at the first
line not yet taken. Rejected lines are listed (line number and reason, never the line itself, which may
hold the very secret it was rejected for) in rejected/NAME.errors, each batch's before its progress mark
commits: a crash loses none, and the resume, which takes that batch again, lists none twice. The copy kept
in done/ never holds a secret either: a rejected line's secret-looking fields are redacted (as the Kafka
runtime's dead letters are), and a rejected line that is not a JSON object, with no field names to judge
by, is blanked (line numbers stay).

A file whose taking fails (not a bad line: those are rejected one by one; an error reading it, say) never stops
the files after it: it is tried again on the next passes, and after MAX_TRIES failures in a row moved to rejected/
as it was, with the reason in rejected/NAME.errors and on /health until a file of that name is taken.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import Collection
from pathlib import Path

from service import metrics
from service.embedded import EmbeddedMonitor, StepResult
from service.store import private_folder, storable
from streams.routing import redact

log = logging.getLogger("service.dropfolder")
BATCH = 2000
SETTLE_SECONDS = 1.0  # a file changed more recently than this may still be being written
# How long the clock waits for settling files at most: a feeder that never stops writing must not stop deadlines.
TICK_HOLD_SECONDS = 60.0
MAX_TRIES = 3  # passes in a row a file's taking may fail before the file is set aside in rejected/


class DropFolder:
    """Takes `*.jsonl` files put in `inbox`, oldest name first."""

    def __init__(self, monitor: EmbeddedMonitor, inbox: Path, actor: str = "drop-folder") -> None:
        self.monitor = monitor
        self.inbox = inbox
        self.done = inbox / "done"
        self.rejected = inbox / "rejected"
        self.actor = actor
        private_folder(inbox)  # made earlier and open: warned about, as a feed from another account may write there
        private_folder(self.done, tighten=True)  # a copy of every event taken
        private_folder(self.rejected, tighten=True)
        self._tries: dict[str, int] = {}  # a file's progress key -> passes in a row its taking failed

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
        """Take every ready file; the number of files taken. One whose taking fails is tried again on the next
        passes, and set aside after MAX_TRIES failures in a row; the files after it are taken all the same."""
        taken = 0
        for path in self.ready(now):
            try:
                self.take(path)
            except Exception as exc:
                self._failed(path, exc)
            else:
                taken += 1
        return taken

    def _key(self, path: Path) -> str:
        """The progress mark's key: the file's name, size and time of change (a file changed since is new)."""
        st = path.stat()
        return f"inbox:{shown(path.name)}:{st.st_size}:{st.st_mtime_ns}"

    def _failed(self, path: Path, exc: Exception) -> None:
        """Taking `path` raised `exc`: try it again on the next pass, or set it aside after MAX_TRIES in a row."""
        name, reason = shown(path.name), storable(f"{type(exc).__name__}: {exc}")
        try:
            key = self._key(path)
        except FileNotFoundError:  # moved away meanwhile: nothing to try again
            log.warning("%s: taking it failed (%s), and it has gone from the inbox since", name, reason)
            return
        except OSError:  # cannot even be looked at: counted by its name
            key = f"inbox:{name}"
        tries = self._tries[key] = self._tries.get(key, 0) + 1
        if tries < MAX_TRIES:
            log.error("%s: taking it failed (%d of %d tries); trying again on the next pass", name, tries, MAX_TRIES,
                      exc_info=exc)  # fmt: skip
            return
        log.error("%s: taking it failed %d times in a row; setting it aside", name, tries, exc_info=exc)
        target = _free(self.rejected / path.name)
        try:
            path.replace(target)  # as it was: what the lines after the failure hold was never judged
            with (self.rejected / f"{path.name}.errors").open("a", encoding="utf-8", errors="backslashreplace") as out:
                out.write(
                    f"file not taken ({reason}; {tries} tries): moved to {shown(target)} as it was; put it back in "
                    "the inbox once the cause is fixed (events already taken are not taken twice)\n"
                )
        except OSError:
            log.exception("%s: could not set it aside in %s; trying again on the next pass", name, self.rejected)
            return
        del self._tries[key]
        self.monitor.warn(
            f"drop folder file {path.name}",
            f"the drop folder could not take {name} ({reason}; {tries} tries): it was moved to {shown(target)}; put "
            "it back in the inbox once the cause is fixed",
        )

    def take(self, path: Path) -> None:
        key = self._key(path)
        listed = self.rejected / f"{path.name}.errors"
        start = self._resume(key, listed)
        started = time.perf_counter()
        accepted = duplicates = errors = 0
        rejected: set[int] = set()
        origin = shown(path.name)  # a name that is not UTF-8 with its bytes as escapes
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
                    a, d, e = self._submit(batch, key, n, rejected, listed)
                    accepted, duplicates, errors = accepted + a, duplicates + d, errors + e
                    batch = []
                    log.info("%s: %d lines taken (%.0f/s)", origin, n, (n - start) / (time.perf_counter() - started))
            a, d, e = self._submit(batch, key, last, rejected, listed)
            accepted, duplicates, errors = accepted + a, duplicates + d, errors + e
        target = _free(self.done / path.name)
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
            errors,
            f" (reasons in {shown(listed)})" if errors else "",
            shown(target),
        )
        self._tries.pop(key, None)
        self.monitor.warn(f"drop folder file {path.name}", None)  # put back and taken: set aside no longer

    def _resume(self, key: str, listed: Path) -> int:
        """The last line of the file already taken (0: none). A crash after a batch's rejected lines were listed
        in `listed` and before its mark committed left them there: the batch is taken again, so they are taken out.
        """
        upto, _, size = (self.monitor.progress(key) or "0").partition(" ")  # a mark of older code has no size
        if size:
            _unlist_after(listed, int(size), int(upto))
        return int(upto)

    def _submit(
        self, batch: list[tuple[str, int | None, bytes]], key: str, upto: int, rejected: set[int], listed: Path
    ) -> tuple[int, int, int]:
        def mark(result: StepResult) -> str:
            # Called before the step commits: the batch's rejected lines are on disk before the mark saying it was
            # taken, which keeps the size `listed` had after them (what a resume cuts back to: see _resume).
            entries = [f"line {r.line}: {r.reason}" + (f" (event {_one_line(r.event_id)})" if r.event_id else "")
                       for r in result.rejected]  # fmt: skip
            return f"{upto} {_append(listed, entries)}"

        result = self.monitor.submit(batch, self.actor, mark=(key, mark))
        metrics.observe_step(result)
        rejected.update(r.line for r in result.rejected if r.line is not None)
        return result.accepted, result.duplicates, len(result.rejected)


def _append(listed: Path, entries: list[str]) -> int:
    """Add `entries` to the file `listed`, on disk when it returns; its size after them."""
    if not entries:
        try:
            return listed.stat().st_size
        except FileNotFoundError:
            return 0
    with listed.open("ab") as out:
        out.write("".join(f"{e}\n" for e in entries).encode("utf-8", "backslashreplace"))
        out.flush()
        os.fsync(out.fileno())
        return out.tell()


_ENTRY = re.compile(rb"line (\d+): ")


def _one_line(text: str) -> str:
    """`text` with its line breaks escaped: an id may hold one, and each entry is one line (see _unlist_after)."""
    return text.replace("\r", "\\r").replace("\n", "\\n")


def _unlist_after(listed: Path, size: int, upto: int) -> None:
    """Take out of `listed`, past its first `size` bytes, the entries for lines after `upto` (a note that is not a
    line's entry, such as why the file was set aside, stays)."""
    try:
        fh = listed.open("r+b")
    except FileNotFoundError:
        return
    with fh:
        fh.seek(size)
        tail = fh.read()
        kept = b"".join(e for e in tail.splitlines(keepends=True) if not ((m := _ENTRY.match(e)) and int(m[1]) > upto))
        if kept != tail:
            fh.seek(size)
            fh.write(kept)
            fh.truncate()
            fh.flush()
            os.fsync(fh.fileno())


def shown(path: Path | str) -> str:
    """A file's name or path as text UTF-8 can hold (a log, the database, /health): bytes of a name that are not
    UTF-8, which Python holds as surrogate escapes, as `\\xe9`."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def _free(target: Path) -> Path:
    """`target`, or a name beside it with the time in it when a file of that name is there already."""
    return target if not target.exists() else target.with_name(f"{target.stem}.{int(time.time())}{target.suffix}")


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
