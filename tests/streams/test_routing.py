"""Routing and partitioned engines without a broker: the same alerts as one engine over everything."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from monitor.demo import write_demo
from monitor.directory import directory_events, load_directory, organisation_params, parse_directory
from monitor.policy import Profile, load_profile
from monitor.replay import build_engine, read_lines, replay
from monitor.rules import RULES
from monitor.rules.base import Case
from schemas.directory import Directory
from streams.partition import PartitionEngine
from streams.routing import (
    BATCH_BYTES,
    BATCH_EVENTS,
    BROADCAST,
    DeadLetter,
    Routed,
    advance_message,
    arrival,
    parse_advance,
    parse_batch,
    parse_watermark,
    partition_of,
    redact,
    route,
    watermark_message,
    work_events,
    work_messages,
)
from tests.event_sizes import size_cases
from tests.streams.cases import case_stream
from tests.streams.worklog import LANE, with_watermarks


def test_partition_of_is_stable_and_spread() -> None:
    owners = [partition_of(f"acc-{i:03d}", 8) for i in range(400)]
    assert owners == [partition_of(f"acc-{i:03d}", 8) for i in range(400)]
    assert set(owners) == set(range(8))


def test_people_and_incidents_go_everywhere_accounts_to_their_owner() -> None:
    leaver = b'{"specversion":"1.0","id":"h","source":"hr","type":"hr.leaver","time":"2026-11-02T09:00:00Z",' \
             b'"data":{"person_id":"p-1","leaving_at":"2026-11-06T17:00:00Z"}}'  # fmt: skip
    r = route(leaver, 4)
    assert isinstance(r, Routed) and r.partitions == (0, 1, 2, 3) and "hr.leaver" in BROADCAST
    post = b'{"specversion":"1.0","id":"p","source":"x","type":"post.published","time":"2026-11-02T09:00:00Z",' \
           b'"data":{"account_id":"acc-7"}}'  # fmt: skip
    r = route(post, 4)
    assert isinstance(r, Routed) and r.partitions == (partition_of("acc-7", 4),)


def test_bad_input_becomes_a_dead_letter_with_its_reason_and_no_secret() -> None:
    raw = b'{"specversion":"1.0","id":"p","source":"x","type":"post.published","time":"2026-11-02T09:00:00Z",' \
          b'"data":{"account_id":"acc-7","api_token":"s3cr3t"}}'  # fmt: skip
    r = route(raw, 4)
    assert isinstance(r, DeadLetter) and "looks like it holds a secret" in r.reason and r.event_id == "p"
    scrubbed = redact(raw)
    assert b"s3cr3t" not in scrubbed and json.loads(scrubbed)["data"]["api_token"] == "[REDACTED]"
    assert redact(b"{not json") == b"{not json"


@pytest.mark.parametrize(("name", "raw", "accepted"), size_cases("kafka"), ids=lambda x: str(x)[:20])
def test_the_router_judges_an_event_s_size_as_the_file_and_the_api_do(name: str, raw: bytes, accepted: bool) -> None:
    r = route(raw, 4)
    if accepted:
        assert isinstance(r, Routed) and r.event.id.startswith("size-")
    else:
        assert isinstance(r, DeadLetter) and "bytes as compact JSON, over the 65536-byte limit" in r.reason


def test_an_event_stamped_further_ahead_of_its_message_than_allowed_is_a_dead_letter() -> None:
    post = b'{"specversion":"1.0","id":"p","source":"x","type":"post.published","time":"2026-11-02T11:00:00Z",' \
           b'"data":{"account_id":"acc-7"}}'  # fmt: skip
    sent = datetime(2026, 11, 2, 9, 59, 59, tzinfo=UTC).timestamp()  # the message's timestamp, epoch seconds
    r = route(post, 4, arrival(sent), timedelta(hours=1))
    assert isinstance(r, DeadLetter) and r.event_id == "p"
    assert r.reason.startswith("time 2026-11-02T11:00:00+00:00 is 1h 1s ahead of its arrival at 2026-11-02T09:")
    assert isinstance(route(post, 4, arrival(sent + 1), timedelta(hours=1)), Routed)  # an hour ahead: taken
    assert isinstance(route(post, 4, arrival(-1.0), timedelta(hours=1)), Routed)  # no timestamp: nothing to judge by


@pytest.mark.parametrize("time", ["9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00", "1793610000"])
def test_a_time_the_engine_cannot_hold_is_a_dead_letter_not_a_stopped_router(time: str) -> None:
    """A valid-looking time outside what a datetime holds once in UTC raised OverflowError through the router."""
    raw = b'{"specversion":"1.0","id":"p","source":"x","type":"post.published","time":"%s",' \
          b'"data":{"account_id":"acc-7"}}' % time.encode()  # fmt: skip
    r = route(raw, 4)
    assert isinstance(r, DeadLetter) and r.reason.startswith("'time': ") and r.event_id == "p", r


def run_partitioned(
    lines: list[bytes],
    profile: Profile,
    directory: Directory | None,
    until: datetime,
    partitions: int,
    lateness: timedelta = timedelta(0),
    batch: int = 1,
) -> list[str]:
    """Events through routing and one engine per partition, as the live runtime runs them; final alerts. With
    `batch` > 1 the router releases that many events at a time, each partition's share in one work message."""
    params = organisation_params(profile.parameters, directory.organisation) if directory else profile.parameters
    engines = [PartitionEngine(profile, params, p, partitions, [LANE]) for p in range(partitions)]
    offsets = [0] * partitions
    first = min(datetime.fromisoformat(json.loads(raw)["time"]) for raw in lines)
    register = [e.model_dump_json().encode() for e in directory_events(directory, first)] if directory else []
    latest = {}

    def fold(p: int, raw: bytes, sent: float | None = None) -> None:
        for a in engines[p].apply(raw, offsets[p], sent).alerts:
            latest[a.id] = a
        offsets[p] += 1

    released: dict[int, list[tuple[bytes, float | None]]] = {}

    def forward() -> None:
        for p, events in released.items():
            for value, sent in work_messages(events):
                fold(p, value, sent)
        released.clear()

    for raw in with_watermarks([*register, *lines], lateness, every=batch):
        if parse_watermark(raw):
            forward()
            for p in range(partitions):
                fold(p, raw)
            continue
        routed = route(raw, partitions)
        assert isinstance(routed, Routed), routed
        for p in routed.partitions:
            released.setdefault(p, []).append((raw, None))
    forward()
    for p in range(partitions):
        fold(p, advance_message(until))
    return [a.model_dump_json() for a in sorted(latest.values(), key=lambda a: (a.raised_at, a.id))]


@pytest.mark.parametrize(("partitions", "batch"), [(1, 1), (3, 1), (8, 1), (3, 40)])
def test_partitioned_engines_give_the_alerts_of_one_engine(tmp_path: Path, partitions: int, batch: int) -> None:
    directory_path, events_path = write_demo(tmp_path, seed=3, days=20)
    lines = [line for line in events_path.read_bytes().splitlines() if line.strip()]
    last = datetime.fromisoformat(json.loads(lines[-1])["time"])
    profile, directory = load_profile("default"), load_directory(directory_path)
    lateness = timedelta(hours=1)
    single = build_engine(profile, directory, lateness=lateness)
    with open(events_path, "rb") as fh:
        replay(single, read_lines([("demo", fh)]))
    expected = [a.model_dump_json() for a in single.final_alerts()]
    assert len(expected) > 50
    assert run_partitioned(lines, profile, directory, last, partitions, lateness, batch) == expected


CASE_LATENESS = timedelta(hours=1)


@pytest.mark.parametrize(
    ("control", "case"),
    [pytest.param(s.control, c, id=f"{s.control}:{c.name}") for s in RULES.values() for c in s.cases],
)
def test_every_rule_case_gives_the_same_alerts_partitioned(control: str, case: Case) -> None:
    """Against a replay with a reorder buffer: the live engines sort events of one instant as it does (the case
    runs themselves keep their arrival order, replay's behaviour with no lateness)."""
    directory = parse_directory(yaml.safe_dump(case.directory)) if case.directory else None
    lines = [json.dumps(e).encode() for e in case.events]
    until = datetime.fromisoformat(case.until or max(e["time"] for e in case.events))
    single = build_engine(load_profile(case.profile), directory, lateness=CASE_LATENESS)
    replay(single, [("case", i + 1, raw) for i, raw in enumerate(lines)], until=until)
    got = run_partitioned(lines, load_profile(case.profile), directory, until, partitions=3, lateness=CASE_LATENESS)
    assert got == [a.model_dump_json() for a in single.final_alerts()]


def _login(i: int, minute: int) -> bytes:
    return json.dumps({"specversion": "1.0", "id": f"l-{i}", "source": "okta", "type": "login.succeeded",
                       "time": f"2026-11-02T09:{minute:02d}:00Z",
                       "data": {"account_id": "acc-9", "person_id": "p-1", "device_id": "d-1",
                                "device_managed": True, "mfa": True, "ip": "192.0.2.1"}}).encode()  # fmt: skip


def _at(minute: int) -> datetime:
    return datetime(2026, 11, 2, 9, minute, tzinfo=UTC)


def test_alert_latency_is_measured_from_the_causing_event_through_the_watermark() -> None:
    profile = load_profile("default")
    pe = PartitionEngine(profile, profile.parameters, 0, 1, [LANE])
    first = pe.apply(_login(1, 0), 0, sent_at=1000.0)
    assert first.alerts == []  # held until a watermark passes it
    assert pe.apply(_login(2, 10), 1, sent_at=2000.0).alerts == []
    released = pe.apply(watermark_message(_at(5), [LANE]), 2)  # moves event time past the first sign-in only
    assert released.alerts, "the first sign-in on an unregistered account raises DIR-01 once released"
    assert released.caused_at and set(released.caused_at) == {1000.0}


def test_an_event_further_behind_than_the_duplicate_memory_is_judged_and_named() -> None:
    """A file published again: a copy more than 7 days behind the engine's clock is judged as a late event (its id
    forgotten), raising alerts a replay does not give; it may as well be new, so it is judged, and named in the
    outputs for the log and metrics. One late but within the memory is not named, and a copy within it is a
    duplicate."""
    profile = load_profile("default")
    pe = PartitionEngine(profile, profile.parameters, 0, 1, [LANE])
    first = _login(1, 0)
    later = first.replace(b'"l-1"', b'"l-2"').replace(b"2026-11-02T09:00", b"2026-11-20T09:00")
    pe.apply(first, 0)
    pe.apply(later, 1)
    pe.apply(watermark_message(datetime(2026, 11, 20, 10, 0, tzinfo=UTC), [LANE]), 2)
    assert pe.engine.dedup_horizon == timedelta(days=7)
    out = pe.apply(first, 3)
    assert out.beyond_memory == ["l-1"] and out.late_events == 1 and pe.engine.stats.late == 1
    recent = first.replace(b'"l-1"', b'"l-3"').replace(b"2026-11-02T09:00", b"2026-11-14T09:00")
    out = pe.apply(recent, 4)
    assert out.beyond_memory == [] and pe.engine.stats.late == 2  # six days behind: judged, late, not named
    assert pe.apply(later, 5).beyond_memory == [] and pe.engine.stats.duplicates == 1
    assert pe.apply(first, 6).beyond_memory == [] and pe.engine.stats.duplicates == 2  # its copy, taken: remembered


def test_an_event_sent_to_every_partition_is_counted_once_for_the_deployment() -> None:
    """monitor_events_total counted an HR or register event once per partition (a register's 401 people as 3,208
    with 8 partitions), and a rotation, which every partition sees, as often: the dashboard's rates overstated."""
    profile = load_profile("default")
    engines = [PartitionEngine(profile, profile.parameters, p, 2, [LANE]) for p in range(2)]
    leaver = b'{"specversion":"1.0","id":"h","source":"hr","type":"hr.leaver","time":"2026-11-02T09:00:00Z",' \
             b'"data":{"person_id":"p-1","leaving_at":"2026-11-06T17:00:00Z"}}'  # fmt: skip
    rotated = (
        b'{"specversion":"1.0","id":"r","source":"vault","type":"credential.rotated",'
        b'"time":"2026-11-02T09:01:00Z","data":{"account_id":"acc-7","actor_id":"p-2","fingerprint":"sha256:0123abcd"}}'
    )
    routed = route(leaver, 2)
    assert isinstance(routed, Routed) and routed.partitions == (0, 1)  # it goes to every partition
    outs = [(pe.apply(leaver, 0), pe.apply(rotated, 1)) for pe in engines]
    assert [o.event_types for pair in outs for o in pair] == [["hr.leaver"], ["credential.rotated"]] * 2
    counted = [t for pair in outs for o in pair for t in o.counted_types]
    assert sorted(counted) == ["credential.rotated", "hr.leaver"]
    owner = partition_of("acc-7", 2)
    assert outs[owner][1].counted_types == ["credential.rotated"] and outs[0][0].counted_types == ["hr.leaver"]
    # one sent to every partition that carries an extra account_id (data allows extra fields) is still counted on
    # partition 0 alone; an extra id that is not text stopped every partition (partition_of on an int)
    extra = leaver.replace(b'"id":"h"', b'"id":"h2"').replace(b'"person_id"', b'"account_id":5,"person_id"')
    assert [pe.apply(extra, 2).counted_types for pe in engines] == [["hr.leaver"], []]
    # a duplicate is not counted, and an event past the duplicate memory is named on one partition only
    assert [pe.apply(leaver, 3).counted_types for pe in engines] == [[], []]
    late = leaver.replace(b'"id":"h"', b'"id":"h3"')
    for pe in engines:
        pe.apply(watermark_message(datetime(2026, 11, 20, tzinfo=UTC), [LANE]), 4)
    assert [pe.apply(late, 5).beyond_memory for pe in engines] == [["h3"], []]


def test_an_engine_releases_events_only_up_to_the_lowest_watermark_of_all_input_partitions() -> None:
    """Two routers, each holding one input partition: the one ahead does not get its events processed first."""
    profile = load_profile("default")
    pe = PartitionEngine(profile, profile.parameters, 0, 1, ["in:0", "in:1"])
    assert pe.apply(_login(2, 30), 0).alerts == []  # from the router ahead
    assert pe.apply(watermark_message(_at(40), ["in:1"]), 1).alerts == []  # in:0 has no watermark yet
    assert pe.waiting_for() == ["in:0"]
    assert pe.apply(watermark_message(_at(10), ["in:0"]), 2).alerts == []  # the low one: 09:30 may still be beaten
    assert pe.released == _at(10) and pe.engine.clock == _at(10) - timedelta(microseconds=1)
    assert pe.apply(_login(1, 20), 3).alerts == []  # the router behind: earlier, so it is first, and not late
    out = pe.apply(watermark_message(_at(35), ["in:0"]), 4)
    assert out.alerts and pe.engine.stats.late == 0
    assert {a.raised_at for a in out.alerts} == {_at(20)}  # raised by the earlier sign-in, as a replay would


def test_a_work_message_of_several_late_events_counts_each_in_the_late_metric() -> None:
    """monitor_events_late_total says it counts events, but went up once per work message, however many it carried."""
    from streams.metrics import REGISTRY, observe_event

    profile = load_profile("default")
    pe = PartitionEngine(profile, profile.parameters, 0, 1, [LANE])
    pe.apply(watermark_message(_at(30), [LANE]), 0)
    ((batch, _),) = work_messages([(_login(i, 0), None) for i in (1, 2, 3)] + [(_login(4, 40), None)])
    out = pe.apply(batch, 1)
    assert out.late_events == 3 and out.late is not None and out.late > timedelta(minutes=28)
    before = REGISTRY.get_sample_value("monitor_events_late_total") or 0.0
    observe_event(out)
    assert REGISTRY.get_sample_value("monitor_events_late_total") == before + 3


def test_a_late_event_sent_to_every_partition_is_counted_late_once() -> None:
    """monitor_events_late_total went up once per partition for a late leaver report, which every partition sees."""
    from streams.metrics import REGISTRY, observe_event

    profile = load_profile("default")
    leaver = json.dumps({"specversion": "1.0", "id": "h-1", "source": "hr", "type": "hr.leaver",
                         "time": "2026-11-02T09:00:00Z",
                         "data": {"person_id": "p-1", "leaving_at": "2026-11-06T17:00:00Z"}}).encode()  # fmt: skip
    counted = []
    for partition in range(4):
        pe = PartitionEngine(profile, profile.parameters, partition, 4, [LANE])
        pe.apply(watermark_message(_at(30), [LANE]), 0)
        out = pe.apply(leaver, 1)
        assert out.late_events == 1  # late on each: each partition's log says so
        before = REGISTRY.get_sample_value("monitor_events_late_total") or 0.0
        observe_event(out)
        counted.append(REGISTRY.get_sample_value("monitor_events_late_total") - before)
    assert counted == [1.0, 0.0, 0.0, 0.0]


@pytest.mark.parametrize("batch", [1, 7])
def test_every_rule_case_in_one_stream_gives_the_alerts_of_one_engine(batch: int) -> None:
    """The cases one after another share accounts and people, so state crosses from case to case (a rotation to
    an unknown fingerprint once reached only the owning partition, and the others kept the old one for CRD-06)."""
    lines, end = case_stream()
    profile = load_profile("default")
    single = build_engine(profile, None, lateness=CASE_LATENESS)
    replay(single, [("cases", i + 1, raw) for i, raw in enumerate(lines)], until=end)
    expected = [a.model_dump_json() for a in single.final_alerts()]
    assert len(expected) > 300
    assert run_partitioned(lines, profile, None, end, partitions=3, lateness=CASE_LATENESS, batch=batch) == expected


def test_events_released_together_go_in_batches_that_give_back_each_event_and_its_send_time() -> None:
    one = _login(1, 0)
    assert list(work_messages([(one, 5.0)])) == [(one, 5.0)]  # alone: the event's own bytes, as before batches
    events = [(_login(i, i % 60), None if i % 3 == 0 else 100.0 + i) for i in range(BATCH_EVENTS + 10)]
    messages = list(work_messages(events))
    assert len(messages) == 2 and all(parse_batch(m) is not None for m, _ in messages)
    assert [e for m, _ in messages for e in parse_batch(m) or []] == events  # order, bytes and send times kept
    assert [sent for _, sent in messages] == [101.0, 100.0 + BATCH_EVENTS]  # the earliest each carries
    assert [e for m, _ in messages for e in work_events(m)] == [raw for raw, _ in events]
    assert work_events(one) == [one] and work_events(watermark_message(_at(5), [LANE])) == []
    big = b" " * (BATCH_BYTES - 10) + one  # JSON may start with blanks; too big to share a message
    split = list(work_messages([(one, None), (big, None), (one, None)]))
    assert [m for m, _ in split] == [one, big, one]
    assert parse_batch(one) is None
    cut = messages[0][0][:-5]
    with pytest.raises(ValueError, match="cut short"):
        parse_batch(cut)


def test_a_batch_folds_as_its_events_one_by_one_and_a_rebuild_stops_at_its_event_budget() -> None:
    profile = load_profile("default")
    events = [(_login(i, i), 1000.0 + i) for i in range(1, 6)]
    mark = watermark_message(_at(30), [LANE])
    single = PartitionEngine(profile, profile.parameters, 0, 1, [LANE])
    for offset, (raw, sent) in enumerate(events):
        single.apply(raw, offset, sent)
    one_by_one = single.apply(mark, len(events))
    batched = PartitionEngine(profile, profile.parameters, 0, 1, [LANE])
    [(value, _)] = work_messages(events)
    first = batched.apply(value, 0)
    assert first.event_types == ["login.succeeded"] * 5 and batched.next_offset == 1
    released = batched.apply(mark, 1)
    assert released.alerts and released.alerts == one_by_one.alerts
    assert released.caused_at == one_by_one.caused_at  # each event's own send time, carried in the batch
    log = iter([(0, value), (1, mark), (2, _login(9, 40))])
    rebuilt = PartitionEngine(profile, profile.parameters, 0, 1, [LANE])
    assert rebuilt.rebuild(log, max_events=3) == 1  # five events folded: over the budget after one message
    assert rebuilt.rebuild(log, max_events=3) == 2 and rebuilt.next_offset == 3


def test_an_alert_action_round_trips_and_carries_no_events() -> None:
    from streams.routing import AlertAction, alert_action_message, parse_alert_action

    action = AlertAction("resolve", "al-0123", "p-sec-1", _at(5), "access removed")
    raw = alert_action_message(action)
    assert parse_alert_action(raw) == action
    assert work_events(raw) == [] and parse_advance(raw) is None and parse_watermark(raw) is None
    assert parse_alert_action(advance_message(_at(5))) is None


@pytest.mark.parametrize("control", ["monitor.advance", "monitor.watermark", "monitor.alert_action"])
def test_an_input_event_that_would_read_as_a_control_message_is_dead_lettered(control: str) -> None:
    """JSON takes the last of two "type" keys, so this is a valid login.failed to the schema; forwarded as its own
    bytes, the engine would have read it as a control message (an advance, a watermark, an alert resolved)."""
    from streams.routing import CONTROL_PREFIX, AlertAction, alert_action_message, parse_alert_action

    forged = (
        f'{{"type": "{control}", "time": "2026-10-01T00:00:00Z", "kind": "resolve", "alert_id": "al-1", '
        '"by": "x", "at": "2026-10-01T00:00:00Z", "lanes": [], "specversion": "1.0", "id": "f-1", '
        '"source": "idp", "type": "login.failed", "data": {"account_id": "acc-1", "ip": "192.0.2.1"}}'
    ).encode()
    assert any(p(forged) is not None for p in (parse_advance, parse_watermark, parse_alert_action))
    out = route(forged, 4)
    assert isinstance(out, DeadLetter) and out.event_id == "f-1" and "control messages" in out.reason
    # every control message starts with the refused prefix, so none can be forged this way
    action = alert_action_message(AlertAction("ack", "al-1", "x", _at(1)))
    assert all(m.startswith(CONTROL_PREFIX) for m in (advance_message(_at(1)), watermark_message(_at(1), []), action))
    # and an ordinary event does not
    ok = route(_login(1, 5), 4)
    assert isinstance(ok, Routed)


def test_a_replay_of_the_topics_offers_the_router_every_message_it_might_refuse_as_ahead(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """input_history judged by the first "time" it found: a lower-case 'z' found none (so none was judged) and a
    second "time" key (JSON takes the last) hid the far one; the router refused both and the replay took them."""
    from types import SimpleNamespace

    import streams.client
    from streams.client import input_history
    from streams.settings import StreamSettings

    sent = datetime(2026, 11, 2, 9, tzinfo=UTC).timestamp() * 1000
    base = b'{"specversion":"1.0","id":"%s","source":"x","type":"post.published",%s"data":{"account_id":"acc-7"}}'
    records = [
        base % (b"ok", b'"time":"2026-11-02T08:59:00Z",'),
        base % (b"lower", b'"time":"2099-11-01t00:00:00z",'),
        base % (b"twice", b'"time":"2026-11-02T08:00:00Z","time":"2099-11-01T00:00:00Z",'),
    ]
    tp = SimpleNamespace(topic="m.signins", partition=0)
    monkeypatch.setattr(streams.client, "read_to_end", lambda *a, **kw: [
        (tp, SimpleNamespace(value=raw, offset=i, timestamp=sent)) for i, raw in enumerate(records)
    ])  # fmt: skip
    offered: list[int] = []

    def ahead(origin: str, offset: int, raw: bytes, arrived: datetime) -> bool:
        offered.append(offset)
        return isinstance(route(raw, 4, arrived, timedelta(hours=1)), DeadLetter)

    kept = list(input_history(StreamSettings(), ahead=ahead))
    assert offered == [1, 2] and [offset for _, offset, _ in kept] == [0]
