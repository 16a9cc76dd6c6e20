"""An event stamped too far ahead of its arrival is refused before the engine (monitor/arrival.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitor.arrival import refuse_if_ahead
from schemas.events import Rejected, parse_event

ARRIVED = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def _post(at: datetime) -> bytes:
    return (
        '{"specversion": "1.0", "id": "p-1", "source": "x/audit", "type": "post.published", '
        f'"time": "{at.isoformat()}", "data": {{"account_id": "a-1"}}}}'
    ).encode()


@pytest.mark.parametrize("ahead", [timedelta(hours=-30), timedelta(0), timedelta(minutes=59), timedelta(hours=1)])
def test_an_event_within_the_allowance_is_taken(ahead: timedelta) -> None:
    refuse_if_ahead(parse_event(_post(ARRIVED + ahead)), ARRIVED, timedelta(hours=1))  # raises nothing


def test_an_event_past_the_allowance_is_refused_naming_both_times() -> None:
    ev = parse_event(_post(datetime(2099, 11, 1, tzinfo=UTC)))
    with pytest.raises(Rejected) as err:
        refuse_if_ahead(ev, ARRIVED, timedelta(hours=1))
    assert err.value.event_id == "p-1"
    assert err.value.reason == (
        "time 2099-11-01T00:00:00+00:00 is 26,661 days ahead of its arrival at 2026-11-02T09:00:00+00:00, "
        "more than the 1h taken (MONITOR_MAX_AHEAD); check the source's clock and UTC offset"
    )


@pytest.mark.parametrize(
    ("ahead", "said"),
    [
        (timedelta(minutes=61, seconds=30), "1h 1m 30s"),
        (timedelta(hours=5, minutes=59), "5h 59m"),
        (timedelta(days=2, hours=3), "2 days"),
    ],
)
def test_how_far_ahead_is_said_exactly_or_from_two_days_on_in_whole_days(ahead: timedelta, said: str) -> None:
    with pytest.raises(Rejected, match=f" is {said} ahead of its arrival"):
        refuse_if_ahead(parse_event(_post(ARRIVED + ahead)), ARRIVED, timedelta(hours=1))


@pytest.mark.parametrize("settings", ["service.settings.ServiceSettings", "streams.settings.StreamSettings"])
def test_both_runtimes_read_the_allowance_from_the_environment_and_refuse_none_at_all(
    settings: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib

    from pydantic import ValidationError

    module, name = settings.rsplit(".", 1)
    cls = getattr(importlib.import_module(module), name)
    assert cls().max_ahead == timedelta(hours=1)
    monkeypatch.setenv("MONITOR_MAX_AHEAD", "10m")
    assert cls().max_ahead == timedelta(minutes=10)
    monkeypatch.setenv("MONITOR_MAX_AHEAD", "0s")
    with pytest.raises(ValidationError, match="max_ahead must be positive"):
        cls()
