"""Which code folded a snapshot: a hash of the engine's and schemas' source, so stale state is never restored."""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path


@cache
def code_version() -> str:
    """A hash of every .py file of the monitor and schemas packages (names and bytes): changes with any edit."""
    import monitor
    import schemas

    h = hashlib.blake2b(digest_size=12)
    for pkg in (monitor, schemas):
        root = Path(pkg.__file__ or "").parent
        for f in sorted(root.rglob("*.py")):
            h.update(f.relative_to(root).as_posix().encode())
            h.update(f.read_bytes())
    return h.hexdigest()
