"""Publish the wire contract as JSON Schema generated from the models."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from schemas.alerts import Alert, EmergencyGrant, LockoutCommand
from schemas.directory import Directory
from schemas.events import EVENT_MODELS, _AnyEvent

SCHEMA_BASE = "https://schemas.social-monitor.invalid/v1/"


def _write(path: Path, schema: dict[str, Any], name: str) -> Path:
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_BASE + path.name, **schema}
    schema.setdefault("title", name)
    path.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path


def export_schemas(out: Path) -> list[Path]:
    """One file per event type (`hr.leaver.json`), `event.json` for any event, and the outputs."""
    out.mkdir(parents=True, exist_ok=True)
    written = [_write(out / f"{t}.json", m.model_json_schema(), t) for t, m in sorted(EVENT_MODELS.items())]
    written.append(_write(out / "event.json", TypeAdapter(_AnyEvent).json_schema(), "event"))
    for name, model in (
        ("alert", Alert),
        ("lockout", LockoutCommand),
        ("emergency-grant", EmergencyGrant),
        ("directory", Directory),
    ):
        written.append(_write(out / f"{name}.json", model.model_json_schema(), name))
    return written
