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


# (control, the alert's key, a sign-in that breaches it): MFA-02 and SIG-01 were already so; MFA-03 was not
BREACHES = [
    ("MFA-02", "no-mfa", {"mfa": False}),
    ("SIG-01", "d-1", {"managed": False}),
    ("MFA-03", "d-1", {}),  # device d-1 never approved for p-1 by the account manager
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


def test_an_unapproved_device_signing_in_again_sends_no_new_version_of_an_open_mfa_03_alert() -> None:
    """Reopening is what a later sign-in is for: on an open alert each one was a new version to the sinks (424 more
    on the demo month), where MFA-02 and SIG-01 are about the sign-in itself."""
    engine = build_engine(load_profile("default"), parse_directory(yaml.safe_dump(_DIR)))
    sent: list[tuple[str, str]] = []
    engine.on_alert = lambda a: sent.append((a.control, a.status))
    _feed(engine, [login(f"2026-02-0{day}T08:00:00Z", f"l-{day}") for day in (1, 2, 3)])
    aid = alert_id("MFA-03", "acc-1", "p-1", "d-1")
    assert [s for s in sent if s[0] == "MFA-03"] == [("MFA-03", "open")]
    assert engine.alerts[aid].evidence == ["l-1"] and "2026-02-01 08:00Z" in engine.alert(engine.alerts[aid]).summary
