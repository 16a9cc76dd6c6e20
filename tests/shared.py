"""Paths to the read-only shared material beside the repository (contract, controls, seeds)."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
EVENTS_MD = SHARED / "EVENTS.md"
CONTROLS_MD = SHARED / "CONTROLS.md"
SEEDS = SHARED / "seeds"
