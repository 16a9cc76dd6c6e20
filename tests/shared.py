"""Paths to the read-only shared material beside the repository (contract, controls, seeds)."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# The contract, the controls and the seeds live in shared/ beside the clone (override: MONITOR_SHARED).
SHARED = Path(os.environ.get("MONITOR_SHARED", REPO.parent / "shared"))
if not (SHARED / "EVENTS.md").is_file():
    raise RuntimeError(
        f"{SHARED} does not hold EVENTS.md, CONTROLS.md and seeds/: the tests check the code against them. "
        "Clone beside shared/ or set MONITOR_SHARED to its path."
    )
EVENTS_MD = SHARED / "EVENTS.md"
CONTROLS_MD = SHARED / "CONTROLS.md"
SEEDS = SHARED / "seeds"
