"""Pause Python's cyclic garbage collector while a large state is built in one go (a rebuild or a restore).

Folding a log or unpickling a snapshot creates millions of long-lived objects and no cyclic garbage worth
collecting, but every 700 allocations the collector walks the young objects, and ever more often the old ones:
about as much time again as the fold itself (bench/README, "Recovery"). Reference counting still frees what
dies; the collector runs again as usual once the block ends. Not for the live path, which makes garbage.
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
