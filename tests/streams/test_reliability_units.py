"""The reliability pieces without a broker: when the wall-clock tick may move event time, and local snapshots."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.demo import write_demo
from monitor.directory import directory_events, load_directory
from monitor.policy import load_profile
from streams.alignment import Lane, caught_up, tick_until
from streams.partition import PartitionEngine
from streams.settings import StreamSettings
from streams.snapshots import SnapshotStore

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
LATE = timedelta(minutes=5)


def lane(read: int | None, end: int | None, held: int = 0, start: int | None = None) -> Lane[str]:
    ln: Lane[str] = Lane(start=start, read=read, end=end, time=NOW - timedelta(days=30))
    for i in range(held):
        ln.held.append((ln.time, f"h{i}"))
    return ln


@pytest.mark.parametrize(
    ("lanes", "ticks"),
    [
        ({}, True),  # no input partition held: other routers feed this worker
        ({"a": lane(10, 10), "b": lane(None, 7, start=7)}, True),  # every lane read to its end, nothing held
        ({"a": lane(10, 10), "b": lane(3, 10)}, False),  # a backlog not read yet
        ({"a": lane(10, 10, held=1)}, False),  # read to the end, but a message is still held
        ({"a": lane(10, 10), "b": lane(None, 10, start=None)}, False),  # where reading starts is not known yet
        ({"a": lane(10, 10), "b": lane(None, None, start=0)}, False),  # high-water mark not known yet
        ({"a": lane(None, 9, start=4)}, False),  # nothing read, but the committed offset is behind the end
    ],
)
def test_the_tick_waits_while_the_router_holds_or_has_not_read_a_backlog(lanes: dict[str, Lane[str]],
                                                                         ticks: bool) -> None:  # fmt: skip
    assert caught_up(lanes) is ticks
    assert tick_until(lanes, NOW, LATE) == (NOW - LATE if ticks else None)


def test_the_tick_moves_on_once_the_backlog_is_read() -> None:
    lanes = {"a": lane(3, 10), "b": lane(10, 10)}
    assert tick_until(lanes, NOW, LATE) is None
    lanes["a"].read = 10
    assert tick_until(lanes, NOW, LATE) == NOW - LATE


def _settings(tmp: Path, **kw: object) -> StreamSettings:
    kw.setdefault("partitions", 2)
    return StreamSettings(data_dir=tmp, app_id="app", topic_prefix="t", **kw)  # type: ignore[arg-type]


def _engine(s: StreamSettings, partition: int = 0) -> PartitionEngine:
    profile = load_profile(s.policy)
    return PartitionEngine(profile, profile.parameters, partition, s.partitions, s.lateness)


def _messages(tmp: Path) -> list[bytes]:
    """The demo month with its register first, as one partition's work log (one partition: it owns everything)."""
    directory, events = write_demo(tmp / "demo", seed=7, days=30)
    lines = [ln for ln in events.read_bytes().splitlines() if ln.strip()]
    first = datetime.fromisoformat(json.loads(lines[0])["time"])
    return [e.model_dump_json().encode() for e in directory_events(load_directory(directory), first)] + lines


def _fold(pe: PartitionEngine, messages: list[bytes], start: int = 0) -> list[str]:
    out = []
    for off in range(start, len(messages)):
        out += [a.model_dump_json() for a in pe.apply(messages[off], off).alerts]
    return out


def test_a_partition_restored_from_a_snapshot_goes_on_exactly_as_one_that_never_stopped(tmp_path: Path) -> None:
    s = _settings(tmp_path, partitions=1)
    msgs = _messages(tmp_path)
    whole = _fold(_engine(s), msgs)
    cut = len(msgs) // 2
    first = _engine(s)
    before = _fold(first, msgs[:cut])
    store = SnapshotStore(s, s.topic("work"))
    store.write(0, first.next_offset, first.snapshot())
    snap = store.best(0, cut)
    assert snap is not None and snap.offset == cut
    second = _engine(s)
    second.restore(snap.blob)
    assert second.next_offset == cut
    assert before + _fold(second, msgs, start=cut) == whole
    assert len(whole) > 100


def test_the_newest_snapshot_at_or_before_the_offset_is_chosen_and_others_refused(tmp_path: Path) -> None:
    s = _settings(tmp_path)
    store = SnapshotStore(s, s.topic("work"))
    assert store.best(0, 100) is None
    store.write(0, 40, b"forty")
    store.write(0, 90, b"ninety")  # the one at 40 is kept as .prev
    assert store.path(0).name == "app-t.work-p0.snap"
    assert [(x.offset, x.blob) for x in [store.best(0, 100), store.best(0, 89)] if x] == [(90, b"ninety"),
                                                                                          (40, b"forty")]  # fmt: skip
    assert store.best(0, 39) is None  # both are ahead of what was handed over: a full rebuild
    assert store.best(1, 100) is None  # another partition's
    other_code = SnapshotStore(s, s.topic("work"))
    other_code.code = "another-version"
    assert other_code.best(0, 100) is None
    other_config = SnapshotStore(_settings(tmp_path, lateness="10m"), s.topic("work"))
    assert other_config.best(0, 100) is None
    store.path(0).write_bytes(b"garbage")  # a damaged newest file: the previous one still serves
    assert (b := store.best(0, 100)) is not None and b.offset == 40
    assert not list(tmp_path.glob("snapshots/.*.tmp"))  # written through a temporary file, renamed
    header = json.loads(store.path(0).with_name(store.path(0).name + ".prev").read_bytes()[14:].split(b"}")[0] + b"}")
    assert header["offset"] == 40 and header["code"] == store.code
