"""An engine restored from a snapshot taken mid-stream ends exactly where one that never stopped ends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.demo import write_demo
from monitor.directory import load_directory
from monitor.engine import Engine
from monitor.policy import load_profile
from monitor.replay import build_engine, read_lines
from schemas.events import Event, parse_event

END = datetime(2026, 10, 31, tzinfo=UTC)


@pytest.fixture(scope="module")
def month(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Event]]:
    dp, ep = write_demo(tmp_path_factory.mktemp("demo"))
    with ep.open("rb") as fh:
        return dp, [parse_event(raw) for _, _, raw in read_lines([("e", fh)])]


def _engine(directory: Path) -> Engine:
    return build_engine(load_profile("default"), load_directory(directory), lateness=timedelta(hours=1))


def _finish(e: Engine, events: list[Event]) -> list[str]:
    for ev in events:
        e.submit(ev)
    e.flush()
    e.advance(END)
    return [a.model_dump_json() for a in e.final_alerts()]


@pytest.mark.parametrize("cut", [0, 1, 2_500, 13_000, 25_000])
def test_restore_mid_stream_gives_the_same_alerts(month: tuple[Path, list[Event]], cut: int) -> None:
    directory, events = month
    whole = _finish(_engine(directory), events)
    first = _engine(directory)
    for ev in events[:cut]:
        first.submit(ev)
    blob = first.snapshot()
    second = _engine(directory)
    second.restore(blob)
    assert second.clock == first.clock
    assert len(second._buffer) == len(first._buffer)  # events still in the reorder buffer travel too
    assert _finish(second, events[cut:]) == whole


def test_a_snapshot_missing_a_part_is_refused(month: tuple[Path, list[Event]]) -> None:
    import pickle

    e = _engine(month[0])
    state = pickle.loads(e.snapshot())
    del state["alerts"]
    with pytest.raises(ValueError, match="snapshot lacks \\['alerts'\\]"):
        e.restore(pickle.dumps(state))
