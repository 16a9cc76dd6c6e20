"""Reliability of the Kafka runtime on a real broker (issue 6): the wall-clock tick over a backlog, local snapshots,
workers killed again and again under load, a broker restart, and fuzzed input.

Exactly-once *results* here rest on idempotent alert ids and the compacted alerts topic, not on Kafka
transactions: a worker killed with -9 re-reads what it had not committed and sends the same alert versions again
(the ids derive from the facts, the versions from the fold of the same log), so a reader keeping the latest
version per id (or the compacted topic itself) sees each alert once. The tests below check that path: duplicates
appear, and each (id, updated_at) always has the same content.

MONITOR_RELIABILITY_LONG=1 makes the crash test longer (more kills, a longer trickle).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from random import Random
from typing import Any

import pytest

from monitor.demo import write_demo
from streams.client import group_offsets, wait_routed
from streams.routing import DeadLetter, route, work_events
from tests.fuzzing import CANARY, marker, mutants, seed_events
from tests.streams.harness import Deployment, assert_same_alerts, load_local_kafka, replay_alerts

pytestmark = pytest.mark.kafka

LATENESS = "5m"  # a backlog read through the router's alignment is exact with this (see test_live.py)
LONG = os.environ.get("MONITOR_RELIABILITY_LONG") == "1"

Demo = tuple[Path, Path, datetime, datetime]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    directory, events = write_demo(tmp_path_factory.mktemp("demo"), seed=7, days=30)
    lines = events.read_bytes().splitlines()
    first = datetime.fromisoformat(json.loads(lines[0])["time"])
    last = datetime.fromisoformat(json.loads(lines[-1])["time"])
    return directory, events, first, last


def _lines(demo: Demo) -> list[bytes]:
    return [line for line in demo[1].read_bytes().splitlines() if line.strip()]


def _assert_versions_consistent(versions: list[dict[str, Any]]) -> int:
    """Every copy of one alert version (id, updated_at) is the same; returns how many copies were repeats."""
    seen: dict[tuple[str, str], str] = {}
    repeats = 0
    for v in versions:
        key, body = (v["id"], v["updated_at"]), json.dumps(v, sort_keys=True)
        if key in seen:
            repeats += 1
            assert seen[key] == body, f"alert {key} was sent with two different contents"
        seen[key] = body
    return repeats


def _metric(d: Deployment, port: int, name: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as resp:
        text = resp.read().decode()
    m = re.search(rf"^{name} ([0-9.e+-]+)$", text, re.M)
    return float(m.group(1)) if m else 0.0


def _wait_idle(d: Deployment, timeout: float = 180) -> None:
    """Wait until the workers have routed every input and committed every work message there is (folded it)."""
    from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition  # type: ignore[import-untyped, unused-ignore]

    s = d.settings
    wait_routed(s, timeout=timeout)
    admin = KafkaAdminClient(bootstrap_servers=s.bootstrap)
    consumer = KafkaConsumer(bootstrap_servers=s.bootstrap)
    behind: dict[int, int] = {}
    try:
        tps = [TopicPartition(s.topic("work"), p) for p in range(s.partitions)]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            committed = group_offsets(admin, s.app_id)
            ends = consumer.end_offsets(tps)
            behind = {tp.partition: end - committed.get(tp, 0) for tp, end in ends.items()}
            if not any(behind.values()):
                return
            time.sleep(0.5)
    finally:
        consumer.close()
        admin.close()
    raise TimeoutError(f"the work topic is not folded: messages behind per partition {behind}")


# ----- 1. the wall-clock tick waits for a backlog ----------------------------------------------------------------


def test_the_tick_waits_for_the_backlog_so_alerts_match_replay(kafka_bootstrap: str, tmp_path: Path,
                                                               demo: Demo) -> None:  # fmt: skip
    """With the tick on (every second), a month of history read as a backlog is not judged late."""
    d = Deployment(kafka_bootstrap, tmp_path, partitions=4, lateness=LATENESS, directory=demo[0],
                   env={"MONITOR_TICK_SECONDS": "1"})  # fmt: skip
    try:
        d.publish_directory(demo[0], demo[2])
        d.publish(_lines(demo))
        port = d.start_worker()
        wait_routed(d.settings, timeout=240)  # the advance below goes after every routed event on each partition
        assert _metric(d, port, "monitor_wall_clock_waits_total") > 0  # the wall clock waited for the backlog
        # the ticks have moved the clock to about now - lateness by now; take every partition to one time past
        # any tick for the next five minutes, and replay to the same time
        until = datetime.now(UTC).replace(microsecond=0)
        d.advance_and_wait(until)
        clocks = set(d.health(port)["clock"].values())
        assert clocks == {until.isoformat()}, clocks
        assert_same_alerts(d.final_alerts(), replay_alerts(demo[0], demo[1], LATENESS, until=until), d)
    finally:
        d.stop_all()


# ----- 2 and 3. kill -9 again and again under load, with snapshots ----------------------------------------------


class _Trickle(threading.Thread):
    """Publishes the lines in small batches over `seconds`, as a steady live feed."""

    def __init__(self, d: Deployment, lines: list[bytes], seconds: float, batch: int = 40) -> None:
        super().__init__(daemon=True)
        self.d, self.lines, self.seconds, self.batch = d, lines, seconds, batch
        self.error: BaseException | None = None
        self.sent = 0

    def run(self) -> None:
        from kafka import KafkaProducer  # type: ignore[import-untyped, unused-ignore]

        from streams.client import topic_and_key

        s = self.d.settings
        producer = KafkaProducer(bootstrap_servers=s.bootstrap, acks="all", linger_ms=5)
        try:
            batches = [self.lines[i : i + self.batch] for i in range(0, len(self.lines), self.batch)]
            pause = self.seconds / max(1, len(batches))
            for b in batches:
                started = time.monotonic()
                futures = []
                for raw in b:
                    name, key = topic_and_key(raw)
                    futures.append(producer.send(s.topic(name), key=key, value=raw))
                producer.flush()
                for f in futures:
                    f.get(timeout=30)
                self.sent += len(b)
                time.sleep(max(0.0, pause - (time.monotonic() - started)))
        except BaseException as exc:  # reported by the test
            self.error = exc
        finally:
            producer.close()


# Events published live, in small batches, can reach the router from different partitions a fetch apart, so a
# batch's own span of event time (40 demo events: about an hour) must fit the lateness; a backlog alone is exact
# with 5m (test_live.py). Replay gets the same lateness.
TRICKLE_LATENESS = "6h"


def test_workers_killed_again_and_again_under_load_lose_nothing(kafka_bootstrap: str, tmp_path: Path,
                                                                demo: Demo) -> None:  # fmt: skip
    """kill -9 at random moments while events keep arriving, restart each time: the alerts are replay's.

    Restarts use static membership (MONITOR_INSTANCE_ID) and the same web port: the restarted worker takes its
    partitions back without waiting for the dead one's session to time out (Faust's assignor asserts that a member
    keeps its URL, so another port fails its assignment). Snapshots every 500 work messages keep each rebuild short.
    """
    kills = 40 if LONG else 20
    seconds = 300.0 if LONG else 80.0
    rng = Random(20261122)
    d = Deployment(kafka_bootstrap, tmp_path, partitions=4, lateness=TRICKLE_LATENESS, directory=demo[0],
                   env={"MONITOR_SNAPSHOT_EVERY": "500", "MONITOR_INSTANCE_ID": "worker-a",
                        "MONITOR_SESSION_TIMEOUT": "10", "MONITOR_LOGLEVEL": "info"})  # fmt: skip
    lines = _lines(demo)
    d.publish_directory(demo[0], demo[2])
    trickle = _Trickle(d, lines, seconds)
    restarts: list[float] = []
    rebuilds: list[dict[str, Any]] = []
    try:
        started = time.monotonic()
        port = d.start_worker()
        restarts.append(time.monotonic() - started)
        trickle.start()
        pace = seconds / kills
        for _ in range(kills):
            time.sleep(rng.uniform(0.2, 2 * pace - restarts[-1]) if 2 * pace > restarts[-1] + 0.2 else 0.2)
            rebuilds.extend(d.health(port).get("rebuilt", {}).values())
            d.kill(port)  # SIGKILL, whatever it was doing
            t0 = time.monotonic()
            port = d.start_worker(port)  # the same web port: Faust's assignor checks a static member's URL
            restarts.append(time.monotonic() - t0)
        trickle.join(timeout=seconds + 60)
        assert trickle.error is None, trickle.error
        assert trickle.sent == len(lines)
        _wait_idle(d)
        rebuilds.extend(d.health(port).get("rebuilt", {}).values())
        d.advance_and_wait(demo[3])
        versions = d.alert_versions()
        live = d.final_alerts()
        late = d.late_events()
        assert not late, f"{len(late)} events reached an engine late (misaligned), e.g. {late[:3]}"
        assert_same_alerts(live, replay_alerts(demo[0], demo[1], TRICKLE_LATENESS), d)
        repeats = _assert_versions_consistent(versions)
    finally:
        d.stop_all()
    from_snapshot = [r for r in rebuilds if r["snapshot_offset"] is not None]
    print(f"\nkills={kills} restarts={len(restarts) - 1} restart_to_health_s: mean={sum(restarts[1:]) / kills:.2f} "
          f"max={max(restarts[1:]):.2f}; rebuilds={len(rebuilds)} from_snapshot={len(from_snapshot)} "
          f"tail_messages_max={max((r['messages'] for r in from_snapshot), default=0)} "
          f"rebuild_s_max={max((r['seconds'] for r in rebuilds), default=0)} repeated_versions={repeats}")  # fmt: skip
    assert from_snapshot, "no rebuild started from a snapshot"
    # a snapshot's rebuild reads only the tail after it: never more than the snapshot interval plus what arrived
    # since the last commit, far less than the partition's log
    assert all(r["messages"] < r["offset"] for r in from_snapshot)


# ----- 4. the broker restarts under a running worker -----------------------------------------------------------


def _stop_keeping_data(broker: Any) -> None:
    """SIGTERM the LocalKafka (a controlled shutdown) and keep its data (LocalKafka.stop would delete it)."""
    pid = broker.pid() or (broker._proc.pid if broker._proc is not None else None)
    assert pid is not None, "the broker is not running"
    broker._terminate(pid)


def _relaunch(broker: Any) -> None:
    """Start a stopped LocalKafka again on its port and data (LocalKafka.start formats afresh; this does not)."""
    lk = load_local_kafka()
    data = broker.data_dir
    libs = lk.fetch(verbose=False)
    java = lk._require("java")
    log4j = data / "log4j.properties"
    with open(broker.log_file, "ab") as log:
        proc = subprocess.Popen(
            [java, "-Xms256m", "-Xmx512m", "-Djava.awt.headless=true", f"-Dlog4j.configuration={log4j.as_uri()}",
             "-cp", f"{libs}/*", "kafka.Kafka", str(data / "server.properties")],
            cwd=data, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    broker._proc = proc
    (data / lk.STATE_FILE).write_text(json.dumps({"pid": proc.pid, "port": broker.port, "controller_port": 0}))
    broker._wait_ready(proc, broker.port)


def test_a_worker_rides_out_a_broker_restart(restartable_broker: Any, tmp_path: Path, demo: Demo) -> None:
    """Stop the broker mid-stream, start it again on the same port and data: the same worker carries on.

    The broker is the session's LocalKafka when the session started one (no second JVM), else one of its own.
    """
    own_broker = restartable_broker
    d = Deployment(own_broker.bootstrap, tmp_path, partitions=4, lateness=LATENESS, directory=demo[0])
    lines = _lines(demo)
    half = len(lines) // 2
    try:
        d.publish_directory(demo[0], demo[2])
        d.publish(lines[:half])
        port = d.start_worker()
        proc = d.workers[port]
        deadline = time.monotonic() + 60
        while sum(d.health(port)["processed"].values()) < 3000 and time.monotonic() < deadline:
            time.sleep(0.2)
        t_stop = time.monotonic()
        _stop_keeping_data(own_broker)  # SIGTERM: a controlled shutdown, as in a rolling restart
        time.sleep(5)
        t0 = time.monotonic()
        _relaunch(own_broker)
        broker_up = time.monotonic() - t0
        down = time.monotonic() - t_stop
        t1 = time.monotonic()
        d.publish(lines[half:])  # the rest arrives after the restart
        published = time.monotonic() - t1
        wait_routed(d.settings, timeout=180)  # the same worker routes all of it: its clients reconnected
        routed = time.monotonic() - t1
        d.advance_and_wait(demo[3], timeout=180)
        assert proc.poll() is None and d.workers[port] is proc, "the worker was restarted or died"
        assert_same_alerts(d.final_alerts(), replay_alerts(demo[0], demo[1], LATENESS), d)
        # unlimited, aiokafka logged about 1,700 connection errors a second while the broker was away
        log_lines = len((tmp_path / f"worker-{port}.log").read_text(errors="replace").splitlines())
        print(f"\nbroker down {down:.1f}s, back in {broker_up:.1f}s; the rest ({len(lines) - half} events) "
              f"published in {published:.1f}s and routed {routed:.1f}s after the broker was up; "
              f"worker log {log_lines} lines")  # fmt: skip
        assert log_lines < 20 * down + 200, f"the worker logged {log_lines} lines in a {down:.0f}s outage"
    finally:
        d.stop_all()


def _broker_up(port: int) -> str:
    """The worker's monitor_broker_up gauge as /metrics shows it: "1.0", "0.0", or "NaN" before the first answer."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as resp:
        m = re.search(r"^monitor_broker_up (\S+)$", resp.read().decode(), re.M)
    assert m, "no monitor_broker_up on /metrics"
    return m.group(1)


def _wait_health(d: Deployment, port: int, status: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        h = d.health(port)
        if h["status"] == status or time.monotonic() > deadline:
            return h
        time.sleep(0.5)


def test_a_frozen_broker_shows_on_health_and_metrics_until_it_answers(restartable_broker: Any, tmp_path: Path,
                                                                      demo: Demo) -> None:  # fmt: skip
    """SIGSTOP the broker (no connection refused: it just stops answering) under a running worker: /health turns
    "degraded" with a warning (still 200: a restart would not help) and monitor_broker_up 0; SIGCONT: both clear,
    and the same worker routes what comes next."""
    broker = restartable_broker
    d = Deployment(broker.bootstrap, tmp_path, partitions=2, lateness=LATENESS, directory=demo[0])
    lines = _lines(demo)
    try:
        d.publish_directory(demo[0], demo[2])
        port = d.start_worker()
        proc = d.workers[port]
        h = _wait_health(d, port, "ok", 60)
        assert (h["status"], h["warnings"]) == ("ok", []), h
        deadline = time.monotonic() + 30
        while _broker_up(port) != "1.0" and time.monotonic() < deadline:
            time.sleep(0.5)
        assert _broker_up(port) == "1.0"
        pid = broker.pid()
        assert pid is not None
        os.kill(pid, signal.SIGSTOP)
        try:
            frozen = _wait_health(d, port, "degraded", 60)
            up_while_frozen = _broker_up(port)
        finally:
            os.kill(pid, signal.SIGCONT)
        assert frozen["status"] == "degraded", frozen
        assert (
            len(frozen["warnings"]) == 1
            and "has not answered this worker's metadata requests for" in frozen["warnings"][0]
        ), frozen
        assert broker.bootstrap in frozen["warnings"][0], frozen
        assert up_while_frozen == "0.0"
        back = _wait_health(d, port, "ok", 90)
        assert (back["status"], back["warnings"]) == ("ok", []), back
        assert _broker_up(port) == "1.0"
        d.publish(lines[:200])
        wait_routed(d.settings, timeout=120)
        assert proc.poll() is None and d.workers[port] is proc, "the worker was restarted or died"
        assert "answers again" in (tmp_path / f"worker-{port}.log").read_text(errors="replace")
    finally:
        d.stop_all()


# ----- 5. fuzzed input through the broker ----------------------------------------------------------------------


def test_ten_thousand_mutants_are_dead_lettered_redacted_and_the_worker_stays_up(kafka_bootstrap: str,
                                                                                 tmp_path: Path) -> None:  # fmt: skip
    from kafka import KafkaConsumer

    n, every = 10_000, 10
    d = Deployment(kafka_bootstrap, tmp_path, partitions=2, lateness=LATENESS)
    gen = mutants(seed_events(), Random(6))
    lines: list[bytes] = []
    bad = valid = 0
    for i in range(n):
        raw = next(gen)
        if isinstance(route(raw, 2), DeadLetter):
            bad += 1
        else:
            valid += 1
        lines.append(raw)
        if i % every == 0:
            lines.append(json.dumps(marker(i)).encode())
    markers = {f"fuzz-marker-{i}" for i in range(0, n, every)}
    try:
        port = d.start_worker()
        proc = d.workers[port]
        d.publish(lines)
        _wait_idle(d, timeout=240)

        def read(topic: str) -> list[Any]:
            c = KafkaConsumer(d.settings.topic(topic), bootstrap_servers=kafka_bootstrap, auto_offset_reset="earliest",
                              enable_auto_commit=False, consumer_timeout_ms=4000)  # fmt: skip
            try:
                return list(c)
            finally:
                c.close()

        dead = read("dead-letter")
        work = read("work")
        alerts = read("alerts")
        assert len(dead) == bad, f"{len(dead)} dead letters for {bad} bad messages"
        assert all(dict(r.headers).get("reason") for r in dead)
        canary = CANARY.encode()
        assert not [r for r in dead if canary in r.value], "a secret value reached the dead-letter topic"
        assert not [r for r in alerts if canary in (r.value or b"")], "a secret value reached the alerts topic"
        ids = {json.loads(e).get("id") for r in work for e in work_events(r.value)}  # forwarded: valid JSON
        assert markers <= ids, f"{len(markers - ids)} markers never reached the work topic"
        assert proc.poll() is None and d.workers[port] is proc
        assert d.health(port)["status"] == "ok"
        d.kill(port, signal.SIGTERM)
        log = (tmp_path / f"worker-{port}.log").read_bytes()
        assert canary not in log, "a secret value reached the worker log"
        print(f"\nfuzz: {n} mutants ({bad} bad, {valid} valid) + {len(markers)} markers; {len(dead)} dead letters, "
              f"{len(work)} work messages")  # fmt: skip
    finally:
        d.stop_all()
