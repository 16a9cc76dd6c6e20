"""A mover's duty (LVR-02) and a leaving notice for the same person: one duty per person and account, held by the
notice that takes effect first; a later leaving never resolves the mover's duty, and a cancelled leaving leaves the
move standing (EVENTS.md: hr.leaver_cancelled clears open leaver duties). Rule cases cannot say "this alert and not
that one" or look at the facts, so these do."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import yaml

from monitor.directory import parse_directory
from monitor.engine import Engine
from monitor.policy import load_profile
from monitor.replay import build_engine, replay
from monitor.rules._fixtures import account, directory, leaver, platform_admin_removed, post, role_changed, staff
from monitor.rules.base import ev

_THREE = directory(account(admins=["p-1", "p-2", "p-3"]), people=staff("p-1", "p-2", "p-3"))
_TWO = directory(account(admins=["p-1", "p-2"]), people=staff("p-1", "p-2"))
_START = post("2026-10-01T09:00:00Z", "post-0", person_id="p-2")
# admin p-1 moves to finance on 3 Nov: the seat is due to go by 4 Nov 09:00 (leaver_deadline 24 h)
_MOVE = role_changed("2026-11-01T09:00:00Z", "hr-m", "p-1", "2026-11-03T09:00:00Z", "finance")
_NOTICE = leaver("2026-11-05T09:00:00Z", "hr-l", "p-1", "2026-12-31T17:00:00Z")
_EARLY_NOTICE = leaver("2026-11-02T09:00:00Z", "hr-l", "p-1", "2026-12-31T17:00:00Z")  # before the move takes effect


def _cancel(t: str) -> dict[str, Any]:
    return ev("hr.leaver_cancelled", t, "hr-c", person_id="p-1")


def _engine(events: list[dict[str, Any]], register: dict[str, Any] = _THREE, until: str | None = None) -> Engine:
    engine = build_engine(load_profile("default"), parse_directory(yaml.safe_dump(register)))
    lines = [("test", i + 1, json.dumps(e).encode()) for i, e in enumerate(events)]
    result = replay(engine, lines, until=datetime.fromisoformat(until) if until else None)
    assert not result.rejected and not engine.stats.rule_errors
    return engine


def _alerts(engine: Engine, *controls: str) -> list[tuple[str, str, str, str]]:
    """(control, severity, status, resolved_by) of each alert of those controls, sorted."""
    return sorted(
        (a.control, a.severity, a.status, a.resolved_by or "") for a in engine.final_alerts() if a.control in controls
    )


_NOV20 = "2026-11-20T00:00:00Z"


def test_a_mover_left_in_place_alerts() -> None:
    assert _alerts(_engine([_MOVE], until=_NOV20), "LVR-01", "LVR-02") == [("LVR-02", "critical", "open", "")]


def test_a_later_leaving_notice_does_not_resolve_the_overdue_mover_alert() -> None:
    engine = _engine([_MOVE, _NOTICE], until=_NOV20)
    assert _alerts(engine, "LVR-01", "LVR-02") == [("LVR-02", "critical", "open", "")]


def test_a_later_leaving_notice_withdrawn_leaves_the_move_standing() -> None:
    engine = _engine([_START, _MOVE, _NOTICE, _cancel("2026-11-06T09:00:00Z")], _TWO, until=_NOV20)
    assert _alerts(engine, "LVR-01", "LVR-02", "DIR-02") == [
        ("DIR-02", "high", "open", ""),
        ("LVR-02", "critical", "open", ""),
    ]
    p = engine.people["p-1"]
    assert p.moved_at is not None and p.mover_event == "hr-m" and p.leaving_at is None and p.leaver_event is None


def test_a_notice_before_the_move_takes_effect_withdrawn_after_it_leaves_the_mover_duty() -> None:
    engine = _engine([_START, _MOVE, _EARLY_NOTICE, _cancel("2026-11-10T09:00:00Z")], _TWO, until=_NOV20)
    assert _alerts(engine, "LVR-01", "LVR-02", "DIR-02") == [
        ("DIR-02", "high", "open", ""),
        ("LVR-02", "critical", "open", ""),
    ]


def test_the_mover_alert_stands_past_the_leaving_and_lvr_01_does_not_repeat_it() -> None:
    """One seat, one alert: the mover's deadline came first, so LVR-02 holds the duty through the leaving."""
    engine = _engine([_MOVE, _NOTICE], until="2027-01-05T00:00:00Z")
    assert _alerts(engine, "LVR-01", "LVR-02") == [("LVR-02", "critical", "open", "")]


def test_the_moved_seat_removed_late_resolves_and_nothing_is_left_for_the_leaving() -> None:
    removed = platform_admin_removed("2026-11-21T09:00:00Z", "pa-1", "p-1", actor_id="p-2")
    engine = _engine([_MOVE, _NOTICE, removed], until="2027-01-05T00:00:00Z")
    assert _alerts(engine, "LVR-01", "LVR-02") == [("LVR-02", "critical", "resolved", "monitor")]


def test_a_leaving_between_the_move_and_its_deadline_keeps_the_mover_deadline() -> None:
    """Leaving at 20:00 on the day of the move: LVR-02 still alerts at the move's deadline, not a day later."""
    notice = leaver("2026-11-02T09:00:00Z", "hr-l", "p-1", "2026-11-03T20:00:00Z")
    assert _alerts(_engine([_MOVE, notice], until="2026-11-04T09:00:00Z"), "LVR-01", "LVR-02") == [
        ("LVR-02", "high", "open", "")
    ]
    assert _alerts(_engine([_MOVE, notice], until="2026-11-04T08:59:00Z"), "LVR-01", "LVR-02") == []


def test_a_leaving_before_the_move_takes_effect_is_lvr_01s() -> None:
    notice = leaver("2026-11-02T09:00:00Z", "hr-l", "p-1", "2026-11-02T17:00:00Z")
    engine = _engine([_MOVE, notice], until=_NOV20)
    assert _alerts(engine, "LVR-01", "LVR-02") == [("LVR-01", "critical", "open", "")]


def test_a_leaving_before_the_move_withdrawn_gives_the_duty_back_to_the_move() -> None:
    notice = leaver("2026-11-02T09:00:00Z", "hr-l", "p-1", "2026-11-02T17:00:00Z")
    engine = _engine([_MOVE, notice, _cancel("2026-11-02T12:00:00Z")], until=_NOV20)
    assert _alerts(engine, "LVR-01", "LVR-02") == [("LVR-02", "critical", "open", "")]
    assert engine.accounts["acc-1"].duties["p-1"].kind == "mover"


def test_a_leaving_notice_then_an_earlier_move_the_move_holds_the_duty() -> None:
    """The same notices in the other order: the move's deadline comes first whichever HR sent first."""
    notice = leaver("2026-10-31T09:00:00Z", "hr-l", "p-1", "2026-12-31T17:00:00Z")
    engine = _engine([notice, _MOVE], until=_NOV20)
    assert _alerts(engine, "LVR-01", "LVR-02") == [("LVR-02", "critical", "open", "")]


def test_a_mover_confirmed_while_a_leaving_is_noticed_gets_a_leaver_duty() -> None:
    """Confirming that a mover keeps the account does not let them keep it past their leaving."""
    notice = leaver("2026-11-05T09:00:00Z", "hr-l", "p-1", "2026-11-10T17:00:00Z")
    confirmed = ev("directory.access_confirmed", "2026-11-05T10:00:00Z", "cf-1", account_id="acc-1", person_id="p-1")
    engine = _engine([_MOVE, notice, confirmed], until=_NOV20)
    assert _alerts(engine, "LVR-01", "LVR-02") == [
        ("LVR-01", "critical", "open", ""),
        ("LVR-02", "high", "resolved", "monitor"),
    ]
