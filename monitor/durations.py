"""Human durations ("24h", "14d", "10m", "90s") for profile files."""

from __future__ import annotations

import re
from datetime import timedelta

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PATTERN = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")


def parse_duration(text: str) -> timedelta:
    """Parse '24h' and friends; raise ValueError with the accepted forms."""
    m = _PATTERN.match(text)
    if not m:
        raise ValueError(f"{text!r} is not a duration; write a whole number and a unit s, m, h, d or w, e.g. '24h'")
    return timedelta(seconds=int(m.group(1)) * _UNITS[m.group(2)])


def format_duration(td: timedelta) -> str:
    """The shortest exact form of a duration, e.g. 86400 s -> '1d'."""
    secs = int(td.total_seconds())
    for unit in ("d", "h", "m"):
        if secs and secs % _UNITS[unit] == 0 and (unit != "d" or secs >= 2 * _UNITS["d"]):
            return f"{secs // _UNITS[unit]}{unit}"
    return f"{secs}s"
