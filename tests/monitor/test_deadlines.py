"""The engine's deadlines: one set twice before it falls due fires once; one set again after it fired fires again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from monitor.engine import Engine
from monitor.policy import load_profile

T = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def fired(monkeypatch: pytest.MonkeyPatch) -> tuple[Engine, list[tuple[datetime, str, str]]]:
    """An engine whose deadlines, as they fire, are recorded (time, account, key) instead of run."""
    engine = Engine(load_profile("default"))
    calls: list[tuple[datetime, str, str]] = []

    def record(ev: Any, etype: str, facts: Any, only: Any = None) -> None:
        calls.append((ev.time, facts.account_id, ev.key))

    monkeypatch.setattr(engine, "_run_rules", record)
    engine.advance(T)
    return engine, calls


def test_a_deadline_set_twice_before_it_falls_due_fires_once(fired: tuple[Engine, list[Any]]) -> None:
    engine, calls = fired
    due = T + timedelta(hours=1)
    for _ in range(3):
        engine._schedule(due, "acc-1", "SIG-05", "dormant")
    engine._schedule(due, "acc-2", "SIG-05", "dormant")  # the same time for another account is its own deadline
    engine._schedule(due, "acc-1", "SIG-05", "other")  # and so is another key
    engine.advance(due + timedelta(minutes=1))
    assert calls == [(due, "acc-1", "dormant"), (due, "acc-1", "other"), (due, "acc-2", "dormant")]
    assert engine._timers == []


def test_a_deadline_set_again_after_it_fired_fires_again(fired: tuple[Engine, list[Any]]) -> None:
    engine, calls = fired
    due = T + timedelta(hours=1)
    engine._schedule(due, "acc-1", "SIG-05", "dormant")
    engine.advance(due)
    engine._schedule(due, "acc-1", "SIG-05", "dormant")  # at a time already passed: fires at the next move
    engine.advance(due + timedelta(seconds=1))
    assert calls == [(due, "acc-1", "dormant"), (due, "acc-1", "dormant")]


def test_a_deadline_booked_on_every_event_does_not_grow_the_heap_with_the_events(
    fired: tuple[Engine, list[Any]],
) -> None:
    engine, calls = fired
    due = T + timedelta(hours=1)
    others = [(T + timedelta(minutes=m), f"acc-{m}", "SIG-05", "dormant") for m in range(1, 50)]
    for tk in others:
        engine._schedule(*tk)
    for _ in range(100_000):  # a leaver's duty, booked again on each of their sign-ins
        engine._schedule(due, "acc-1", "LVR-01", "p-1")
    assert len(engine._timers) <= 2 * 4096  # copies are dropped as the heap passes its limit
    engine.advance(due)
    assert calls == [(at, aid, key) for at, aid, _, key in others] + [(due, "acc-1", "p-1")]


def test_a_deadline_set_again_by_the_rule_it_wakes_fires_again(monkeypatch: pytest.MonkeyPatch) -> None:
    engine = Engine(load_profile("default"))
    due = T + timedelta(hours=1)
    calls: list[datetime] = []

    def rule(ev: Any, etype: str, facts: Any, only: Any = None) -> None:
        calls.append(ev.time)
        if len(calls) == 1:  # the woken rule books the same deadline again, as it runs
            engine._schedule(due, "acc-1", "SIG-05", "dormant")

    monkeypatch.setattr(engine, "_run_rules", rule)
    engine.advance(T)
    engine._schedule(due, "acc-1", "SIG-05", "dormant")
    engine._schedule(due, "acc-1", "SIG-05", "dormant")  # a copy set before it fires: dropped
    engine.advance(due)
    assert calls == [due, due] and engine._timers == []
