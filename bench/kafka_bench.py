"""Benchmark the live runtime (one worker) through a real Kafka broker, beside aiokafka and Faust passthroughs.

    PYTHONPATH=. .venv/bin/python bench/kafka_bench.py                      # 200k-event mix, 3 runs each
    PYTHONPATH=. .venv/bin/python bench/kafka_bench.py --events 100000 --runs 3
    KAFKA_BOOTSTRAP=127.0.0.1:9092 PYTHONPATH=. .venv/bin/python bench/kafka_bench.py   # an existing broker

Broker: $KAFKA_BOOTSTRAP when set (nothing is started or stopped), else a local KRaft broker
(deploy/kafka/local_kafka.py) on 127.0.0.1, stopped at the end.

Input: the load-test register (`mix_directory(1000 accounts, 3000 people)`) and `mix_lines(N)` (90% sign-ins).

Throughput, one worker (median of --runs, a fresh deployment each: its own topics, 8 partitions, lateness 5m,
no ticks): the register and all N events are published first (a backlog), then one worker process is started;
the clock runs from its /health answering until every input message is routed (streams.client.input_backlog
is 0) and every work partition's processed offset (/health "processed") is the work topic's end offset - 1.
events/s = N / that time.

Baseline, in the same run and interleaved with the worker runs: a raw aiokafka passthrough in its own process.
An AIOKafkaConsumer (a new group, earliest) over a fresh 8-partition topic holding the same N lines produces
every message unchanged to another topic with an AIOKafkaProducer (acks=all, like the worker); the clock runs
from both clients being started until all N are consumed and the producer is flushed. Median of --runs.
A second baseline, interleaved too: the same passthrough as one Faust agent with the worker's app options
(`streams.app.app_options`), reading as the worker's router does (no automatic acks, each message acked once
sent), timed from its first message: what Faust's consumer and stream cost per message before any of our work.

Latency (median of --latency-runs, default --runs, each a fresh deployment and one worker): the register is
published, read, and folded (the deployment advanced to 1 s before the feed, as wall-clock ticks would in a live
deployment), then a paced kafka-python
producer sends mix lines at about half the median worker throughput for --latency-seconds, in small batches on
a 50 ms schedule, each message's timestamp set by the producer at send time. When the worker has drained, its
/metrics histogram `monitor_event_to_alert_seconds` gives p50, p99 and the highest non-empty bucket, estimated
from the bucket counts (linear interpolation within a bucket, as Prometheus' histogram_quantile does). Alongside,
from the alerts topic: for each alert version, the time from the publication of the first event at or after its
`updated_at` (event time) to the alert message's broker timestamp; exact, not bucket-based. The histogram
measures from the timestamp of the work message whose processing *released* the alert, which with a reorder
buffer (lateness) is a later message than the one that caused it; the alerts-topic figure includes that wait.

Workers run at --loglevel (default info, the runtime's own default; the test harness's `warning` makes Faust
set the root logger to DEBUG for its terminal spinner, which costs the worker about 15%).

Replay parity (run 1 only, not timed): the worker is advanced to the last event's time and its final alerts are
compared with `monitor replay --lateness 5m --until LAST` of the same register and events: alerts only one side
has, by control, and alerts with the same id but different content.

Caveats: the throughput figure includes the register (each of its 3,000 people goes to every partition; since
session 10 in batched work messages) and every alert the worker sends. The machine's other load
skews everything: the load average at the start and the end is recorded.

Results go to bench/results/kafka.json. Every wait has a timeout; every worker is stopped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
PARTITIONS = 8
LATENESS = "5m"
# The paced feed runs with no reorder buffer: with 5m, an alert waits until 5 minutes of event time have followed
# its cause, which at the mix's pace is most of a minute of wall time, and the figure would measure only that.
LATENCY_LATENESS = "0s"
ACCOUNTS, PEOPLE = 1000, 3000
POLL_S = 0.1  # /health polling once the input is routed
BACKLOG_POLL_S = 0.5  # input_backlog opens two clients per call (~0.2 s): poll it less often
STALL_S = 120.0  # a worker whose processed offsets do not move for this long while behind is reported stalled
PACE_INTERVAL_S = 0.05  # the paced producer sends one small batch every 50 ms
SEND_STALL_S = 0.01  # a paced send that blocks the producer longer than this is counted as a stall

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.replay_bench import machine  # noqa: E402  (the repo root is on the path only from here)
from tests.streams.harness import free_port, load_local_kafka  # noqa: E402


class BenchError(RuntimeError):
    """A measurement could not be completed (worker died or stalled, timeout)."""


# ----- machine and broker ---------------------------------------------------------------------------------------


@contextlib.contextmanager
def broker() -> Iterator[tuple[str, str]]:
    """(bootstrap, description): $KAFKA_BOOTSTRAP, or a local KRaft broker started here and stopped after."""
    env = os.environ.get("KAFKA_BOOTSTRAP")
    if env:
        yield env, f"KAFKA_BOOTSTRAP={env} (external)"
        return
    lk = load_local_kafka()
    started = time.monotonic()
    kafka = lk.LocalKafka(startup_timeout=120.0)
    try:
        kafka.start()
        took = time.monotonic() - started
        log(f"local KRaft broker {lk.kafka_version()} up on {kafka.bootstrap} in {took:.1f}s")
        yield str(kafka.bootstrap), f"local KRaft broker, Kafka {lk.kafka_version()}, {kafka.bootstrap}"
    finally:
        kafka.stop()


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ----- Kafka helpers --------------------------------------------------------------------------------------------


def create_topics(bootstrap: str, names: Sequence[str], partitions: int) -> None:
    from kafka.admin import KafkaAdminClient, NewTopic  # type: ignore[import-untyped, unused-ignore]

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="kafka-bench-admin", request_timeout_ms=30_000)
    try:
        admin.create_topics([NewTopic(name=n, num_partitions=partitions, replication_factor=1) for n in names])
    finally:
        admin.close()


def wait_group(bootstrap: str, group: str, members: int, timeout: float) -> float:
    """Wait until the consumer group is stable with `members` members (every worker holds its partitions); returns
    the seconds waited. A worker answers /health before it has joined: timed from then, a second worker's join and
    the rebalance it brings (about 3 s here, one worker holding everything meanwhile) fell inside the timed run."""
    from kafka.admin import KafkaAdminClient  # type: ignore[import-untyped, unused-ignore]
    from kafka.errors import KafkaError  # type: ignore[import-untyped, unused-ignore]

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="kafka-bench-admin", request_timeout_ms=30_000)
    started = time.perf_counter()
    try:
        while True:
            try:
                info = admin.describe_groups([group]).get(group) or {}  # kafka-python 3: {group id: {field: value}}
                state, joined = info.get("group_state", info.get("state")), len(info.get("members") or ())
                seen = f"{state} with {joined} of {members} members"
                if state == "Stable" and joined == members:
                    return time.perf_counter() - started
            except KafkaError as exc:  # the coordinator of a broker just started: not there yet
                seen = repr(exc)
            if time.perf_counter() - started > timeout:
                raise BenchError(f"group {group}: {seen}")
            time.sleep(POLL_S)
    finally:
        admin.close()


def publish_fast(bootstrap: str, messages: Iterable[tuple[str, bytes, bytes] | tuple[str, bytes, bytes, int]],
                 timeout: float) -> int:  # fmt: skip
    """Send (topic, key, value[, partition]) in order with aiokafka (acks=all) and wait for every ack; returns how
    many. Not timed: setup only.

    streams.client.publish (kafka-python) does the same about seven times slower; the backlog only has to be there.
    """
    from aiokafka import AIOKafkaProducer  # type: ignore[import-untyped, unused-ignore]

    async def run() -> int:
        producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap, acks="all", linger_ms=20, max_batch_size=512 * 1024,
            client_id="kafka-bench-publisher", request_timeout_ms=60_000,
        )  # fmt: skip
        await producer.start()
        n = 0
        try:
            pending = []
            for m in messages:
                partition = m[3] if len(m) > 3 else None
                pending.append(await producer.send(m[0], key=m[1], value=m[2], partition=partition))
                n += 1
                if len(pending) >= 20_000:
                    await asyncio.gather(*pending)
                    pending.clear()
            await asyncio.gather(*pending)
        finally:
            await producer.stop()
        return n

    return asyncio.run(asyncio.wait_for(run(), timeout))


def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    from kafka import KafkaConsumer, TopicPartition  # type: ignore[import-untyped, unused-ignore]

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, client_id="kafka-bench-offsets", request_timeout_ms=30_000)
    try:
        parts = consumer.partitions_for_topic(topic) or set()
        ends = consumer.end_offsets([TopicPartition(topic, p) for p in parts])
        return {tp.partition: int(off) for tp, off in ends.items()}
    finally:
        consumer.close()


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        return str(resp.read().decode())


def proc_stats(pid: int) -> dict[str, float]:
    """CPU seconds (user+system) and peak RSS of a process, from /proc (Linux); empty elsewhere."""
    out: dict[str, float] = {}
    with contextlib.suppress(OSError, ValueError, IndexError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        out["cpu_seconds"] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                out["peak_rss_mib"] = int(line.split()[1]) / 1024
    return out


def machine_ticks() -> int | None:
    """Busy CPU time of the whole machine so far, in clock ticks summed over its cores (Linux /proc/stat); None
    elsewhere. Busy is everything but idle and waiting for I/O."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
        return sum(fields) - fields[3] - fields[4]
    return None


def cores_used(before: dict[str, Any], after: dict[str, Any], seconds: float) -> dict[str, float]:
    """How many cores the workers, and the whole machine, kept busy on average between two `cpu_sample`s."""
    out: dict[str, float] = {}
    if seconds <= 0:
        return out
    if all("cpu_seconds" in x for x in (*before["workers"], *after["workers"])):
        spent = sum(x["cpu_seconds"] for x in after["workers"]) - sum(x["cpu_seconds"] for x in before["workers"])
        out["workers"] = spent / seconds
    if before["machine"] is not None and after["machine"] is not None:
        out["machine"] = (after["machine"] - before["machine"]) / os.sysconf("SC_CLK_TCK") / seconds
    return out


def cpu_sample(pids: Sequence[int]) -> dict[str, Any]:
    return {"workers": [proc_stats(pid) for pid in pids], "machine": machine_ticks()}


# ----- the deployment under test --------------------------------------------------------------------------------


class Bench:
    """Shared inputs: the register file, the N lines and where each goes."""

    def __init__(self, bootstrap: str, tmp: Path, events: int, timeout: float, loglevel: str = "info") -> None:
        import yaml

        from monitor.demo import mix_directory, mix_lines
        from streams.client import topic_and_key

        self.bootstrap, self.tmp, self.timeout, self.loglevel = bootstrap, tmp, timeout, loglevel
        self.directory = tmp / "mix-directory.yaml"
        self.directory.write_text(yaml.safe_dump(mix_directory(accounts=ACCOUNTS, people=PEOPLE), sort_keys=False))
        self.lines = list(mix_lines(events, accounts=ACCOUNTS, people=PEOPLE))
        self.routes = [topic_and_key(raw) for raw in self.lines]  # (input topic name, key)
        self.first_time = datetime.fromisoformat(json.loads(self.lines[0])["time"])
        self._n = 0

    def deployment(self, lateness: str = LATENESS) -> Any:
        from tests.streams.harness import Deployment

        loglevel = self.loglevel

        class Leveled(Deployment):
            def env(self, port: int) -> dict[str, str]:
                env = dict(super().env(port))
                env["MONITOR_LOGLEVEL"] = loglevel
                return env

        self._n += 1
        tmp = self.tmp / f"deployment-{self._n}"
        tmp.mkdir()
        return Leveled(self.bootstrap, tmp, partitions=PARTITIONS, lateness=lateness, directory=self.directory)

    def wait_drained(self, d: Any, port: int | list[int], started: float, what: str) -> dict[str, Any]:
        """Wait until every input message is routed and every work partition processed to its end offset - 1.

        Returns the time it was seen done and the work topic's end offsets. Raises BenchError on a timeout, a
        worker that exits, or one whose processed offsets stop moving while it is behind.
        """
        from kafka.errors import KafkaError  # type: ignore[import-untyped, unused-ignore]

        from streams.client import input_backlog
        from streams.topics import WORK

        s = d.settings
        ports = port if isinstance(port, list) else [port]
        deadline = started + self.timeout
        ends: dict[int, int] | None = None
        backlog: int | None = None
        last_progress, last_sum = time.perf_counter(), -1
        next_backlog = 0.0
        have: dict[str, int] = {}
        while True:
            now = time.perf_counter()
            if now > deadline:
                raise BenchError(f"{what}: not drained in {self.timeout:.0f}s (input backlog {backlog}, "
                                 f"work ends {ends}, processed {have})\n{d.log_tail(ports[0])}")  # fmt: skip
            for p in ports:
                if d.workers[p].poll() is not None:
                    raise BenchError(f"{what}: worker exited {d.workers[p].returncode}\n{d.log_tail(p)}")
            if ends is None and now >= next_backlog:
                next_backlog = now + BACKLOG_POLL_S
                try:
                    backlog = input_backlog(s)
                except KafkaError as exc:  # e.g. the group coordinator not there yet on a fresh broker
                    log(f"  {what}: input_backlog: {exc!r}; retrying")
                    backlog = None
                if backlog == 0:
                    ends = end_offsets(self.bootstrap, s.topic(WORK))
            try:  # several workers: a partition's progress is the furthest any of them reports
                have = {}
                for p in ports:
                    health = d.health(p)
                    for part, off in health["processed"].items():
                        have[part] = max(have.get(part, -1), off)
                    # A partition moved here by a rebalance after its last message has no engine yet: its committed
                    # offset (the next to read) says how far it was processed.
                    for part, off in health["idle"].items():
                        if off is not None:
                            have[part] = max(have.get(part, -1), off - 1)
            except OSError as exc:
                log(f"  {what}: /health: {exc!r}")
                time.sleep(POLL_S)
                continue
            total = sum(have.values())
            if total != last_sum:
                last_sum, last_progress = total, time.perf_counter()
            done_at = time.perf_counter()
            if ends is not None and all(have.get(str(p), -1) + 1 >= end for p, end in ends.items() if end > 0):
                return {"done_at": done_at, "work_ends": ends}
            if done_at - last_progress > STALL_S:
                raise BenchError(f"{what}: worker stalled: processed {have} unchanged for {STALL_S:.0f}s "
                                 f"(input backlog {backlog}, work ends {ends})\n{d.log_tail(ports[0])}")  # fmt: skip
            time.sleep(POLL_S)

    def worker_run(self, i: int) -> dict[str, Any]:
        """One throughput measurement of one worker over a pre-published backlog."""
        from streams.topics import ALERTS

        d = self.deployment()
        try:
            d.publish_directory(self.directory, self.first_time)
            s = d.settings
            started = time.perf_counter()
            backlog = [(s.topic(t), k, v) for (t, k), v in zip(self.routes, self.lines, strict=True)]
            publish_fast(self.bootstrap, backlog, self.timeout)
            log(f"  worker run {i}: published {len(self.lines):,} events in {time.perf_counter() - started:.1f}s")
            spawned = time.perf_counter()
            port = d.start_worker()
            t0 = time.perf_counter()
            done = self.wait_drained(d, port, t0, f"worker run {i}")
            seconds = done["done_at"] - t0
            text = scrape(port)
            stats = proc_stats(d.workers[port].pid)
            alert_msgs = sum(end_offsets(self.bootstrap, s.topic(ALERTS)).values())
            problems = log_problems(d, port)
            parity = self.parity(d) if i == 1 else None
        finally:
            d.stop_all()
        n = len(self.lines)
        return {
            "replay_parity": parity,
            "seconds": seconds,
            "events_per_s": n / seconds,
            "startup_seconds": t0 - spawned,
            "work_messages": sum(done["work_ends"].values()),
            "alert_messages": alert_msgs,
            "alert_versions_metric": metric_sum(text, "monitor_alerts"),
            "alerts_by_control": by_label(text, "monitor_alerts", "control"),
            "events_metric": metric_sum(text, "monitor_events"),
            "rejected_metric": metric_sum(text, "monitor_events_rejected"),
            "rule_errors_metric": metric_sum(text, "monitor_rule_errors"),
            "rebuilds_metric": metric_sum(text, "monitor_partition_rebuilds"),
            "worker": stats,
            "log_problems": problems,
        }

    def scaling_run(self, i: int, workers: int) -> dict[str, Any]:
        """Throughput of `workers` worker processes over the same backlog (8 partitions), timed from publishing it
        to a group already stable with every worker in it and the register folded, until it is drained."""
        d = self.deployment()
        try:
            d.publish_directory(self.directory, self.first_time)
            s = d.settings
            backlog = [(s.topic(t), k, v) for (t, k), v in zip(self.routes, self.lines, strict=True)]
            ports = [d.start_worker() for _ in range(workers)]  # each returns once its /health answers
            joined = wait_group(self.bootstrap, s.app_id, workers, self.timeout)
            self.wait_drained(d, ports, time.perf_counter(), f"{workers} worker(s) run {i}: register")
            pids = [d.workers[p].pid for p in ports]
            before = cpu_sample(pids)
            t0 = time.perf_counter()
            publish_fast(self.bootstrap, backlog, self.timeout)  # about 1 s of a 15 to 25 s run; workers start at once
            done = self.wait_drained(d, ports, t0, f"{workers} worker(s) run {i}")
            seconds = done["done_at"] - t0
            after = cpu_sample(pids)
            window = time.perf_counter() - t0
            stats = after["workers"]
            rebuilds = sum(metric_sum(scrape(p), "monitor_partition_rebuilds") for p in ports)
        finally:
            d.stop_all()
        n = len(self.lines)
        # The cores kept busy while the backlog drained (to a moment after the last poll): on a small machine, two
        # workers and the broker can use every core, and then the ratio measures the machine, not the design.
        return {"workers": workers, "seconds": seconds, "events_per_s": n / seconds, "worker": stats,
                "cores_used": {**cores_used(before, after, window), "cores": os.cpu_count() or 0},
                "group_stable_after_s": joined,
                "work_messages": sum(done["work_ends"].values()), "rebuilds_metric": rebuilds}  # fmt: skip

    def parity(self, d: Any) -> dict[str, Any]:
        """Not timed: advance the worker to the last event and compare its final alerts with `monitor replay`'s."""
        from tests.streams.harness import replay_alerts

        last = datetime.fromisoformat(json.loads(self.lines[-1])["time"])
        events = self.tmp / "mix-events.jsonl"
        if not events.exists():
            events.write_bytes(b"\n".join(self.lines) + b"\n")
        d.advance_and_wait(last, timeout=self.timeout)
        live = {a["id"]: a for a in d.final_alerts()}
        replayed = {a["id"]: a for a in replay_alerts(self.directory, events, LATENESS, until=last)}
        only_live, only_replay = set(live) - set(replayed), set(replayed) - set(live)
        changed = [k for k in set(live) & set(replayed) if live[k] != replayed[k]]

        def controls(ids: Any, alerts: dict[str, Any]) -> dict[str, int]:
            out: dict[str, int] = {}
            for k in ids:
                out[alerts[k]["control"]] = out.get(alerts[k]["control"], 0) + 1
            return dict(sorted(out.items()))

        return {
            "live_alerts": len(live),
            "replay_alerts": len(replayed),
            "only_live": controls(only_live, live),
            "only_replay": controls(only_replay, replayed),
            "same_id_different_content": len(changed),
            "differ": len(only_live) + len(only_replay) + len(changed),
        }

    def passthrough_run(self, i: int) -> dict[str, Any]:
        """One raw aiokafka passthrough measurement, in its own process, over a fresh 8-partition topic."""
        tag = uuid.uuid4().hex[:8]
        src, dst = f"pt{tag}.in", f"pt{tag}.out"
        create_topics(self.bootstrap, [src, dst], PARTITIONS)
        started = time.perf_counter()
        publish_fast(self.bootstrap, [(src, k, v) for (_, k), v in zip(self.routes, self.lines, strict=True)],
                     self.timeout)  # fmt: skip
        log(f"  passthrough run {i}: published {len(self.lines):,} events in {time.perf_counter() - started:.1f}s")
        cmd = [sys.executable, __file__, "--passthrough", self.bootstrap, src, dst, str(len(self.lines)),
               str(self.timeout)]  # fmt: skip
        try:
            out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT, timeout=self.timeout + 60)
        except subprocess.CalledProcessError as exc:
            raise BenchError(f"passthrough run {i} failed: {exc.stderr[-2000:]}") from None
        except subprocess.TimeoutExpired:
            raise BenchError(f"passthrough run {i} did not finish in {self.timeout + 60:.0f}s") from None
        r = dict(json.loads(out.stdout))
        r["events_per_s"] = r["consumed"] / r["seconds"]
        r["produced_end_offsets"] = sum(end_offsets(self.bootstrap, dst).values())
        return r

    def faust_passthrough_run(self, i: int) -> dict[str, Any]:
        """The passthrough through one Faust agent (`faust_passthrough`), in its own process, over fresh topics."""
        tag = uuid.uuid4().hex[:8]
        src, dst = f"ptf{tag}.in", f"ptf{tag}.out"
        create_topics(self.bootstrap, [src, dst], PARTITIONS)
        publish_fast(self.bootstrap, [(src, k, v) for (_, k), v in zip(self.routes, self.lines, strict=True)],
                     self.timeout)  # fmt: skip
        out = self.tmp / f"faust-passthrough-{tag}.json"
        cmd = [sys.executable, __file__, "--faust-passthrough", self.bootstrap, src, dst, str(len(self.lines)),
               str(self.timeout), str(out)]  # fmt: skip
        log_path = self.tmp / f"faust-passthrough-{tag}.log"
        with open(log_path, "wb") as log_file:
            try:
                subprocess.run(cmd, check=True, stdout=log_file, stderr=subprocess.STDOUT, cwd=ROOT,
                               timeout=self.timeout + 120)  # fmt: skip
            except subprocess.CalledProcessError:
                why = out.read_text() if out.exists() else log_path.read_text(errors="replace")[-2000:]
                raise BenchError(f"Faust passthrough run {i} failed: {why}") from None
            except subprocess.TimeoutExpired:
                raise BenchError(f"Faust passthrough run {i} did not finish in {self.timeout + 120:.0f}s") from None
        r = dict(json.loads(out.read_text()))
        r["events_per_s"] = r["consumed"] / r["seconds"]
        r["produced_end_offsets"] = sum(end_offsets(self.bootstrap, dst).values())
        return r

    def latency(self, rate: int, seconds: float, runs: int = 1) -> dict[str, Any]:
        """`latency_run` `runs` times, logged, and their median; a failure is reported in the result ("error")
        rather than raised."""
        done: list[dict[str, Any]] = []
        for i in range(1, runs + 1):
            log(f"latency run {i}/{runs}: paced feed at {rate:,} events/s for {seconds:.0f}s ...")
            try:
                done.append(self.latency_run(rate, seconds))
            except (BenchError, TimeoutError, OSError) as exc:
                log(f"  latency FAILED: {exc}")
                return {"error": str(exc)[-4000:]}
            e = done[-1]["alerts_topic_end_to_end"]
            if e.get("alert_versions"):
                log(f"  latency run {i}/{runs}: p50 {e['p50']:.3f}s, p99 {e['p99']:.3f}s, max {e['max']:.3f}s")
        return median_latency(done)

    def latency_run(self, rate: int, seconds: float) -> dict[str, Any]:
        """A paced feed at `rate` events/s for `seconds` into one running worker; the latency it saw."""
        from kafka import KafkaProducer

        from monitor.demo import mix_lines
        from streams.client import topic_and_key
        from streams.topics import ALERTS

        total = max(1, int(rate * seconds))
        lines = list(mix_lines(total, accounts=ACCOUNTS, people=PEOPLE))
        routes = [topic_and_key(raw) for raw in lines]
        times = [datetime.fromisoformat(json.loads(raw)["time"]) for raw in lines]
        d = self.deployment(LATENCY_LATENESS)
        try:
            s = d.settings
            d.publish_directory(self.directory, times[0] - timedelta(seconds=2))  # its alerts: before the feed
            port = d.start_worker()
            self.wait_drained(d, port, time.perf_counter(), "latency: register")
            # The register's events are released only once a later event passes them (lateness 0s: a watermark).
            # Without this advance the first paced events released the whole register (every person on every
            # partition, ~25,000 rule passes) and waited behind it: a one-off of ~1 s at the feed's start that
            # no steady feed has, and the only alerts over 1 s in the session 9 runs (bench/README).
            d.advance_and_wait(times[0] - timedelta(seconds=1))
            per_batch = max(1, round(rate * PACE_INTERVAL_S))
            producer = KafkaProducer(bootstrap_servers=self.bootstrap, acks="all", linger_ms=5,
                                     client_id="kafka-bench-paced")  # fmt: skip
            # A producer's first send to a topic waits for that topic's metadata (about 0.1 s here), and each event
            # is stamped before it is handed over: the feed's first sign-in and first credentials event stalled the
            # paced feed, and the events after them reached the broker late. That wait, counted as the monitor's
            # latency, was the slow first second of earlier runs. A long-lived producer has the metadata already.
            for topic in sorted({s.topic(name) for name, _ in routes}):
                producer.partitions_for(topic)
            sent_wall: list[float] = []  # wall time (epoch s) each line was handed to the producer
            behind = 0  # batches sent late (the producer could not keep the schedule)
            stalls: list[float] = []  # sends that held the feed up (the producer blocked), seconds each
            try:
                t0 = time.perf_counter()
                for b, start in enumerate(range(0, total, per_batch)):
                    due = t0 + b * PACE_INTERVAL_S
                    wait = due - time.perf_counter()
                    if wait > 0:
                        time.sleep(wait)
                    elif wait < -PACE_INTERVAL_S:
                        behind += 1
                    for j in range(start, min(start + per_batch, total)):
                        now = time.time()
                        name, key = routes[j]
                        producer.send(s.topic(name), key=key, value=lines[j], timestamp_ms=int(now * 1000))
                        sent_wall.append(now)
                        if (held := time.time() - now) > SEND_STALL_S:
                            stalls.append(held)
                    if time.perf_counter() - t0 > self.timeout:
                        raise BenchError("latency: the paced producer ran past the timeout")
                producer.flush(timeout=60)
                fed = time.perf_counter() - t0
            finally:
                producer.close(timeout=10)
            log(f"  latency: sent {total:,} events in {fed:.1f}s ({total / fed:,.0f}/s, target {rate:,}/s)")
            self.wait_drained(d, port, time.perf_counter(), "latency: feed")
            text = scrape(port)
            stats = proc_stats(d.workers[port].pid)
            problems = log_problems(d, port)
            e2e = alerts_end_to_end(self.bootstrap, s.topic(ALERTS), times, sent_wall)
        finally:
            d.stop_all()
        buckets = histogram(text, "monitor_event_to_alert_seconds")
        return {
            "lateness": LATENCY_LATENESS,
            "target_rate": rate,
            "events": total,
            "feed_seconds": fed,
            "achieved_rate": total / fed,
            "late_batches": behind,
            "batch": per_batch,
            "producer_stalls": {"over_s": SEND_STALL_S, "count": len(stalls), "max": max(stalls, default=0.0)},
            "histogram": {
                "basis": "bucket-based: linear interpolation within Prometheus buckets",
                "observations": buckets[-1][1] if buckets else 0,
                "p50": quantile(buckets, 0.50),
                "p99": quantile(buckets, 0.99),
                "max_bucket_le": max_bucket(buckets),
                "buckets": [[le, n] for le, n in buckets],
            },
            "alert_versions_metric": metric_sum(text, "monitor_alerts"),
            "alerts_by_control": by_label(text, "monitor_alerts", "control"),
            "alerts_topic_end_to_end": e2e,
            "worker": stats,
            "log_problems": problems,
        }


def median_latency(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One latency result from several runs: the run with the median p99 in full, its end-to-end p50, p99 and
    max replaced by the medians over all runs, and every run's figures under "runs"."""

    def p99(r: dict[str, Any]) -> float:
        return float(r["alerts_topic_end_to_end"].get("p99") or 0.0)

    ranked = sorted(runs, key=p99)
    out = dict(ranked[(len(ranked) - 1) // 2])
    e2e = dict(out["alerts_topic_end_to_end"])
    if all(r["alerts_topic_end_to_end"].get("alert_versions") for r in runs):
        for q in ("p50", "p99", "max"):
            e2e[q] = statistics.median(r["alerts_topic_end_to_end"][q] for r in runs)
        e2e["basis"] += f"; p50, p99 and max: the median of {len(runs)} runs"
    out["alerts_topic_end_to_end"] = e2e
    out["runs"] = [
        {
            "achieved_rate": r["achieved_rate"],
            "late_batches": r["late_batches"],
            "producer_stalls": r["producer_stalls"]["count"],
            "producer_stall_max": r["producer_stalls"]["max"],
            **{k: r["alerts_topic_end_to_end"].get(k) for k in ("alert_versions", "p50", "p99", "max")},
            "over_1s": r["alerts_topic_end_to_end"].get("over_1s", {}).get("count"),
        }
        for r in runs
    ]
    return out


def log_problems(d: Any, port: int, limit: int = 12) -> list[str]:
    """Warning/error lines of a worker's log (it runs at loglevel warning), the first few."""
    path = d.tmp / f"worker-{port}.log"
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return []
    keys = ("WARNING", "ERROR", "CRITICAL", "Traceback", "Exception")
    return [ln[:300] for ln in text if any(k in ln for k in keys)][:limit]


# ----- Prometheus text ------------------------------------------------------------------------------------------


def metric_sum(text: str, family: str) -> float:
    """Sum of a counter family's samples (all label sets) in a /metrics page."""
    from prometheus_client.parser import text_string_to_metric_families

    total = 0.0
    for fam in text_string_to_metric_families(text):
        if fam.name == family:
            total += sum(s.value for s in fam.samples if s.name in (family, f"{family}_total"))
    return total


def by_label(text: str, family: str, label: str) -> dict[str, float]:
    """A counter family's samples summed by one label."""
    from prometheus_client.parser import text_string_to_metric_families

    out: dict[str, float] = {}
    for fam in text_string_to_metric_families(text):
        if fam.name == family:
            for s in fam.samples:
                if s.name in (family, f"{family}_total"):
                    key = s.labels.get(label, "")
                    out[key] = out.get(key, 0.0) + s.value
    return dict(sorted(out.items()))


def histogram(text: str, family: str) -> list[tuple[float, float]]:
    """Cumulative buckets (le, count) of a histogram, +Inf last."""
    from prometheus_client.parser import text_string_to_metric_families

    for fam in text_string_to_metric_families(text):
        if fam.name == family:
            out = [(float(s.labels["le"]), s.value) for s in fam.samples if s.name == f"{family}_bucket"]
            return sorted(out)
    return []


def quantile(buckets: list[tuple[float, float]], q: float) -> float | None:
    """Like histogram_quantile: linear within the bucket holding rank q*count; the top finite bound for +Inf."""
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    lower, below = 0.0, 0.0
    for le, cum in buckets:
        if cum >= rank:
            if le == float("inf"):
                return lower
            in_bucket = cum - below
            return lower + (le - lower) * ((rank - below) / in_bucket if in_bucket else 1.0)
        lower, below = le, cum
    return lower


def max_bucket(buckets: list[tuple[float, float]]) -> float | None:
    """Upper bound of the highest non-empty bucket (inf when some observation is above every finite bound)."""
    if not buckets or buckets[-1][1] <= 0:
        return None
    return next(le for le, cum in buckets if cum >= buckets[-1][1])


def alerts_end_to_end(bootstrap: str, topic: str, times: list[datetime], sent: list[float]) -> dict[str, Any]:
    """Per alert version: broker timestamp of the alert minus the wall time the first event at or after its
    updated_at (event time) was sent. Versions dated before the first paced event (the register's) are skipped.
    """
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False,
        consumer_timeout_ms=3000, client_id="kafka-bench-alerts",
    )  # fmt: skip
    delays: list[float] = []
    slow: list[tuple[float, float]] = []  # (seconds into the feed the event was sent, delay) for delays over 1 s
    skipped = 0
    ids: set[str] = set()
    deadline = time.monotonic() + 120
    try:
        for rec in consumer:
            alert = json.loads(rec.value)
            ids.add(alert["id"])
            at = datetime.fromisoformat(alert["updated_at"])
            i = bisect.bisect_left(times, at)
            if at < times[0] or i >= len(times):
                skipped += 1
            else:
                delays.append(rec.timestamp / 1000 - sent[i])
                if delays[-1] > 1.0:
                    slow.append((round(sent[i] - sent[0], 2), round(delays[-1], 3)))
            if time.monotonic() > deadline:
                break
    finally:
        consumer.close()
    if not delays:
        return {"alert_versions": 0, "skipped_register_or_after_feed": skipped, "distinct_alerts": len(ids)}
    delays.sort()

    def pick(q: float) -> float:
        return delays[min(len(delays) - 1, int(q * len(delays)))]

    return {
        "basis": "exact: alert message timestamp - send time of the first event at or after the alert's updated_at",
        "alert_versions": len(delays),
        "skipped_register_or_after_feed": skipped,
        "distinct_alerts": len(ids),
        "p50": pick(0.50),
        "p99": pick(0.99),
        "max": delays[-1],
        "over_1s": {"count": len(slow), "sent_at_feed_seconds": sorted(slow)[:200]},
    }


# ----- the passthrough baseline (runs in its own process) -------------------------------------------------------


def passthrough(bootstrap: str, src: str, dst: str, n: int, timeout: float) -> dict[str, Any]:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    async def run() -> dict[str, Any]:
        consumer = AIOKafkaConsumer(
            src, bootstrap_servers=bootstrap, group_id=f"passthrough-{uuid.uuid4().hex[:8]}",
            auto_offset_reset="earliest", client_id="kafka-bench-passthrough",
        )  # fmt: skip
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", client_id="kafka-bench-passthrough")
        await producer.start()
        await consumer.start()
        t0 = time.perf_counter()
        consumed = 0
        try:
            while consumed < n:
                if time.perf_counter() - t0 > timeout:
                    raise TimeoutError(f"passthrough consumed {consumed} of {n} in {timeout:.0f}s")
                batches = await consumer.getmany(timeout_ms=500)
                for records in batches.values():
                    for r in records:
                        await producer.send(dst, key=r.key, value=r.value, timestamp_ms=r.timestamp,
                                            headers=list(r.headers or ()))  # fmt: skip
                    consumed += len(records)
            await asyncio.wait_for(producer.flush(), timeout)
            seconds = time.perf_counter() - t0
        finally:
            await consumer.stop()
            await producer.stop()
        return {"seconds": seconds, "consumed": consumed}

    return asyncio.run(run())


def faust_passthrough(bootstrap: str, src: str, dst: str, n: int, timeout: float, out: Path) -> None:
    """The same passthrough as one Faust agent, with the worker's app options (`streams.app.app_options`) and
    worker class, and its router's way of reading (no automatic acks, each event acked once sent), writing its
    result to `out`.

    What Faust's consumer and stream cost per message, without the router's aligning or the engine: the ceiling
    a worker reading its input through a Faust stream cannot pass. Timed from the first message (the group
    joined) until all N are consumed and the producer is flushed.
    """
    import faust

    from streams.app import _Worker, app_options
    from streams.settings import StreamSettings

    tag = uuid.uuid4().hex[:8]
    port = free_port()
    settings = StreamSettings(broker=f"kafka://{bootstrap}", app_id=f"ptf{tag}", web_port=port,
                              data_dir=out.parent / f"faust-passthrough-{tag}")  # fmt: skip
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    app = faust.App(settings.app_id, **app_options(settings))
    topic = app.topic(src, key_serializer="raw", value_serializer="raw", internal=False)
    started: list[float] = []
    deadline = time.monotonic() + timeout

    def finish(result: dict[str, Any]) -> None:
        out.write_text(json.dumps(result))
        os._exit(0 if "error" not in result else 1)  # a Faust worker does not stop on its own

    @app.agent(topic, concurrency=1)
    async def forward(stream: Any) -> None:
        manual = stream.noack()
        consumed = 0
        async for event in manual.events():
            if not started:
                started.append(time.perf_counter())
            msg = event.message
            await app.producer.send(dst, msg.key, msg.value, None, None, None)
            await manual.ack(event)
            consumed += 1
            if consumed == n:
                await app.producer.flush()
                finish({"seconds": time.perf_counter() - started[0], "consumed": consumed})

    @app.timer(interval=1.0)
    async def give_up() -> None:
        if time.monotonic() > deadline:
            finish({"error": f"not all of {n} consumed in {timeout:.0f}s"})

    worker = _Worker(app, loglevel="warning", quiet=True)  # the worker's own class: no spinner (streams/app.py)
    asyncio.set_event_loop(worker.loop)
    worker.execute_from_commandline()


# ----- main -----------------------------------------------------------------------------------------------------


def median_present(values: Sequence[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if vals else None


def median_of(runs: list[dict[str, Any]], key: str) -> float | None:
    return median_present([r[key] for r in runs if "error" not in r])


def fmt(v: float | None, spec: str = ",.0f", unit: str = "") -> str:
    return "n/a" if v is None else f"{v:{spec}}{unit}"


def wait_quiet(own_brokers: int, max_wait: float = 600.0, max_load: float = 1.5) -> dict[str, Any]:
    """Before a measurement: wait (up to max_wait) while another Kafka broker runs or the 1-minute load is high.

    Returns what was seen: the load and broker count when the measurement started, and how long it waited.
    """
    from bench.common import kafka_brokers, loadavg

    t0 = time.monotonic()
    while True:
        load, brokers = loadavg(), kafka_brokers()
        busy = brokers > own_brokers or (load and load[0] > max_load)
        waited = time.monotonic() - t0
        if not busy or waited >= max_wait:
            return {"loadavg": load, "brokers": brokers, "own_brokers": own_brokers, "waited_s": round(waited, 1),
                    "still_busy": bool(busy)}  # fmt: skip
        if int(waited) % 60 < 5:
            log(f"  waiting for a quieter machine: load {load}, {brokers} broker(s) ({own_brokers} ours)")
        time.sleep(5)


def run(events: int, runs: int, latency_seconds: float = 30.0, rate: int | None = None, timeout: float = 900.0,
        loglevel: str = "info", scaling_runs: int = 0, wait: bool = True,
        latency_runs: int = 0) -> dict[str, Any]:  # fmt: skip
    """Throughput (one worker vs the passthrough), latency at half load and, with scaling_runs, one vs two workers."""
    from bench.common import kafka_brokers

    wall = time.perf_counter()
    # other processes on the machine skew every figure: say how busy it was
    load_start = os.getloadavg()
    results: dict[str, Any] = {"machine": machine(), "events": events, "runs": runs,
                               "partitions": PARTITIONS, "lateness": LATENESS, "loglevel": loglevel,
                               "loadavg_start": load_start}  # fmt: skip
    ok = True
    with broker() as (bootstrap, where), tempfile.TemporaryDirectory(prefix="kafka-bench-") as tmp:
        own = 0 if os.environ.get("KAFKA_BOOTSTRAP") else 1

        waits = [0]

        def quiet() -> dict[str, Any]:
            """Up to 10 minutes' wait before the first measurement, up to one minute before each later one."""
            if not wait:
                from bench.common import loadavg

                return {"loadavg": loadavg(), "brokers": kafka_brokers(), "own_brokers": own, "waited_s": 0}
            waits[0] += 1
            return wait_quiet(own, max_wait=600.0 if waits[0] == 1 else 60.0)

        results["broker"] = where
        log(f"generating mix_lines({events:,}) over mix_directory({ACCOUNTS}, {PEOPLE}) ...")
        bench = Bench(bootstrap, Path(tmp), events, timeout, loglevel)
        workers: list[dict[str, Any]] = []
        passes: list[dict[str, Any]] = []
        faust_passes: list[dict[str, Any]] = []
        for i in range(1, runs + 1):  # interleaved, so both see the same machine conditions
            for kind, out, fn in (
                ("worker", workers, bench.worker_run),
                ("passthrough", passes, bench.passthrough_run),
                ("Faust passthrough", faust_passes, bench.faust_passthrough_run),
            ):
                seen = quiet()
                try:
                    r = fn(i)
                except (BenchError, TimeoutError, OSError) as exc:
                    log(f"  {kind} run {i} FAILED: {exc}")
                    r = {"error": str(exc)[-4000:]}
                    ok = False
                r["machine_state"] = seen
                out.append(r)
                if "error" not in r:
                    log(f"  {kind} run {i}/{runs}: {r['seconds']:.2f}s = {r['events_per_s']:,.0f} events/s "
                        f"(load {seen['loadavg']}, {seen['brokers']} broker(s))")  # fmt: skip
        results["worker_runs"], results["passthrough_runs"] = workers, passes
        w, p = median_of(workers, "seconds"), median_of(passes, "seconds")
        results["worker_seconds"], results["passthrough_seconds"] = w, p
        results["worker_events_per_s"] = events / w if w else None
        results["passthrough_events_per_s"] = events / p if p else None
        results["worker_vs_passthrough"] = (events / w) / (events / p) if w and p else None
        f = median_of(faust_passes, "seconds")
        results["faust_passthrough_runs"], results["faust_passthrough_seconds"] = faust_passes, f
        results["faust_passthrough_events_per_s"] = events / f if f else None
        results["faust_vs_passthrough"] = p / f if f and p else None
        results["worker_vs_faust_passthrough"] = f / w if w and f else None

        rate = rate or (int(results["worker_events_per_s"] / 2) if results["worker_events_per_s"] else 0)
        if rate > 0:
            seen = quiet()
            results["latency"] = bench.latency(rate, latency_seconds, latency_runs or runs)
            ok = ok and "error" not in results["latency"]
            results["latency"]["machine_state"] = seen
        if scaling_runs:
            one: list[dict[str, Any]] = []
            two: list[dict[str, Any]] = []
            for i in range(1, scaling_runs + 1):
                for n, out in ((1, one), (2, two)):
                    seen = quiet()
                    try:
                        r = bench.scaling_run(i, n)
                    except (BenchError, TimeoutError, OSError, RuntimeError) as exc:
                        log(f"  scaling {n} worker(s) run {i} FAILED: {exc}")
                        r = {"error": str(exc)[-4000:]}
                        ok = False
                    r["machine_state"] = seen
                    out.append(r)
                    if "error" not in r:
                        c = r["cores_used"]
                        log(f"  scaling {n} worker(s) run {i}/{scaling_runs}: {r['seconds']:.2f}s = "
                            f"{r['events_per_s']:,.0f} events/s (load {seen['loadavg']}; cores busy: workers "
                            f"{fmt(c.get('workers'), '.2f')}, machine {fmt(c.get('machine'), '.2f')} of "
                            f"{c['cores']})")  # fmt: skip
            s1, s2 = median_of(one, "seconds"), median_of(two, "seconds")
            results["scaling"] = {
                "events": events, "runs": scaling_runs, "one_runs": one, "two_runs": two,
                "one_seconds": s1, "two_seconds": s2,
                "one_events_per_s": events / s1 if s1 else None, "two_events_per_s": events / s2 if s2 else None,
                "two_vs_one": s1 / s2 if s1 and s2 else None,
                "cores_used": {
                    f"{name}_{what}": median_present([r["cores_used"].get(what) for r in runs if "error" not in r])
                    for name, runs in (("one", one), ("two", two)) for what in ("workers", "machine")
                },
            }  # fmt: skip
    results["wall_seconds"] = time.perf_counter() - wall
    results["loadavg_end"] = os.getloadavg()
    results["ok"] = ok
    return results


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--passthrough", nargs=5, metavar=("BOOTSTRAP", "SRC", "DST", "N", "TIMEOUT"),
                    help=argparse.SUPPRESS)  # fmt: skip
    ap.add_argument("--faust-passthrough", nargs=6, metavar=("BOOTSTRAP", "SRC", "DST", "N", "TIMEOUT", "OUT"),
                    help=argparse.SUPPRESS)  # fmt: skip
    ap.add_argument("--events", type=int, default=200_000, help="events in the mix (default: 200000)")
    ap.add_argument("--runs", type=int, default=3, help="throughput runs of each kind (default: 3)")
    ap.add_argument("--latency-seconds", type=float, default=30.0, help="length of the paced feed (default: 30)")
    ap.add_argument(
        "--latency-runs",
        type=int,
        default=0,
        help="paced feeds, each in a fresh deployment; figures are their median (default: --runs)",
    )
    ap.add_argument("--rate", type=int, help="paced feed rate, events/s (default: half the median worker rate)")
    ap.add_argument("--timeout", type=float, default=900.0, help="limit on each wait, seconds (default: 900)")
    ap.add_argument("--scaling-runs", type=int, default=0, help="also one vs two workers, this many runs each")
    ap.add_argument("--no-wait", action="store_true", help="do not wait for a quieter machine before each run")
    ap.add_argument("--latency-only", action="store_true",
                    help="run only the paced feed, at --rate or half the worker rate in bench/results/kafka.json, "
                         "and replace the latency there")  # fmt: skip
    ap.add_argument("--loglevel", default="info",
                    help="workers' MONITOR_LOGLEVEL (default: info, the runtime's default; the test harness uses "
                         "warning)")  # fmt: skip
    args = ap.parse_args()
    if args.passthrough:
        b, src, dst, n, timeout = args.passthrough
        print(json.dumps(passthrough(b, src, dst, int(n), float(timeout))))
        return 0
    if args.faust_passthrough:
        b, src, dst, n, timeout, out = args.faust_passthrough
        faust_passthrough(b, src, dst, int(n), float(timeout), Path(out))
        return 1  # not reached: it leaves with os._exit once done
    if args.events < 1 or args.runs < 1 or args.latency_runs < 0:
        ap.error("--events and --runs must be at least 1, --latency-runs at least 0")
    if args.latency_only:
        return latency_only(
            args.rate, args.latency_seconds, args.timeout, args.loglevel, args.latency_runs or args.runs
        )
    results = run(args.events, args.runs, args.latency_seconds, args.rate, args.timeout, args.loglevel,
                  args.scaling_runs, not args.no_wait, args.latency_runs)  # fmt: skip
    from bench.common import write_result

    write_result("kafka", results)
    if "scaling" in results:
        write_result("scaling", {"machine": results["machine"], **results["scaling"]})
    report(results)
    return 0 if results["ok"] else 1


def latency_only(rate: int | None, seconds: float, timeout: float, loglevel: str, runs: int = 3) -> int:
    """Measure the paced feed again and put it into the existing kafka.json (its throughput runs stay)."""
    from bench.common import write_result

    path = RESULTS / "kafka.json"
    if not path.exists():
        raise SystemExit(f"{path} not found: run the whole Kafka bench first")
    results = json.loads(path.read_text())
    rate = rate or int((results.get("worker_events_per_s") or 0) / 2)
    if rate < 1:
        raise SystemExit("no worker rate in kafka.json: give --rate")
    started = time.perf_counter()
    with broker() as (bootstrap, _), tempfile.TemporaryDirectory(prefix="kafka-bench-") as tmp:
        lat = Bench(bootstrap, Path(tmp), 1, timeout, loglevel).latency(rate, seconds, runs)
        lat["machine_state"] = {"loadavg": list(os.getloadavg())}
    lat["wall_seconds"] = time.perf_counter() - started
    lat["separate_run_at"] = datetime.now().astimezone().isoformat(timespec="seconds")
    results["latency"] = lat
    write_result("kafka", results)
    report(results)
    return 0 if "error" not in lat else 1


def report(r: dict[str, Any]) -> None:
    m = r["machine"]
    print(f"machine: {m['cpu']}, {m['cores']} cores; Python {m['python']}; {m['platform']}")
    print(f"broker:  {r['broker']}")
    print(f"input:   mix_lines({r['events']:,}) (90% sign-ins) over {ACCOUNTS} accounts / {PEOPLE} people; "
          f"{r['partitions']} partitions, lateness {r['lateness']}, worker loglevel {r['loglevel']}; "
          f"median of {r['runs']} runs")  # fmt: skip
    print()
    print(f"{'throughput (backlog)':34} {'seconds':>9} {'events/s':>10}   runs (s)")
    for name, key in (("one worker (route + engine)", "worker"), ("aiokafka passthrough (baseline)", "passthrough"),
                      ("Faust passthrough", "faust_passthrough")):  # fmt: skip
        if f"{key}_runs" not in r:
            continue
        runs = " ".join("FAIL" if "error" in x else f"{x['seconds']:.2f}" for x in r[f"{key}_runs"])
        print(f"{name:34} {fmt(r[f'{key}_seconds'], '.2f'):>9} {fmt(r[f'{key}_events_per_s']):>10}   {runs}")
    print(f"{'worker / passthrough':34} {'':>9} {fmt(r['worker_vs_passthrough'], '.3f'):>10}")
    if "faust_vs_passthrough" in r:
        print(f"{'Faust passthrough / passthrough':34} {'':>9} {fmt(r['faust_vs_passthrough'], '.3f'):>10}")
        print(f"{'worker / Faust passthrough':34} {'':>9} {fmt(r['worker_vs_faust_passthrough'], '.3f'):>10}")
    ok = [x for x in r["worker_runs"] if "error" not in x]
    if ok:
        x = ok[len(ok) // 2]
        wk = x["worker"]
        print(f"  worker: {x['work_messages']:,} work messages, {x['alert_messages']:,} alert messages, "
              f"startup to /health {x['startup_seconds']:.1f}s, cpu {fmt(wk.get('cpu_seconds'), '.1f', 's')}, "
              f"peak RSS {fmt(wk.get('peak_rss_mib'), '.0f', ' MiB')}")  # fmt: skip
    for x in r["worker_runs"]:
        par = x.get("replay_parity")
        if par:
            print(f"  replay parity (run 1, lateness {r['lateness']}): {par['live_alerts']:,} live alerts, "
                  f"{par['replay_alerts']:,} from replay, {par['differ']} differ (only live {par['only_live']}, "
                  f"only replay {par['only_replay']}, {par['same_id_different_content']} changed)")  # fmt: skip
    lat = r.get("latency")
    if lat is None:
        print("\nlatency: not measured (no worker throughput)")
    elif "error" in lat:
        print(f"\nlatency: FAILED: {lat['error'][:500]}")
    else:
        h, e = lat["histogram"], lat["alerts_topic_end_to_end"]
        print()
        print(f"latency: paced feed {lat['events']:,} events at {lat['target_rate']:,}/s target, "
              f"{lat['achieved_rate']:,.0f}/s achieved over {lat['feed_seconds']:.1f}s "
              f"({lat['late_batches']} late batches of {lat['batch']})")  # fmt: skip
        feeds = lat.get("runs") or []
        if feeds and all("producer_stall_max" in x for x in feeds):
            counts = ", ".join(str(x["producer_stalls"]) for x in feeds)
            longest = max(x["producer_stall_max"] for x in feeds)
            print(f"  paced producer: sends blocked over {lat['producer_stalls']['over_s']:g}s, per run: {counts} "
                  f"(longest {longest:.3f}s)")  # fmt: skip
        print(f"  monitor_event_to_alert_seconds (bucket-based): p50 {fmt(h['p50'], '.3f', 's')}, "
              f"p99 {fmt(h['p99'], '.3f', 's')}, max bucket le={fmt(h['max_bucket_le'], 'g', 's')}, "
              f"{h['observations']:,.0f} observations")  # fmt: skip
        print(f"  alerts produced: {lat['alert_versions_metric']:,.0f} alert versions (monitor_alerts), "
              f"{e.get('distinct_alerts', 0):,} distinct alert ids on the alerts topic")  # fmt: skip
        if e.get("alert_versions"):
            print(f"  alerts topic end to end (exact, lateness {lat.get('lateness', r['lateness'])}): "
                  f"p50 {e['p50']:.3f}s, p99 {e['p99']:.3f}s, max {e['max']:.3f}s over {e['alert_versions']:,} "
                  f"versions ({e['skipped_register_or_after_feed']} skipped)")  # fmt: skip
        for i, x in enumerate(lat.get("runs", []), 1):
            print(f"    run {i}: p50 {fmt(x['p50'], '.3f', 's')}, p99 {fmt(x['p99'], '.3f', 's')}, "
                  f"max {fmt(x['max'], '.3f', 's')}, {x['over_1s']} alert versions over 1 s"
                  + (f", {x['producer_stalls']} producer stalls" if "producer_stalls" in x else ""))  # fmt: skip
    la, lb = r["loadavg_start"], r["loadavg_end"]
    alone = lat.get("wall_seconds") if lat else None
    print(f"\nwall time {r['wall_seconds']:.0f}s"
          + (f" (the throughput runs; the latency feeds alone {alone:.0f}s)" if alone is not None else "")
          + f"; load average {la[0]:.2f} at start, {lb[0]:.2f} at end; "
          f"results in {RESULTS / 'kafka.json'}")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
