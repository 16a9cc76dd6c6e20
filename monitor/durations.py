"""Human durations ("24h", "14d", "10m", "90s") for profile files, flags and settings."""

from __future__ import annotations

import re
from datetime import timedelta

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PATTERN = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
# Longer than any deadline, window or reorder buffer means anything, and short enough that event time plus or
# minus it stays a date (99999999w overflowed the clock arithmetic deep inside the engine).
MAX_DURATION = timedelta(days=3650)
_FORMS = "write a whole number and a unit s, m, h, d or w, e.g. '24h'"


def parse_duration(text: str) -> timedelta:
    """Parse '24h' and friends; raise ValueError with the accepted forms."""
    m = _PATTERN.match(text)
    if not m:
        raise ValueError(f"{text!r} is not a duration; {_FORMS}")
    seconds = int(m.group(1)) * _UNITS[m.group(2)]
    if seconds > MAX_DURATION.total_seconds():
        raise ValueError(f"{text.strip()!r} is too long; at most {format_duration(MAX_DURATION)} (ten years)")
    return timedelta(seconds=seconds)


def duration_value(v: object) -> object:
    """A pydantic before-validator: '24h' parsed, a timedelta checked; a bare number refused (24 is not taken as
    24 seconds: the unit is always written)."""
    if isinstance(v, str):
        return parse_duration(v)
    if isinstance(v, timedelta):
        if v > MAX_DURATION:
            raise ValueError(f"{format_duration(v)} is too long; at most {format_duration(MAX_DURATION)} (ten years)")
        return v
    if isinstance(v, int | float):
        raise ValueError(f"{v!r} has no unit; {_FORMS}")
    return v


def format_duration(td: timedelta) -> str:
    """The shortest exact form of a duration, e.g. 86400 s -> '1d'."""
    secs = int(td.total_seconds())
    for unit in ("d", "h", "m"):
        if secs and secs % _UNITS[unit] == 0 and (unit != "d" or secs >= 2 * _UNITS["d"]):
            return f"{secs // _UNITS[unit]}{unit}"
    return f"{secs}s"
