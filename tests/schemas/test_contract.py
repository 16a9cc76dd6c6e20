"""The wire contract in shared/EVENTS.md, read from the document itself, against the models."""

from __future__ import annotations

import json
import re

import pytest

from schemas.alerts import Alert
from schemas.events import DATA_MODELS, EVENT_TYPES, parse_event
from tests.shared import EVENTS_MD

DOC = EVENTS_MD.read_text(encoding="utf-8")


def _bullets(section: str) -> list[str]:
    """The bullet items (joined across wrapped lines) between a heading and the next heading."""
    body = DOC.split(section, 1)[1].split("\n## ", 1)[0]
    items: list[str] = []
    for line in body.splitlines():
        if line.startswith("- "):
            items.append(line[2:])
        elif line.startswith("  ") and items:
            items[-1] += " " + line.strip()
    return items


def _fields(text: str) -> dict[str, bool]:
    """Backticked field names, outside parentheses, mapped to required (no trailing '?')."""
    flat = re.sub(r"\([^()]*\)", "", text)
    return {m.group(1): m.group(2) != "?" for m in re.finditer(r"`([a-z_]+)`(\??)", flat)}


def _contract_types() -> dict[str, dict[str, bool]]:
    types: dict[str, dict[str, bool]] = {}
    registered: dict[str, bool] = {}
    for item in _bullets("## Types and `data` fields"):
        head, _, rest = item.partition(": ")
        names = re.findall(r"`([a-z_]+\.[a-z_]+)`", head)
        fields = _fields(rest)
        if "plus any field above" in rest:
            fields = {**{k: False for k in registered}, **fields}
        for n in names:
            types[n] = fields
        if "directory.account_registered" in names:
            registered = fields
    return types


CONTRACT = _contract_types()


def test_contract_lists_every_model_type() -> None:
    assert len(CONTRACT) >= 26
    assert set(CONTRACT) == set(EVENT_TYPES)


@pytest.mark.parametrize("etype", sorted(CONTRACT))
def test_data_fields_match_contract(etype: str) -> None:
    model = DATA_MODELS[etype]
    ours = {name: f.is_required() for name, f in model.model_fields.items()}
    theirs = CONTRACT[etype]
    for name, required in theirs.items():
        assert name in ours, f"{etype}: contract field {name!r} missing from {model.__name__}"
        assert ours[name] == required, f"{etype}.{name}: required={ours[name]}, contract says {required}"
    extra_required = [n for n, req in ours.items() if req and n not in theirs]
    assert not extra_required, f"{etype}: required fields not in the contract: {extra_required}"


def test_alert_fields_match_contract() -> None:
    text = DOC.split("## Alerts out", 1)[1].split("\n## ", 1)[0]
    theirs = _fields(text.split("One JSON object per alert", 1)[1])
    ours = {name: f.is_required() for name, f in Alert.model_fields.items()}
    assert len(theirs) == 13
    for name, required in theirs.items():
        assert name in ours and ours[name] == required, name


def test_json_examples_in_the_contract_parse() -> None:
    blocks = re.findall(r"```json\n(.*?)```", DOC, re.S)
    assert blocks
    for block in blocks:
        ev = parse_event(block.strip())
        assert ev.id == json.loads(block)["id"]
