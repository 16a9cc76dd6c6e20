"""Which code folded a snapshot: a hash of the source that shapes the engine's state, so stale state is never
restored (the CLI, the demo and the reports are left out: editing them does not invalidate snapshots)."""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

# Relative to the monitor package; with every file of the schemas package.
STATE_SOURCES = ("engine.py", "facts.py", "policy.py", "directory.py", "durations.py", "rules")


@cache
def code_version() -> str:
    """A hash of the engine, facts, rules, policy and schemas source (names and bytes)."""
    import monitor
    import schemas

    mroot = Path(monitor.__file__ or "").parent
    files = [
        (mroot, f)
        for name in STATE_SOURCES
        for f in sorted((mroot / name).glob("**/*.py") if (mroot / name).is_dir() else [mroot / name])
    ]
    sroot = Path(schemas.__file__ or "").parent
    files += [(sroot, f) for f in sorted(sroot.rglob("*.py"))]
    h = hashlib.blake2b(digest_size=12)
    for root, f in files:
        h.update(f"{root.name}/{f.relative_to(root).as_posix()}".encode())
        h.update(f.read_bytes())
    return h.hexdigest()
