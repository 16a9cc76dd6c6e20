"""An alert's life across a person's action: once a person resolves it, the same breach seen again reopens it (the
engine's _raise), as README "Alerts have a life" and the rules' docstrings say, rather than going unseen."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest
import yaml

from monitor.directory import parse_directory
from monitor.engine import BY_MONITOR, Engine, EngineError, alert_id
from monitor.policy import load_profile
from monitor.replay import build_engine, replay
from monitor.rules._fixtures import account, directory, leaver, login, rotated, staff

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


def test_a_person_cannot_resolve_under_the_monitor_s_own_name() -> None:
    """Else their resolve would count as the monitor's, and the breach seen again would not reopen the alert."""
    engine = build_engine(load_profile("default"), parse_directory(yaml.safe_dump(_DIR)))
    _feed(engine, [login("2026-02-01T08:00:00Z", "l-1", mfa=False)])
    aid = alert_id("MFA-02", "acc-1", "p-1", "no-mfa")
    with pytest.raises(EngineError, match="the monitor resolves alerts under"):
        engine.resolve(aid, BY_MONITOR, datetime.fromisoformat("2026-02-01T10:00:00Z"), "done")
    assert (engine.alerts[aid].status, engine.alerts[aid].resolved_by) == ("open", None)


def test_a_hijack_seen_again_after_a_person_resolved_it_locks_the_account_out_again_once() -> None:
    """EMG-01's docstring says a sign while a person has resolved the alert reopens it and locks out again; the
    engine counted the reopened alert's own earlier lockout as one under way, so the second hijack got none."""
    engine = build_engine(load_profile("default"), parse_directory(yaml.safe_dump(_DIR)))
    _feed(engine, [leaver("2026-11-02T09:00:00Z", "hr-1", "p-1", "2026-11-06T17:00:00Z"),
                   login("2026-11-07T08:00:00Z", "l-1")])  # fmt: skip
    assert len(engine.lockouts) == 1, engine.lockouts
    for a in list(engine.alerts.values()):
        if a.status != "resolved":
            engine.resolve(a.id, "sec-1", datetime.fromisoformat("2026-11-07T10:00:00Z"), "seat removed")
    _feed(engine, [login("2026-11-21T08:00:00Z", "l-2")])  # the leaver is back in two weeks later
    second = engine.lockouts[1:]
    assert len(second) == 1 and second[0].issued_at == datetime.fromisoformat("2026-11-21T08:00:00Z"), second
    assert second[0].id.endswith("-1") or second[0].alert_id != engine.lockouts[0].alert_id, second
    assert "2026-11-21 08:00Z" in second[0].reason, second[0].reason  # the sign that reopened it, not the old one
    _feed(engine, [login("2026-11-21T09:00:00Z", "l-3")])  # the same episode, still open: no third
    assert len(engine.lockouts) == 2, engine.lockouts


def test_a_device_alert_a_person_resolved_reopens_after_a_snapshot_and_restore_too() -> None:
    """Which accounts have alerts a person resolved travels in the snapshot: restored without it, MFA-03 would take
    the alert as open and the next sign-in from the unapproved device would go unseen again."""
    engine = build_engine(load_profile("default"), parse_directory(yaml.safe_dump(_DIR)))
    _feed(engine, [login("2026-02-01T08:00:00Z", "l-1")])
    aid = alert_id("MFA-03", "acc-1", "p-1", "d-1")
    engine.resolve(aid, "sec-1", datetime.fromisoformat("2026-02-01T10:00:00Z"), "spoke to p-1")
    restored = build_engine(load_profile("default"), parse_directory(yaml.safe_dump(_DIR)))
    restored.restore(engine.snapshot())
    _feed(restored, [login("2026-02-20T08:00:00Z", "l-2")])
    assert (restored.alerts[aid].status, restored.alerts[aid].evidence[-1]) == ("open", "l-2")


@pytest.mark.parametrize(
    ("rotated_at", "reopens"),
    [("2026-01-01T10:00:00Z", True), ("2026-01-01T21:00:00Z", True), ("2026-01-01T21:00:01Z", False),
     ("2026-06-01T09:00:00Z", False), ("2026-01-01T08:00:00Z", False)],
)  # fmt: skip
def test_an_admin_action_is_put_to_an_unmanaged_sign_in_only_within_the_admin_session(
    rotated_at: str, reopens: bool
) -> None:
    """SIG-01 put a rotation five months later to an unmanaged sign-in, reopening the alert a person had resolved;
    an action within admin_session (12h) after the sign-in is still put to it, one before it never."""
    engine = build_engine(load_profile("default"), parse_directory(yaml.safe_dump(_DIR)))
    _feed(engine, [login("2026-01-01T09:00:00Z", "l-1", device_id="d-9", managed=False)])
    aid = alert_id("SIG-01", "acc-1", "p-1", "d-9")
    engine.resolve(aid, "sec-1", datetime.fromisoformat("2026-01-01T09:30:00Z"), "spoke to p-1")
    _feed(engine, [rotated(rotated_at, "v-1", actor_id="p-1")])
    assert (engine.alerts[aid].status == "open") is reopens, engine.alert(engine.alerts[aid])
