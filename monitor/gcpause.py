"""Pause Python's cyclic garbage collector while a large state is built or written in one go.

Folding a log, unpickling a snapshot or pickling one creates millions of objects and no cyclic garbage worth
collecting, but every 700 allocations the collector walks the young objects, and ever more often the old ones:
about as much time again as the work itself (bench/README, "Recovery"). Reference counting still frees what
dies; the collector runs again as usual once the block ends. Not for event-by-event processing.

A block that builds state to keep (a restored or rebuilt engine) can also freeze it: every object the collector
tracks moves to its permanent generation, which no collection walks. Without that, the first collection after
the block walks the whole new state, and in a worker restoring eight partitions one after another each walk is
longer than the last (bench/README, "Recovery"). Frozen objects are still freed by reference counting, but a
reference cycle among them is not: `thaw()` when such state is dropped.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused(*, freeze: bool = False) -> Iterator[None]:
    """Disable the cyclic collector inside the block; leave it as it was found (nesting is safe).

    With `freeze`, everything the collector tracks when the block ends is frozen first (`gc.freeze`), so no
    later collection walks it.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if freeze:
            gc.freeze()
        if was_enabled:
            gc.enable()


def thaw() -> None:
    """Give frozen objects back to the collector (its oldest generation): for when frozen state is dropped,
    so the reference cycles in it can be freed. The next full collection walks them once."""
    gc.unfreeze()
