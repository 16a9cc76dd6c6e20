"""Replay: read events (JSONL), run them through the engine, report every alert's final state."""

from __future__ import annotations

import math
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import IO, TextIO

from monitor.directory import directory_events, organisation_params
from monitor.durations import MAX_DURATION
from monitor.engine import Engine
from monitor.policy import Profile
from monitor.wording import counted
from schemas.directory import Directory, Organisation
from schemas.events import Event, Rejected, parse_event


@dataclass(slots=True)
class Rejection:
    """A line that was not a valid event: where it was and why."""

    origin: str
    line: int
    event_id: str | None
    reason: str


@dataclass(slots=True)
class ReplayResult:
    engine: Engine
    rejected: list[Rejection] = field(default_factory=list)
    rejected_total: int = 0
    lines: int = 0
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)
    taken: int = 0  # input events taken (not duplicates); the rest of the engine's events are the register's


MAX_KEPT_REJECTIONS = 1000
UTF8_BOM = b"\xef\xbb\xbf"


def build_engine(profile: Profile, directory: Directory | None, lateness: timedelta = timedelta(0)) -> Engine:
    """An engine for the profile, with the directory preloaded and its organisation parameters."""
    if directory is None:
        return prepared_engine(profile, None, None, lateness)
    return prepared_engine(profile, directory.organisation, directory_events(directory), lateness)


def prepared_engine(
    profile: Profile, organisation: Organisation | None, register: Iterable[Event] | None, lateness: timedelta
) -> Engine:
    """An engine with the organisation's parameters and the register's events preloaded (drawn at its first
    moment, so a lazy `register` is never read by an engine restored from a snapshot)."""
    params = organisation_params(profile.parameters, organisation) if organisation else profile.parameters
    engine = Engine(profile, params=params, lateness=lateness)
    if register is not None:
        engine.preload(register)
    return engine


def read_lines(streams: Iterable[tuple[str, IO[bytes]]]) -> Iterator[tuple[str, int, bytes]]:
    """(origin, line number, bytes) for every non-blank line of every stream (a UTF-8 byte order mark, which some
    editors write at the start of a file, is not part of its first line)."""
    for origin, fh in streams:
        for n, raw in enumerate(fh, 1):
            line = raw.strip()
            if n == 1:
                line = line.removeprefix(UTF8_BOM).strip()
            if line:
                yield origin, n, line


def replay(
    engine: Engine,
    lines: Iterable[tuple[str, int, bytes]],
    until: datetime | None = None,
    progress: TextIO | None = None,
    files: bool = True,
) -> ReplayResult:
    """Feed lines to the engine; bad lines are counted with their reason and the rest go on. With `files`, the
    lines are numbered lines of files (read_lines), and a file's refused first line says what the file looks like."""
    result = ReplayResult(engine)
    started = time.perf_counter()
    last_report = started
    submit = engine.submit
    origin_now, first = None, 0  # the stream being read, and the number of its first line
    for origin, n, raw in lines:
        result.lines += 1
        if origin is not origin_now:
            origin_now, first = origin, n
        try:
            ev: Event = parse_event(raw)
        except Rejected as rej:
            result.rejected_total += 1
            if len(result.rejected) < MAX_KEPT_REJECTIONS:
                hint = _shape_hint(raw) if files and n == first else ""
                result.rejected.append(Rejection(origin, n, rej.event_id, rej.reason + hint))
            continue
        if submit(ev):
            result.taken += 1
        if progress is not None and not result.lines % 50_000:
            now = time.perf_counter()
            if now - last_report >= 1.0:
                last_report = now
                rate = result.lines / (now - started)
                progress.write(f"\r  {result.lines:,} lines, {rate:,.0f}/s, {len(engine.alerts):,} alerts ")
                progress.flush()
    engine.flush()
    if engine.stats.most_late is not None:
        result.warnings.append(late_warning(engine.stats.late, engine.stats.most_late))
    last = engine.last_event_time
    if until is not None and last is not None and until < last:
        result.warnings.append(
            f"--until {until.isoformat()} is before the last event ({last.isoformat()}): every event was taken and "
            "the clock ends at the last event; --until only moves the clock on past the events, it does not cut "
            "them off (to replay up to a time, leave the later events out of the input)"
        )
    end = until or last or engine.clock
    if end is not None:
        engine.advance(end)
    result.seconds = time.perf_counter() - started
    if progress is not None and result.lines >= 50_000:
        progress.write("\n")
    return result


def _shape_hint(first: bytes) -> str:
    """For a file's first line, refused: what the whole file seems to be instead of JSONL, and what to do."""
    if first[:2] in (b"\xff\xfe", b"\xfe\xff") or (len(first) > 1 and b"\x00" in first[:2]):
        return " (the file looks UTF-16 encoded: events are read as UTF-8, one JSON object per line)"
    jsonl = "replay reads JSONL, one event per line"
    if first.startswith(b"["):
        return f" (the file looks like a JSON array: {jsonl}; `jq -c '.[]'` converts it)"
    if first == b"{":
        return f" (the file looks like pretty-printed JSON: {jsonl}; `jq -c .` converts it)"
    return ""


def late_warning(late: int, most_late: timedelta) -> str:
    """What late events mean for the alerts, and the reorder buffer that would have taken them in time order."""
    what = (
        f"{counted(late, 'event')} came after the clock had passed {'their' if late != 1 else 'its'} "
        f"time (one by as much as {_readable(most_late)}): each was judged at its own time, but deadlines and windows "
        "judged before it came were not judged again, so the alerts can differ from those of the same events in "
        "time order"
    )
    buffer = _buffer_for(most_late)
    if buffer is None:
        return f"{what}; sort the input by time (the gap is longer than any --lateness)"
    return f"{what}; sort the input by time, or replay with --lateness {buffer} or more"


def _buffer_for(behind: timedelta) -> str | None:
    """The shortest --lateness in one unit that covers `behind`, or None past the longest a reorder buffer takes."""
    seconds = math.ceil(behind.total_seconds())
    if seconds > MAX_DURATION.total_seconds():
        return None
    for unit, size in (("s", 1), ("m", 60), ("h", 3600)):
        if seconds <= 60 * size:
            return f"{max(1, math.ceil(seconds / size))}{unit}"
    return f"{math.ceil(seconds / 86400)}d"


def _readable(td: timedelta) -> str:
    """A duration as days, hours, minutes and seconds, e.g. 29d 20h 42m 4s; under a second as 0.25s."""
    if td < timedelta(seconds=1):
        return f"{td.total_seconds():.2f}s"
    seconds = int(td.total_seconds())
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{n}{u}" for n, u in ((days, "d"), (hours, "h"), (minutes, "m"), (secs, "s")) if n]
    return " ".join(parts)


def summary(result: ReplayResult) -> str:
    """The human summary for standard error: counts by control and severity, and every rejected line."""
    e = result.engine
    alerts = list(e.alerts.values())
    by_control = Counter(a.control for a in alerts)
    by_sev = Counter(a.severity for a in alerts)
    by_status = Counter(a.status for a in alerts)
    events = sum(e.stats.events.values())
    register = events - result.taken
    of_register = f" ({register:,} from the register)" if register > 0 else ""
    statuses = ", ".join(f"{by_status[s]} {s}" for s in ("open", "acknowledged", "resolved") if by_status[s])
    out = [
        f"replay: {counted(result.lines, 'line')}, {counted(events, 'event')} processed{of_register}, "
        f"{counted(e.stats.duplicates, 'duplicate')} ignored, "
        f"{result.rejected_total:,} rejected, {e.stats.late:,} late, in {result.seconds:.2f}s",
        f"policy: {e.profile.name}; clock at {e.clock.isoformat() if e.clock else '-'}",
        f"alerts: {len(alerts):,}" + (f" ({statuses})" if alerts else ""),
    ]
    if alerts:
        out.append(
            "  by severity: "
            + ", ".join(f"{s} {by_sev[s]}" for s in ("critical", "high", "medium", "low") if by_sev[s])
        )
        out.append("  by control:  " + ", ".join(f"{c} {n}" for c, n in sorted(by_control.items())))
    if e.lockouts:
        out.append(f"lockout commands: {len(e.lockouts)}")
    if e.stats.rule_errors:
        out.append("RULE ERRORS: " + ", ".join(f"{c} {n}" for c, n in sorted(e.stats.rule_errors.items())))
    out.extend(rejected_lines(result))
    return "\n".join(out)


def rejected_lines(result: ReplayResult) -> list[str]:
    """Every rejected line kept, by origin and number, with its reason."""
    out = []
    for r in result.rejected:
        rid = f" (id {r.event_id})" if r.event_id else ""
        out.append(f"rejected {r.origin}:{r.line}{rid}: {r.reason}")
    if result.rejected_total > len(result.rejected):
        out.append(f"... and {counted(result.rejected_total - len(result.rejected), 'more rejected line')}")
    return out


def write_alerts(engine: Engine, out: TextIO = sys.stdout) -> int:
    n = 0
    for a in engine.final_alerts():
        out.write(a.model_dump_json() + "\n")
        n += 1
    return n
