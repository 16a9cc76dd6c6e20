"""The live runtime on a real Kafka broker gives exactly the alerts replay gives."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor.demo import write_demo
from tests.streams.cases import case_stream
from tests.streams.harness import Deployment, assert_same_alerts, replay_alerts

pytestmark = pytest.mark.kafka

# The demo month is published as one backlog before the worker starts, split by type over the input topics,
# so unaligned the router would read one topic days of event time ahead of another. The router's event-time
# alignment (streams/alignment.py) and the watermarks the engines release by (streams/partition.py) keep one
# worker, or several, exact with a lateness of minutes.
LATENESS = "5m"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, datetime, datetime]:
    directory, events = write_demo(tmp_path_factory.mktemp("demo"), seed=7, days=30)
    lines = events.read_bytes().splitlines()
    first = datetime.fromisoformat(json.loads(lines[0])["time"])
    last = datetime.fromisoformat(json.loads(lines[-1])["time"])
    return directory, events, first, last


@pytest.fixture
def deployment(
    kafka_bootstrap: str, tmp_path: Path, demo: tuple[Path, Path, datetime, datetime]
) -> Iterator[Deployment]:
    d = Deployment(kafka_bootstrap, tmp_path, partitions=4, lateness=LATENESS, directory=demo[0])
    yield d
    d.stop_all()


def _feed(d: Deployment, demo: tuple[Path, Path, datetime, datetime], upto: int | None = None,
          start: int = 0) -> None:  # fmt: skip
    """Publish events [start, upto) of the month, with the first ones the register before them.

    The register goes first: it is dated at the month's start and shares the directory topic with the month's
    own directory events, so publishing it after them would put it a month out of order within its partitions.
    """
    directory, events, first, _ = demo
    if start == 0:
        d.publish_directory(directory, first)
    lines = [line for line in events.read_bytes().splitlines() if line.strip()]
    d.publish(lines[start:upto])


def _month_live(d: Deployment, demo: tuple[Path, Path, datetime, datetime]) -> None:
    """One worker that has taken the whole month and been advanced to its end."""
    d.start_worker()
    _feed(d, demo)
    d.advance_and_wait(demo[3])


def test_one_worker_gives_the_alerts_replay_gives(
    deployment: Deployment, demo: tuple[Path, Path, datetime, datetime]
) -> None:
    _feed(deployment, demo)  # the whole month, as a backlog, before the worker starts
    deployment.start_worker()
    deployment.advance_and_wait(demo[3])
    assert_same_alerts(deployment.final_alerts(), replay_alerts(demo[0], demo[1], LATENESS), deployment)


def test_two_workers_give_the_alerts_one_gives(
    deployment: Deployment, demo: tuple[Path, Path, datetime, datetime]
) -> None:
    a, b = deployment.start_worker(), deployment.start_worker()
    _feed(deployment, demo)
    deployment.advance_and_wait(demo[3])
    held = [set(deployment.health(p)["partitions"]) for p in (a, b)]
    assert held[0] and held[1] and not held[0] & held[1], f"partitions not shared out: {held}"
    assert_same_alerts(deployment.final_alerts(), replay_alerts(demo[0], demo[1], LATENESS), deployment)


def test_partitions_moved_after_their_last_message_show_on_health_as_idle_and_done(
    deployment: Deployment, demo: tuple[Path, Path, datetime, datetime]
) -> None:
    """A rebalance after the last message leaves partitions with no engine (one is made at the next message):
    /health lists them as idle with the group's committed offset, so an operator sees them held and finished."""
    import time

    a = deployment.start_worker()
    deployment.publish_directory(demo[0], demo[2])
    last = deployment.advance_and_wait(demo[2])
    b = deployment.start_worker()  # the group rebalances; no message comes after it
    want = set(range(deployment.settings.partitions))
    deadline, seen = time.monotonic() + 90, []
    while time.monotonic() < deadline:
        seen = [deployment.health(port) for port in (a, b)]
        held = [set(h["partitions"]) | {int(p) for p in h["idle"]} for h in seen]
        known = all(off is not None for h in seen for off in h["idle"].values())  # null until the worker reads it
        if held[1] and held[0] | held[1] == want and not held[0] & held[1] and known:
            break
        time.sleep(0.5)
    else:
        raise AssertionError(f"partitions not shared out between the two workers: {seen}")
    idle = {int(p): off for h in seen for p, off in h["idle"].items()}
    assert idle, f"no partition idle after the rebalance: {seen}"
    assert idle == {p: last[p] + 1 for p in idle}, f"idle partitions not committed to their ends {last}: {seen}"


def test_worker_killed_mid_stream_resumes_without_loss_or_duplicates(
    deployment: Deployment, demo: tuple[Path, Path, datetime, datetime]
) -> None:
    lines = demo[1].read_bytes().splitlines()
    half = len(lines) // 2
    _feed(deployment, demo, upto=half)
    port = deployment.start_worker()
    # let it get well into the first half, then kill -9 mid-stream
    import time

    deadline = time.monotonic() + 60
    while sum(deployment.health(port)["processed"].values()) < 3000 and time.monotonic() < deadline:
        time.sleep(0.2)
    deployment.kill(port)
    _feed(deployment, demo, start=half)  # the rest arrives while no worker runs: a backlog again
    deployment.start_worker()
    deployment.advance_and_wait(demo[3])
    live = deployment.final_alerts()
    assert_same_alerts(live, replay_alerts(demo[0], demo[1], LATENESS), deployment)
    versions = deployment.alert_versions()
    assert len({v["id"] for v in versions}) == len(live)


def test_every_rule_case_through_kafka_gives_the_alerts_replay_gives(kafka_bootstrap: str, tmp_path: Path) -> None:
    """The rule cases of the default profile (one uses another profile), published as one backlog."""
    lines, end = case_stream()
    events = tmp_path / "cases.jsonl"
    events.write_bytes(b"\n".join(lines) + b"\n")
    d = Deployment(kafka_bootstrap, tmp_path, partitions=4, lateness=LATENESS)
    try:
        d.publish(lines)
        d.start_worker()
        d.advance_and_wait(end)
        assert_same_alerts(d.final_alerts(), replay_alerts(None, events, LATENESS, until=end), d)
    finally:
        d.stop_all()


def test_it_security_acknowledges_and_resolves_an_alert_of_the_kafka_runtime(
    deployment: Deployment, demo: tuple[Path, Path, datetime, datetime]
) -> None:
    """`monitor alerts ack/resolve --broker`: the worker holding the alert sends its new version, confirmed."""
    _month_live(deployment, demo)

    def monitor(*args: str) -> subprocess.CompletedProcess[str]:
        return deployment.cli("alerts", *args)

    listed = monitor("list", "--status", "open", "--control", "LVR-01", "--json", "--limit", "1")
    assert listed.returncode == 0, listed.stderr
    target = json.loads(listed.stdout.splitlines()[0])["id"]

    assert monitor("ack", target).returncode == 2  # who is acting must be said
    acked = monitor("ack", target, "--by", "p-sec-1", "--note", "on it")
    assert acked.returncode == 0 and acked.stdout.split() == [target, "LVR-01", "acknowledged"], acked.stderr
    resolved = monitor("resolve", target, "--by", "p-sec-1", "--note", "access removed")
    assert resolved.returncode == 0 and resolved.stdout.split() == [target, "LVR-01", "resolved"], resolved.stderr
    again = monitor("ack", target, "--by", "p-sec-1")
    assert again.returncode == 2 and "is resolved; it cannot be acknowledged" in again.stderr
    missing = monitor("ack", "al-000000000000000000000000", "--by", "p-sec-1")
    assert missing.returncode == 2 and "no alert with id al-000000000000000000000000" in missing.stderr

    final = {a["id"]: a for a in deployment.final_alerts()}[target]
    assert (final["status"], final["resolved_by"], final["note"]) == ("resolved", "p-sec-1", "access removed")


def test_hr_reports_a_leaver_to_the_kafka_runtime_and_sees_what_it_raises(
    deployment: Deployment, demo: tuple[Path, Path, datetime, datetime]
) -> None:
    """`monitor hr leaver --broker`: checked, sent to the hr topic, and the leaver's access alerts follow."""
    _month_live(deployment, demo)
    monitor = deployment.cli

    before = monitor("alerts", "list", "--person", "p-0002", "--control", "LVR-01", "--json")
    assert before.returncode == 0 and before.stdout == "", before.stderr
    bad = monitor("hr", "leaver", "p-0002", "--leaving-at", "2026-10-31T00:00:00Z", "--reason", "x" * 5000)
    assert bad.returncode == 2 and "hr.leaver not sent" in bad.stderr, bad.stderr  # over the schema's limit
    sent = monitor("hr", "leaver", "p-0002", "--leaving-at", demo[3].isoformat())
    assert sent.returncode == 0 and f"to {deployment.settings.topic('hr')}" in sent.stdout, sent.stderr
    deployment.advance_and_wait(datetime.now(UTC) + timedelta(days=2))  # past the CLI event and the deadline
    after = monitor("alerts", "list", "--person", "p-0002", "--control", "LVR-01", "--json", "--limit", "100")
    assert after.returncode == 0, after.stderr
    raised = [json.loads(line) for line in after.stdout.splitlines()]
    assert raised and {(a["person_id"], a["control"]) for a in raised} == {("p-0002", "LVR-01")}
    assert len({a["account_id"] for a in raised}) == len(raised)  # one for each account the leaver holds


def test_comms_asks_the_kafka_runtime_for_emergency_access_and_emg_02_decides(
    deployment: Deployment, demo: tuple[Path, Path, datetime, datetime]
) -> None:
    """`monitor emergency request --broker --by`: a comms-team member gets a grant (its lockout command takes the
    account back for them); anyone else is refused with a critical EMG-02 alert. Each is decided while the command
    waits, although the workers hold events for a 5-minute lateness and no wall clock moves their event time."""
    from kafka import KafkaConsumer  # type: ignore[import-untyped, unused-ignore]

    from monitor.directory import load_directory

    register = load_directory(demo[0])
    comms = next(p.person_id for p in register.people if "comms-team" in p.groups)
    other = next(p.person_id for p in register.people if "comms-team" not in p.groups)
    _month_live(deployment, demo)
    monitor = deployment.cli

    asked = [monitor("emergency", "request", account, "--reason", "hijacked overnight", "--by", who)
             for account, who in (("acc-001", comms), ("acc-002", other))]  # fmt: skip
    assert [r.returncode for r in asked] == [0, 2], [r.stderr for r in asked]  # refused: 2, as the embedded API's 403
    assert "granted" in asked[0].stdout and f"emergency access granted to {comms}" in asked[0].stdout, asked[0].stdout
    assert "refused" in asked[1].stderr and "IT security alerted (EMG-02 critical alert" in asked[1].stderr
    assert monitor("emergency", "request", "acc-001", "--reason", "again").returncode == 2  # no --by

    consumer = KafkaConsumer(deployment.settings.topic("lockouts"), bootstrap_servers=deployment.settings.bootstrap,
                             auto_offset_reset="earliest", consumer_timeout_ms=3000)  # fmt: skip
    lockouts = [json.loads(r.value) for r in consumer]
    consumer.close()
    granted = [c for c in lockouts if c["account_id"] == "acc-001" and c["alert_id"].startswith("gr-")]
    assert len(granted) == 1 and f"emergency access granted to {comms}" in granted[0]["reason"], lockouts
    assert f"lockout {granted[0]['id']}: " in asked[0].stdout
    assert not [c for c in lockouts if c["account_id"] == "acc-002" and c["alert_id"].startswith("gr-")]
    # IT security's list of what to carry out: the topic's commands, newest first, by account on request
    listed = monitor("lockouts", "list", "--json", "--limit", "1000")
    assert listed.returncode == 0, listed.stderr
    assert sorted(json.loads(x)["id"] for x in listed.stdout.splitlines()) == sorted(c["id"] for c in lockouts)
    mine = monitor("lockouts", "list", "--account", "acc-001")
    assert mine.returncode == 0 and f"{granted[0]['id']}  acc-001  for {granted[0]['alert_id']}" in mine.stdout
    assert mine.stdout.rstrip().endswith("lockout commands, newest first") and "acc-002" not in mine.stdout
    refused = monitor("alerts", "list", "--account", "acc-002", "--control", "EMG-02", "--json")
    alerts = [json.loads(line) for line in refused.stdout.splitlines()]
    assert [(a["person_id"], a["severity"]) for a in alerts] == [(other, "critical")], refused.stderr


def test_an_advance_and_an_emergency_request_go_through_while_sign_ins_keep_coming(
    deployment: Deployment, demo: tuple[Path, Path, datetime, datetime]
) -> None:
    """On a busy stream the input is never all routed at one moment: `monitor advance` waits for what there was
    when it was run, and an emergency request for itself alone."""
    from kafka import KafkaProducer  # type: ignore[import-untyped, unused-ignore]

    from monitor.directory import load_directory

    comms = next(p.person_id for p in load_directory(demo[0]).people if "comms-team" in p.groups)
    deployment.publish_directory(demo[0], datetime.now(UTC) - timedelta(hours=1))
    deployment.start_worker()
    login = next(json.loads(x) for x in demo[1].read_bytes().splitlines() if b'"login.succeeded"' in x)
    stop, sent = threading.Event(), [0]

    def sign_ins() -> None:
        producer = KafkaProducer(bootstrap_servers=deployment.settings.bootstrap, linger_ms=0)
        while not stop.is_set():
            ev = {**login, "id": f"busy-{sent[0]}", "time": datetime.now(UTC).isoformat()}
            producer.send(deployment.settings.topic("signins"), key=login["data"]["account_id"].encode(),
                          value=json.dumps(ev).encode())  # fmt: skip
            sent[0] += 1
            time.sleep(0.01)
        producer.close()

    feeder = threading.Thread(target=sign_ins, daemon=True)
    feeder.start()
    try:
        time.sleep(3)  # the stream flows before the commands and while they wait
        until = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
        advanced = deployment.cli("advance", "--until", until, "--wait", "60")
        asked = deployment.cli("emergency", "request", "acc-001", "--reason", "hijacked", "--by", comms, "--wait", "60")
        still = sent[0]
        time.sleep(1)
        assert sent[0] > still, "the sign-ins stopped before the decision came"
    finally:
        stop.set()
        feeder.join(10)
    assert advanced.returncode == 0, advanced.stderr
    assert asked.returncode == 0, asked.stderr
    assert "granted" in asked.stdout and f"emergency access granted to {comms}" in asked.stdout, asked.stdout


def test_replay_and_the_leaver_report_read_the_input_topics_and_give_what_the_files_give(
    deployment: Deployment, demo: tuple[Path, Path, datetime, datetime]
) -> None:
    """`monitor replay --broker` and `monitor report leavers --broker`: the whole input history, read back from the
    topics in event-time order (they interleave by arrival), gives the alerts and the report the files give."""
    _feed(deployment, demo)
    monitor, broker = deployment.cli, deployment.settings.broker  # MONITOR_DIRECTORY is among its settings

    files = ["--directory", str(demo[0]), "--lateness", LATENESS, str(demo[1])]
    for command in (["replay"], ["report", "leavers", "--json"]):
        from_topics, from_files = monitor(*command, "--broker", broker), monitor(*command, *files)
        assert from_topics.returncode == 0 and from_files.returncode == 0, (from_topics.stderr, from_files.stderr)
        assert len(from_files.stdout.splitlines()) > 10, command
        assert from_topics.stdout == from_files.stdout, command
    from streams.client import input_history

    in_memory = list(input_history(deployment.settings))
    assert list(input_history(deployment.settings, run_bytes=256 * 1024)) == in_memory  # sorted through files
    bad = monitor("replay", "--broker", broker, "--topic-prefix", "no-such-prefix")
    assert bad.returncode == 2 and "there is no topic no-such-prefix." in bad.stderr, bad.stderr


def test_the_comms_team_imports_an_edited_register_into_the_kafka_runtime_as_its_differences(
    deployment: Deployment, demo: tuple[Path, Path, datetime, datetime], tmp_path: Path
) -> None:
    """`monitor directory import --broker`: the register as the directory topic has it, and only the changes sent
    (an admin removed, an account gone with --retire-missing), said first with --dry-run, which sends nothing; the
    same file again sends nothing."""
    import yaml

    deployment.publish_directory(demo[0], demo[2])
    register = yaml.safe_load(demo[0].read_text())
    first = register["accounts"][0]
    removed_admin = first["admins"].pop(0)
    gone = register["accounts"].pop()["account_id"]
    edited = tmp_path / "edited.yaml"
    edited.write_text(yaml.safe_dump(register, sort_keys=False))

    directory_topic = deployment.settings.topic("directory")
    dry = deployment.cli("directory", "import", str(edited), "--broker", deployment.settings.broker,
                         "--retire-missing", "--dry-run")  # fmt: skip
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.splitlines()[0].startswith(
        f"would send 2 changes (1 account retired, 1 role holder unassigned) to {directory_topic} (the register there "
        "had "
    ) and dry.stdout.splitlines()[0].endswith("; nothing was sent (--dry-run)"), dry.stdout
    assert dry.stdout.splitlines()[1:] == [
        f"  {first['account_id']}: {removed_admin} loses admin",
        f"would retire 1 registered account the file does not list: {gone}",
    ]
    done = deployment.cli("directory", "import", str(edited), "--broker", deployment.settings.broker,
                          "--retire-missing")  # fmt: skip
    assert done.returncode == 0 and done.stdout.startswith(
        f"2 changes sent (1 account retired, 1 role holder unassigned) to {directory_topic}"
    ), (done.stdout, done.stderr)
    again = deployment.cli("directory", "import", str(edited), "--broker", deployment.settings.broker,
                           "--retire-missing")  # fmt: skip
    assert again.returncode == 0 and again.stdout.startswith("0 changes sent"), (again.stdout, again.stderr)

    from streams.client import input_history

    sent = [json.loads(raw) for _, _, raw in input_history(deployment.settings, topics=("directory",))]
    changes = [(e["type"], e["data"]) for e in sent if e["source"] != sent[0]["source"]]
    assert sorted(changes, key=str) == sorted([
        ("directory.admin_unassigned", {"account_id": first["account_id"], "person_id": removed_admin}),
        ("directory.account_retired", {"account_id": gone}),
    ], key=str)  # fmt: skip

    from monitor.directory import load_directory, parse_directory

    exported = deployment.cli("directory", "export", "--broker", deployment.settings.broker)
    assert exported.returncode == 0, exported.stderr
    back, want = parse_directory(exported.stdout, "exported"), load_directory(edited)

    def by_id(d: Any) -> dict[str, Any]:  # the same register, whatever order its lists come in
        accounts = {a.account_id: a.model_copy(update={"admins": sorted(a.admins), "editors": sorted(a.editors)})
                    for a in d.accounts}  # fmt: skip
        return {"people": {p.person_id: p for p in d.people}, "accounts": accounts, "organisation": d.organisation}

    now = by_id(back)
    assert now == by_id(want)
    assert gone not in now["accounts"] and removed_admin not in now["accounts"][first["account_id"]].admins
