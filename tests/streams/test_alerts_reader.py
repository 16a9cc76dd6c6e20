"""IT security lists the Kafka runtime's alerts from its alerts topic, on a real broker: latest versions, filtered."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from kafka import KafkaProducer  # type: ignore[import-untyped, unused-ignore]

from schemas.alerts import Alert
from streams.client import TopicUnreadable, current_alerts
from streams.settings import StreamSettings
from streams.topics import ALERTS, create_topics

pytestmark = pytest.mark.kafka

REPO = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def _alert(i: int, status: str) -> Alert:
    return Alert(
        id=f"al-{i:04d}", control="LVR-01" if i % 2 else "MFA-01", severity="high" if i % 3 else "critical",
        status=status, account_id=f"acc-{i % 4}", person_id=f"p-{i % 5}", raised_at=T0 + timedelta(minutes=i),
        updated_at=T0 + timedelta(minutes=i, seconds=30 if status != "open" else 0), policy="default",
        sources=["hr"], evidence=[f"ev-{i}"], summary=f"alert {i}", next_step="look",
    )  # fmt: skip


@pytest.fixture(scope="module")
def settings(kafka_bootstrap: str) -> StreamSettings:
    """Topics of their own holding 30 alerts: every one sent open, every third then resolved; and one bad message."""
    s = StreamSettings(broker=f"kafka://{kafka_bootstrap}", topic_prefix=f"t{uuid.uuid4().hex[:8]}", partitions=3)
    create_topics(s)
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    for i in range(30):
        producer.send(s.topic(ALERTS), key=f"al-{i:04d}".encode(), value=_alert(i, "open").model_dump_json().encode())
    producer.send(s.topic(ALERTS), key=b"junk", value=b"not an alert")
    for i in range(0, 30, 3):
        producer.send(s.topic(ALERTS), key=f"al-{i:04d}".encode(),
                      value=_alert(i, "resolved").model_dump_json().encode())  # fmt: skip
    producer.flush()
    producer.close()
    return s


def test_the_latest_version_of_every_alert_is_read_and_a_bad_message_is_named(settings: StreamSettings) -> None:
    found, bad = current_alerts(settings, timeout=60)
    by_id = {a["id"]: a for a in found}
    assert sorted(by_id) == [f"al-{i:04d}" for i in range(30)]
    assert {i for i in range(30) if by_id[f"al-{i:04d}"]["status"] == "resolved"} == set(range(0, 30, 3))
    assert len(bad) == 1 and bad[0].startswith(f"{settings.topic(ALERTS)}:"), bad


def test_a_missing_topic_is_a_clear_error(settings: StreamSettings) -> None:
    other = settings.model_copy(update={"topic_prefix": "no-such-prefix"})
    with pytest.raises(TopicUnreadable, match=r"there is no topic no-such-prefix\.alerts"):
        current_alerts(other, timeout=10)


def _cli(settings: StreamSettings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
    return subprocess.run(
        [sys.executable, "-m", "monitor.cli", "alerts", "list", "--broker", settings.broker, *args],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_the_cli_lists_them_filtered_newest_first(settings: StreamSettings) -> None:
    out = _cli(settings, "--topic-prefix", settings.topic_prefix, "--status", "resolved", "--control", "MFA-01",
               "--json")  # fmt: skip
    assert out.returncode == 0, out.stderr
    listed = [json.loads(line) for line in out.stdout.splitlines()]
    want = [f"al-{i:04d}" for i in sorted(range(0, 30, 3), reverse=True) if i % 2 == 0]
    assert [a["id"] for a in listed] == want
    assert all(Alert.model_validate(a).status == "resolved" for a in listed)
    assert "skipped 1 message on the alerts topic, not alerts" in out.stderr


def test_the_cli_table_says_how_many_of_how_many(settings: StreamSettings) -> None:
    out = _cli(settings, "--topic-prefix", settings.topic_prefix, "--limit", "4")
    assert out.returncode == 0, out.stderr
    assert "4 of 30 alerts" in out.stdout and "al-0029" in out.stdout


def test_the_cli_names_a_missing_topic(settings: StreamSettings) -> None:
    out = _cli(settings, "--topic-prefix", "no-such-prefix")
    assert out.returncode == 2 and "there is no topic no-such-prefix.alerts" in out.stderr, out.stderr
