"""A work log as one router would write it, for tests without a broker: the events, with its watermarks."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta

from streams.routing import watermark_message

LANE = "in:0"  # the one input partition the simulated router holds


def with_watermarks(lines: Iterable[bytes], lateness: timedelta, every: int = 1) -> Iterator[bytes]:
    """Each line, and after every `every` of them the watermark a caught-up router sends (streams/alignment.py):
    the latest event time read less the lateness, so the engine releases what a replay's reorder buffer would."""
    top: datetime | None = None
    for n, raw in enumerate(lines, 1):
        t = datetime.fromisoformat(json.loads(raw)["time"])
        top = t if top is None or t > top else top
        yield raw
        if n % every == 0:
            yield watermark_message(top - lateness, [LANE])
