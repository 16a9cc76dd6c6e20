"""The reliability pieces without a broker: when a router's watermark may follow the wall clock, and local snapshots."""

from __future__ import annotations

import asyncio
import gc
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.demo import write_demo
from monitor.directory import directory_events, load_directory
from monitor.policy import load_profile
from streams.alignment import Lane, watermark
from streams.app import Runtime
from streams.partition import PartitionEngine
from streams.settings import StreamSettings
from streams.snapshots import SnapshotStore
from tests.streams.worklog import LANE, with_watermarks

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
LATE = timedelta(minutes=5)


def lane(read: int | None, end: int | None, held: int = 0, start: int | None = None, days: int = 30,
         settled: bool = True) -> Lane[str]:  # fmt: skip
    ln: Lane[str] = Lane(start=start, read=read, end=end, time=NOW - timedelta(days=days) if read else None)
    ln.seq, ln.confirmed = (1, 1) if settled else (1, 0)
    for i in range(held):
        ln.held.append((NOW - timedelta(days=days + 1), i, f"h{i}"))
    return ln


TOP = NOW - timedelta(days=30)  # the latest event time the lanes below read
EPS = timedelta(microseconds=1)


@pytest.mark.parametrize(
    ("lanes", "mark"),
    [
        ({"a": lane(10, 10), "b": lane(None, 7, start=7)}, NOW),  # read to the end, nothing held: the wall clock
        ({"a": lane(10, 10), "b": lane(3, 10, days=31)}, NOW - timedelta(days=31)),  # a backlog not read yet
        ({"a": lane(10, 10, held=1)}, NOW - timedelta(days=31)),  # read to the end, but a message is still held
        ({"a": lane(10, 10), "b": lane(10, 10, days=32, settled=False)}, NOW - timedelta(days=32)),  # end not confirmed
        ({"a": lane(10, 10), "b": lane(None, 10, start=None)}, None),  # where reading starts is not known yet
        ({"a": lane(10, 10), "b": lane(None, None, start=0)}, None),  # high-water mark not known yet
        ({"a": lane(None, 9, start=4)}, None),  # nothing read, but the committed offset is behind the end
        ({}, None),  # no input partition held: the routers that hold them speak for them
    ],
)
def test_the_watermark_follows_the_wall_clock_only_once_nothing_is_held_or_unread(
    lanes: dict[str, Lane[str]], mark: datetime | None
) -> None:
    assert watermark(lanes, LATE, NOW) == (None if mark is None else mark - LATE)


def test_without_the_wall_clock_a_caught_up_router_vouches_for_what_it_read() -> None:
    lanes = {"a": lane(10, 10), "b": lane(None, 7, start=7)}
    assert watermark(lanes, LATE) == TOP - LATE  # what a replay's reorder buffer would release


def test_the_watermark_moves_on_once_the_backlog_is_read() -> None:
    lanes = {"a": lane(3, 10, days=31), "b": lane(10, 10)}
    assert watermark(lanes, LATE, NOW) == NOW - timedelta(days=31) - LATE
    lanes["a"].read = 10
    assert watermark(lanes, LATE, NOW) == NOW - LATE


def _settings(tmp: Path, **kw: object) -> StreamSettings:
    kw.setdefault("partitions", 2)
    return StreamSettings(data_dir=tmp, app_id="app", topic_prefix="t", **kw)  # type: ignore[arg-type]


def _engine(s: StreamSettings, partition: int = 0) -> PartitionEngine:
    profile = load_profile(s.policy)
    return PartitionEngine(profile, profile.parameters, partition, s.partitions, [LANE])


def _messages(tmp: Path) -> list[bytes]:
    """The demo month with its register first, as one partition's work log (one partition: it owns everything),
    with the watermarks of one router."""
    directory, events = write_demo(tmp / "demo", seed=7, days=30)
    lines = [ln for ln in events.read_bytes().splitlines() if ln.strip()]
    first = datetime.fromisoformat(json.loads(lines[0])["time"])
    register = [e.model_dump_json().encode() for e in directory_events(load_directory(directory), first)]
    return list(with_watermarks(register + lines, timedelta(minutes=5)))


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


def test_a_partition_restored_by_the_worker_is_frozen_until_the_worker_lets_it_go(tmp_path: Path) -> None:
    """A restored engine is kept out of the collector's walks (gcpause); dropping it gives it back to be freed."""
    s = _settings(tmp_path, partitions=1)
    msgs = _messages(tmp_path)
    folded = _engine(s)
    _fold(folded, msgs)
    SnapshotStore(s, s.topic("work")).write(0, folded.next_offset, folded.snapshot())
    runtime = Runtime(s)
    gc.unfreeze()
    try:
        pe = asyncio.run(runtime.engine_for(0, len(msgs)))  # at the snapshot's offset: nothing to fold, no broker
        assert runtime.rebuilt[0]["snapshot_offset"] == len(msgs) and pe.next_offset == len(msgs)
        assert pe.engine.people and gc.is_tracked(pe.engine.people)
        assert gc.get_freeze_count() > 0
        assert not any(o is pe.engine.people for o in gc.get_objects())  # in no generation: frozen
        runtime.forget({0})
        assert gc.get_freeze_count() == 0 and runtime.rebuilt == {}  # /health says nothing of a partition let go
        assert any(o is pe.engine.people for o in gc.get_objects())
    finally:
        gc.unfreeze()


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


def test_waiting_for_the_routers_says_how_it_goes_and_why_it_gave_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kafka.errors import KafkaTimeoutError  # type: ignore[import-untyped, unused-ignore]

    import streams.client
    from streams.client import wait_routed

    def no_broker(_: object) -> int:
        raise KafkaTimeoutError("Unable to bootstrap from 127.0.0.1:1")

    heard: list[str] = []
    monkeypatch.setattr(streams.client, "input_ends", no_broker)
    with pytest.raises(TimeoutError) as err:
        wait_routed(_settings(tmp_path), timeout=1.2, report=heard.append, every=0.5)
    assert str(err.value).startswith("could not read the input backlog in 1s (KafkaTimeoutError: Unable to bootstrap")
    assert heard and heard[0].startswith("no answer (KafkaTimeoutError: Unable to bootstrap from 127.0.0.1:1) after")
    ends = {"hr-0": 7}
    monkeypatch.setattr(streams.client, "input_ends", lambda _: dict(ends))
    monkeypatch.setattr(streams.client, "input_backlog", lambda _, upto: 5)
    with pytest.raises(TimeoutError, match=r"^5 input messages still not routed after 1s; is a worker running"):
        wait_routed(_settings(tmp_path), timeout=1.2, report=heard.append, every=0.5)
    assert heard[-1].startswith("5 input messages not yet routed after")
    monkeypatch.setattr(streams.client, "input_backlog", lambda _, upto: 1)  # one, not "1 input messages"
    with pytest.raises(TimeoutError, match=r"^1 input message still not routed after 1s; is a worker running\?$"):
        wait_routed(_settings(tmp_path), timeout=1.2, report=heard.append, every=0.5)
    assert heard[-1].startswith("1 input message not yet routed after")
    backlog, asked = iter([3, 0]), []

    def counted(_: object, upto: dict[str, int]) -> int:
        asked.append(upto)
        ends["hr-0"] += 10  # more keeps coming: only what there was at the start is waited for
        return next(backlog)

    monkeypatch.setattr(streams.client, "input_backlog", counted)
    wait_routed(_settings(tmp_path), timeout=5)  # returns once nothing is left to route
    assert asked == [{"hr-0": 7}, {"hr-0": 7}]


def test_idle_partitions_are_the_held_work_partitions_without_an_engine_with_their_committed_offsets() -> None:
    from aiokafka import TopicPartition  # type: ignore[import-untyped]

    from streams.app import idle_partitions

    held = {TopicPartition("work", p) for p in (0, 2, 3)} | {TopicPartition("signins", 1)}
    committed = {TopicPartition("work", 2): 40, TopicPartition("work", 0): 7, TopicPartition("signins", 1): 9}
    # 0 has an engine; 2 is idle at 40; 3 was never committed; the input partition is not a work partition
    assert idle_partitions(held, "work", {0: object()}, committed) == {"2": 40, "3": None}
    assert idle_partitions(set(), "work", {}, committed) == {}


def test_an_alert_action_is_taken_by_the_partition_holding_the_alert_and_folded_again_by_a_rebuild(
    tmp_path: Path,
) -> None:
    """Acknowledging or resolving goes to every work partition: the one holding the alert makes its new version,
    the others ignore it, and a rebuild from the log reaches the same state without sending it again."""
    from streams.routing import AlertAction, alert_action_message

    s = _settings(tmp_path, partitions=2)
    msgs = _messages(tmp_path)
    engines = [_engine(s, 0), _engine(s, 1)]
    for pe in engines:
        _fold(pe, msgs)
    holder = next(pe for pe in engines if any(a.status == "open" for a in pe.engine.alerts.values()))
    other = engines[1 - holder.partition]
    target = next(a for a in sorted(holder.engine.alerts.values(), key=lambda a: a.id) if a.status == "open")
    assert target.id not in other.engine.alerts
    at = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    ack = alert_action_message(AlertAction("ack", target.id, "p-sec-1", at, "looking"))
    resolve = alert_action_message(AlertAction("resolve", target.id, "p-sec-1", at + timedelta(hours=1), "removed"))
    n = len(msgs)

    acked = holder.apply(ack, n).alerts
    assert [(a.id, a.status, a.updated_at) for a in acked] == [(target.id, "acknowledged", at)]
    assert other.apply(ack, n).alerts == [] and other.next_offset == n + 1
    done = holder.apply(resolve, n + 1).alerts
    assert [(a.id, a.status, a.resolved_by, a.note) for a in done] == [(target.id, "resolved", "p-sec-1", "removed")]
    assert holder.apply(ack, n + 2).alerts == []  # a resolved alert cannot be acknowledged: refused, nothing sent

    rebuilt = _engine(s, holder.partition)
    assert rebuilt.rebuild(enumerate([*msgs, ack, resolve, ack])) == n + 3
    final = holder.engine.alert(holder.engine.alerts[target.id])
    assert rebuilt.engine.alert(rebuilt.engine.alerts[target.id]) == final and final.status == "resolved"
    assert rebuilt.next_offset == holder.next_offset
