"""Keep the Kafka clients' repeated complaints from flooding a worker's log while the broker is away.

With the broker down, aiokafka logs the same connection error about 1,700 times a second. The filter lets the
first few of each kind (logger and message template) through in each window, drops the rest, and tells how
many it dropped on the next one it lets through. Only the libraries' loggers are limited: the monitor's own
records always pass.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

LIMITED = ("aiokafka", "kafka", "faust", "mode")  # logger name prefixes (and their children)


@dataclass(slots=True)
class _Window:
    start: float  # record time the window opened
    passed: int = 1
    dropped: int = 0


class RepeatFilter(logging.Filter):
    """At most `burst` records of one kind per `window` seconds (by the records' own timestamps)."""

    def __init__(self, burst: int = 5, window: float = 10.0, limited: tuple[str, ...] = LIMITED) -> None:
        super().__init__()
        self.burst, self.window, self.limited = burst, window, limited
        self._kinds: dict[tuple[str, str], _Window] = {}

    def _is_limited(self, name: str) -> bool:
        return any(name == p or name.startswith(p + ".") for p in self.limited)

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._is_limited(record.name):
            return True
        kind = (record.name, str(record.msg))
        window = self._kinds.get(kind)
        if window is None or record.created - window.start >= self.window:
            dropped = window.dropped if window is not None else 0
            self._kinds[kind] = _Window(record.created)
            if len(self._kinds) > 1000:  # a library logging ever new templates: forget the oldest kinds
                for k in sorted(self._kinds, key=lambda k: self._kinds[k].start)[:500]:
                    del self._kinds[k]
            if dropped:
                record.msg = f"{record.msg} [{dropped} more like this in the previous {self.window:g}s not logged]"
            return True
        if window.passed < self.burst:
            window.passed += 1
            return True
        window.dropped += 1
        return False


def limit_repeats(logger: logging.Logger, burst: int = 5, window: float = 10.0) -> RepeatFilter:
    """Put one RepeatFilter on every handler of `logger` (the root logger, once the worker has set it up)."""
    f = RepeatFilter(burst, window)
    for handler in logger.handlers:
        handler.addFilter(f)
    return f
