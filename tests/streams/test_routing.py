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
    BROADCAST,
    DeadLetter,
    Routed,
    advance_message,
    parse_watermark,
    partition_of,
    redact,
    route,
    watermark_message,
)
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


def run_partitioned(
    lines: list[bytes],
    profile: Profile,
    directory: Directory | None,
    until: datetime,
    partitions: int,
    lateness: timedelta = timedelta(0),
) -> list[str]:
    """Events through routing and one engine per partition, as the live runtime runs them; final alerts."""
    params = organisation_params(profile.parameters, directory) if directory else profile.parameters
    engines = [PartitionEngine(profile, params, p, partitions, [LANE]) for p in range(partitions)]
    offsets = [0] * partitions
    first = min(datetime.fromisoformat(json.loads(raw)["time"]) for raw in lines)
    register = [e.model_dump_json().encode() for e in directory_events(directory, first)] if directory else []
    latest = {}
    for raw in with_watermarks([*register, *lines], lateness):
        routed = route(raw, partitions)
        targets = range(partitions) if parse_watermark(raw) else routed.partitions  # type: ignore[union-attr]
        assert parse_watermark(raw) or isinstance(routed, Routed), routed
        for p in targets:
            for a in engines[p].apply(raw, offsets[p]).alerts:
                latest[a.id] = a
            offsets[p] += 1
    for p in range(partitions):
        for a in engines[p].apply(advance_message(until), offsets[p]).alerts:
            latest[a.id] = a
    return [a.model_dump_json() for a in sorted(latest.values(), key=lambda a: (a.raised_at, a.id))]


@pytest.mark.parametrize("partitions", [1, 3, 8])
def test_partitioned_engines_give_the_alerts_of_one_engine(tmp_path: Path, partitions: int) -> None:
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
    assert run_partitioned(lines, profile, directory, last, partitions, lateness) == expected


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


def test_every_rule_case_in_one_stream_gives_the_alerts_of_one_engine() -> None:
    """The cases one after another share accounts and people, so state crosses from case to case (a rotation to
    an unknown fingerprint once reached only the owning partition, and the others kept the old one for CRD-06)."""
    lines, end = case_stream()
    profile = load_profile("default")
    single = build_engine(profile, None, lateness=CASE_LATENESS)
    replay(single, [("cases", i + 1, raw) for i, raw in enumerate(lines)], until=end)
    expected = [a.model_dump_json() for a in single.final_alerts()]
    assert len(expected) > 300
    assert run_partitioned(lines, profile, None, end, partitions=3, lateness=CASE_LATENESS) == expected
