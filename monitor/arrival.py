"""Event time against arrival time: an event from far in the future is refused at the edge, before the engine."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator

from monitor.durations import duration_value, format_duration
from monitor.wording import counted
from schemas.events import Event, Rejected

# Sources' clocks drift by seconds, not hours; an hour also covers a batch stamped at its end.
DEFAULT_MAX_AHEAD = timedelta(hours=1)


def _positive(v: timedelta) -> timedelta:
    if v <= timedelta(0):
        raise ValueError("max_ahead must be positive, e.g. '1h'")
    return v


# The setting, as both runtimes' settings take it: a duration ('1h'), more than nothing.
MaxAhead = Annotated[timedelta, BeforeValidator(duration_value), AfterValidator(_positive)]


def refuse_if_ahead(ev: Event, arrived: datetime, max_ahead: timedelta) -> None:
    """Raise Rejected when the event's time is more than `max_ahead` past its arrival.

    Event time only moves forward, so one event stamped next year (a source's clock or time zone wrong, or a
    forged event) would bring every deadline due at once and leave each later event behind the clock."""
    ahead = ev.time - arrived
    if ahead > max_ahead:
        raise Rejected(
            f"time {ev.time.isoformat()} is {_roughly(ahead)} ahead of its arrival at {arrived.isoformat()}, "
            f"more than the {format_duration(max_ahead)} taken (MONITOR_MAX_AHEAD); check the source's clock and UTC "
            "offset",
            ev.id,
        )


def advance_too_far(until: datetime, now: datetime, max_ahead: timedelta) -> str | None:
    """Why an operator's advance to `until` is refused, or None: past `max_ahead` beyond the wall clock, event time
    could not come back (a mistyped year would bring every deadline due at once, as a forged event would)."""
    ahead = until - now
    if ahead <= max_ahead:
        return None
    return (
        f"{until.isoformat()} is {_roughly(ahead)} ahead of the wall clock ({now.isoformat(timespec='seconds')}), more "
        f"than the {format_duration(max_ahead)} taken (MONITOR_MAX_AHEAD): event time only moves forward, so the "
        "monitor could not come back from it; `monitor replay --until` shows what a later time brings"
    )


def _roughly(td: timedelta) -> str:
    """How far ahead: whole days from two days on ('26,661 days'), else exact ('1h 1s', '5h 59m')."""
    secs = math.ceil(td.total_seconds())  # up: 1h 0.2s ahead is not "1h", which is taken
    if secs >= 2 * 86400:
        return counted(secs // 86400, "day")
    parts = ((secs // 3600, "h"), (secs // 60 % 60, "m"), (secs % 60, "s"))
    return " ".join(f"{n}{unit}" for n, unit in parts if n) or "0s"
