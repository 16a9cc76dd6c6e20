"""An alert's life across a person's action: once a person resolves it, the same breach seen again reopens it (the
engine's _raise), as README "Alerts have a life" and the rules' docstrings say, rather than going unseen."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest
import yaml

from monitor.directory import parse_directory
from monitor.engine import Engine, alert_id
from monitor.policy import load_profile
from monitor.replay import build_engine, replay
from monitor.rules._fixtures import account, directory, login, staff

_DIR = directory(account(), people=staff("p-1", "p-2"))


def _feed(engine: Engine, events: list[dict[str, Any]]) -> None:
    result = replay(engine, [("test", i + 1, json.dumps(e).encode()) for i, e in enumerate(events)])
    assert not result.rejected and not engine.stats.rule_errors


# (control, the alert's key, a sign-in that breaches it). MFA-03: a device no manager has approved (the default)
BREACHES = [
    ("MFA-02", "no-mfa", {"mfa": False}),
    ("MFA-03", "d-1", {}),
    ("SIG-01", "d-1", {"managed": False}),
]


@pytest.mark.parametrize(("control", "key", "breach"), BREACHES, ids=[b[0] for b in BREACHES])
def test_the_breach_seen_again_after_a_person_resolved_the_alert_reopens_it(
    control: str, key: str, breach: dict[str, Any]
) -> None:
    engine = build_engine(load_profile("default"), parse_directory(yaml.safe_dump(_DIR)))
    _feed(engine, [login("2026-02-01T08:00:00Z", "l-1", **breach)])
    aid = alert_id(control, "acc-1", "p-1", key)
    assert engine.alerts[aid].status == "open"
    engine.resolve(aid, "sec-1", datetime.fromisoformat("2026-02-01T10:00:00Z"), "spoke to p-1")
    _feed(engine, [login("2026-02-20T08:00:00Z", "l-2", **breach)])  # weeks later, nothing changed
    again = engine.alert(engine.alerts[aid])
    assert (again.status, again.evidence[-1]) == ("open", "l-2"), again
    assert "2026-02-20 08:00Z" in again.summary, again.summary  # the new sign-in, not the one resolved
