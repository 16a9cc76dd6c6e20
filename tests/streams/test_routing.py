"""Routing and partitioned engines without a broker: the same alerts as one engine over everything."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
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
from streams.routing import BROADCAST, DeadLetter, Routed, advance_message, partition_of, redact, route
from tests.monitor.caserun import run_case


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
    engines = [PartitionEngine(profile, params, p, partitions, lateness) for p in range(partitions)]
    offsets = [0] * partitions
    first = min(datetime.fromisoformat(json.loads(raw)["time"]) for raw in lines)
    register = [e.model_dump_json().encode() for e in directory_events(directory, first)] if directory else []
    latest = {}
    for raw in [*register, *lines]:
        routed = route(raw, partitions)
        assert isinstance(routed, Routed), routed
        for p in routed.partitions:
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


@pytest.mark.parametrize(
    ("control", "case"),
    [pytest.param(s.control, c, id=f"{s.control}:{c.name}") for s in RULES.values() for c in s.cases],
)
def test_every_rule_case_gives_the_same_alerts_partitioned(control: str, case: Case) -> None:
    alerts, _ = run_case(case)
    directory = parse_directory(yaml.safe_dump(case.directory)) if case.directory else None
    lines = [json.dumps(e).encode() for e in case.events]
    until = datetime.fromisoformat(case.until or max(e["time"] for e in case.events))
    got = run_partitioned(lines, load_profile(case.profile), directory, until, partitions=3)
    assert got == [a.model_dump_json() for a in alerts]


def test_alert_latency_is_measured_from_the_causing_event_through_the_reorder_buffer() -> None:
    profile = load_profile("default")
    pe = PartitionEngine(profile, profile.parameters, 0, 1, timedelta(minutes=5))

    def login(i: int, minute: int) -> bytes:
        return json.dumps({"specversion": "1.0", "id": f"l-{i}", "source": "okta", "type": "login.succeeded",
                           "time": f"2026-11-02T09:{minute:02d}:00Z",
                           "data": {"account_id": "acc-9", "person_id": "p-1", "device_id": "d-1",
                                    "device_managed": True, "mfa": True, "ip": "192.0.2.1"}}).encode()  # fmt: skip

    first = pe.apply(login(1, 0), 0, sent_at=1000.0)
    assert first.alerts == []  # held in the reorder buffer
    released = pe.apply(login(2, 10), 1, sent_at=2000.0)  # moves the watermark past the first sign-in
    assert released.alerts, "the first sign-in on an unregistered account raises DIR-01 once released"
    assert released.caused_at and set(released.caused_at) == {1000.0}
