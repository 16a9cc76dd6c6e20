"""Malformed input lands on the dead-letter topic with its reason; the stream goes on."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from tests.streams.harness import Deployment

pytestmark = pytest.mark.kafka


def _login(i: int, **data: object) -> bytes:
    body = {"account_id": "acc-1", "person_id": "p-9", "device_id": "d-1", "device_managed": True, "mfa": False,
            "ip": "192.0.2.1", **data}  # fmt: skip
    return json.dumps({"specversion": "1.0", "id": f"e-{i}", "source": "okta", "type": "login.succeeded",
                       "time": f"2026-11-02T09:0{i}:00Z", "data": body}).encode()  # fmt: skip


def test_malformed_messages_are_dead_lettered_and_valid_ones_processed(kafka_bootstrap: str, tmp_path: Path) -> None:
    from kafka import KafkaConsumer  # type: ignore[import-untyped, unused-ignore]

    d = Deployment(kafka_bootstrap, tmp_path, partitions=2)
    try:
        d.start_worker()
        bad = {
            b"{not json": "not valid JSON",
            _login(2).replace(b"login.succeeded", b"login.maybe"): "unknown event type 'login.maybe'",
            _login(3, password="hunter2"): "looks like it holds a secret",
            _login(4).replace(b'"ip": "192.0.2.1"', b'"ip": 7'): "'data.ip'",
            # stamped next century: taken, it would move event time there for good (monitor/arrival.py)
            _login(6).replace(b"2026-11-02T09:06:00Z", b"2099-11-01T00:00:00Z"): "days ahead of its arrival at ",
        }
        lines = [_login(1), *bad, _login(5)]
        d.publish(lines)
        d.advance_and_wait(datetime.fromisoformat("2026-11-03T00:00:00+00:00"))
        consumer = KafkaConsumer(
            d.settings.topic("dead-letter"), bootstrap_servers=kafka_bootstrap, auto_offset_reset="earliest",
            consumer_timeout_ms=5000, enable_auto_commit=False,
        )  # fmt: skip
        dead = list(consumer)
        consumer.close()
        assert len(dead) == len(bad)
        reasons = {dict(r.headers)["reason"].decode() for r in dead}
        for expected in bad.values():
            assert any(expected in r for r in reasons), (expected, reasons)
        for r in dead:
            headers = dict(r.headers)
            assert headers["source-topic"].decode().startswith(d.settings.topic_prefix)
            assert int(headers["source-offset"]) >= 0
            assert b"hunter2" not in r.value, "a secret was stored on the dead-letter topic"
        assert any(b"[REDACTED]" in r.value for r in dead)
        # IT security reads them with the CLI: newest first, each with its reason and where it came from
        listed = d.cli("dead-letters", "--json")
        assert listed.returncode == 0, listed.stderr
        rows = [json.loads(line) for line in listed.stdout.splitlines()]
        assert [r["reason"] for r in rows] == [dict(r.headers)["reason"].decode() for r in reversed(dead)]
        assert all(r["source"].startswith(d.settings.topic_prefix) and "hunter2" not in r["value"] for r in rows)
        table = d.cli("dead-letters", "--limit", "2")
        assert table.returncode == 0 and "2 of 5 refused messages" in table.stdout, table.stdout
        # the valid sign-ins around the bad ones were processed: their MFA-02 alert holds both
        alerts = d.final_alerts()
        mfa = [a for a in alerts if a["control"] == "MFA-02"]
        assert mfa and set(mfa[0]["evidence"]) >= {"e-1", "e-5"}
        # a replay of the topics leaves out what the routers refused, the far-ahead one too (its clock went to 2099)
        replayed = d.cli("replay", "--broker", d.settings.broker, "--until", "2026-11-03T00:00:00Z")
        assert replayed.returncode == 0, replayed.stderr
        assert [json.loads(line) for line in replayed.stdout.splitlines()] == alerts
        assert "days ahead of its arrival at " in replayed.stderr, replayed.stderr
    finally:
        d.stop_all()


def test_an_event_further_behind_than_the_duplicate_memory_is_judged_and_named_in_the_log_and_metrics(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """A file published twice: a copy of an event more than 7 days behind the workers is judged again as a late
    event (the engines' duplicate memory has forgotten it). It may as well be new, so it is judged, and the log and
    a metric say so; a new event a day late is judged and not named."""
    import httpx

    def login(id_: str, time: str) -> bytes:
        return _login(0).replace(b'"e-0"', f'"{id_}"'.encode()).replace(b"2026-11-02T09:00:00Z", time.encode())

    d = Deployment(kafka_bootstrap, tmp_path, partitions=2)
    try:
        port = d.start_worker()
        first = login("e-first", "2026-11-02T09:00:00Z")
        d.publish([first, login("e-later", "2026-11-20T09:00:00Z")])
        d.advance_and_wait(datetime.fromisoformat("2026-11-20T10:00:00+00:00"))
        d.publish([first, login("e-new", "2026-11-19T09:00:00Z")])  # the copy 18 days behind; a new one a day late
        d.advance_and_wait(datetime.fromisoformat("2026-11-21T00:00:00+00:00"))
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics").text
        assert "monitor_events_beyond_memory_total 1.0" in metrics and "monitor_events_late_total 2.0" in metrics
        assert "1 event more than 7d behind the engine's event time (e-first), judged late" in d.log_tail(port, 200)
        mfa = [a for a in d.final_alerts() if a["control"] == "MFA-02"]
        assert mfa and {"e-first", "e-later", "e-new"} <= set(mfa[0]["evidence"])  # the late new one was judged
    finally:
        d.stop_all()
