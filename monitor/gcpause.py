"""Pause Python's cyclic garbage collector while a large state is built or written in one go.

Folding a log, unpickling a snapshot or pickling one creates millions of objects and no cyclic garbage worth
collecting, but every 700 allocations the collector walks the young objects, and ever more often the old ones:
about as much time again as the work itself (bench/README, "Recovery"). Reference counting still frees what
dies; the collector runs again as usual once the block ends. Not for event-by-event processing.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """Disable the cyclic collector inside the block; leave it as it was found (nesting is safe)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
