"""Alerts listed from the Kafka runtime's topic are filtered and ordered as the embedded monitor's API lists them."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest

from monitor.alertquery import select_alerts
from monitor.demo import write_demo
from monitor.directory import load_directory
from monitor.policy import load_profile
from monitor.replay import build_engine, read_lines, replay
from schemas.alerts import Alert
from service.store import Store


@pytest.fixture(scope="module")
def alerts(tmp_path_factory: pytest.TempPathFactory) -> list[Alert]:
    """The demo month's alerts, some acknowledged, so every status is there."""
    directory, events = write_demo(tmp_path_factory.mktemp("demo"), seed=7, days=30)
    engine = build_engine(load_profile("default"), load_directory(directory))
    with open(events, "rb") as fh:
        replay(engine, read_lines([(str(events), fh)]))
    found = engine.final_alerts()
    found = [a.model_copy(update={"status": "acknowledged"}) if i % 7 == 3 and a.status == "open" else a
             for i, a in enumerate(found)]  # fmt: skip
    assert {a.status for a in found} == {"open", "acknowledged", "resolved"}, "the demo should give every status"
    return found


@pytest.fixture(scope="module")
def store(alerts: list[Alert]) -> Store:
    s = Store(sqlite3.connect(":memory:"))
    for a in alerts:
        s.put_alert(a)
    return s


def _queries(alerts: list[Alert]) -> list[dict[str, Any]]:
    person = next(a.person_id for a in alerts if a.person_id)
    account = next(a.account_id for a in alerts if a.account_id)
    controls = sorted({a.control for a in alerts})
    return [
        {},
        {"limit": 5},
        {"limit": 10, "offset": 20},
        {"status": ["open"]},
        {"status": ["acknowledged", "resolved"], "limit": 1000},
        {"control": controls[:2], "limit": 1000},
        {"severity": ["high", "critical"], "limit": 1000},
        {"account_id": account, "limit": 1000},
        {"person_id": person, "status": ["open"], "limit": 1000},
        {"control": ["LVR-01"], "severity": ["low"]},  # nothing
    ]


def test_every_query_gives_the_embedded_monitors_total_and_page(alerts: list[Alert], store: Store) -> None:
    nonempty = 0
    for query in _queries(alerts):
        want_total, want = store.alerts(**query)
        total, page = select_alerts(alerts, **query)
        assert total == want_total, query
        assert [a.id for a in page] == [a.id for a in want], query
        nonempty += bool(page)
    assert nonempty >= 8, "most queries should find something, or the comparison says little"


def test_newest_first_and_filters_narrow(alerts: list[Alert]) -> None:
    total, page = select_alerts(alerts, limit=len(alerts))
    assert total == len(alerts) == len(page)
    assert [(a.raised_at, a.id) for a in page] == sorted(((a.raised_at, a.id) for a in alerts), reverse=True)
    n_open, opened = select_alerts(alerts, status=["open"], limit=len(alerts))
    assert 0 < n_open < total and all(a.status == "open" for a in opened)


def test_no_alerts_give_an_empty_page() -> None:
    assert select_alerts([]) == (0, [])
