"""Recovery of the Kafka runtime: how long a restarted worker takes to get N accounts' state back, and its memory.

    PYTHONPATH=. .venv/bin/python bench/recovery_bench.py                       # 100k accounts, 3 runs
    PYTHONPATH=. .venv/bin/python bench/recovery_bench.py --accounts 10000 --runs 1

Broker: $KAFKA_BOOTSTRAP when set, else a local KRaft broker (as bench/kafka_bench.py), stopped at the end.

The state: `mix_directory(accounts=N, people=3N)` as directory.* events, then 3 events per account from
`mix_lines` (90% sign-ins), on 8 partitions with lateness 5m. Routing that through a worker would take long at
100k accounts (700,000 input messages; one worker routes about 1,300 events a second in `kafka`), so the bench
writes the work topic itself, as the router would: every input line goes where `streams.routing.route` says (one
event per message, as the router sends a live feed; from a backlog it batches them, `work_messages`), and
after every 1,000 lines every partition gets the watermark (newest event time less the lateness) of a router
holding every input partition. Then the group's committed offsets on the work topic are set to its ends: the
state of a deployment whose worker folded everything and stopped.

Each measurement starts one worker process (`monitor run`) on that group and publishes a few sign-ins, so every
work partition gets a message and its engine is rebuilt (`streams/app.py Runtime.engine_for`): from the newest
local snapshot and the work log after it, or from the whole log. The clock runs from the process being spawned
until /health reports all 8 partitions rebuilt; /health's per-partition rebuild seconds are summed alongside.

1. First start, snapshots on (`MONITOR_SNAPSHOT_EVERY` default), none on disk: the whole log is folded and, as a
   rebuild over 50,000 messages does, each partition is snapshotted (the snapshots' size on disk is reported).
2. A tail of 50,000 more events is appended to the log, as after a crash that came before the next snapshot.
3. Interleaved, --runs times: a worker with the snapshots (restore, fold the tail), and a worker with snapshots off
   (`MONITOR_SNAPSHOT_EVERY=0`: fold the whole log). Median of each.

The worker's peak RSS (VmHWM) per account is the Kafka runtime's memory per account: each of the 8 partition
engines holds every person (people are broadcast), so it is far above the core engine's (bench/state_bench.py).

Results: bench/results/recovery.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from itertools import chain, islice
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import loadavg, log, machine, median, write_result  # noqa: E402
from bench.kafka_bench import broker, proc_stats, publish_fast  # noqa: E402

PARTITIONS = 8
LATENESS = timedelta(minutes=5)
MARK_EVERY = 1000  # input lines between the simulated router's watermarks
TAIL = 50_000
TRIGGER = 200  # sign-ins published at each start, so every work partition gets a message


class Router:
    """The work messages one router holding every input partition would write for these input lines."""

    def __init__(self, partitions: int, lanes: list[str], lateness: timedelta) -> None:
        self.partitions, self.lanes, self.lateness = partitions, lanes, lateness
        self.top: datetime | None = None
        self.lines = 0

    def work(self, lines: Iterable[bytes]) -> Iterator[tuple[int, bytes, bytes]]:
        """(partition, key, value) in the order the router would send them, watermarks included."""
        from streams.routing import DeadLetter, route

        for raw in lines:
            outcome = route(raw, self.partitions)
            if isinstance(outcome, DeadLetter):
                raise SystemExit(f"bench input rejected: {outcome.reason}")
            t = outcome.event.time
            self.top = t if self.top is None or t > self.top else self.top
            for p in outcome.partitions:
                yield p, outcome.key, raw
            self.lines += 1
            if self.lines % MARK_EVERY == 0:
                yield from self.mark()

    def mark(self) -> Iterator[tuple[int, bytes, bytes]]:
        from streams.routing import watermark_message

        if self.top is not None:
            value = watermark_message(self.top - self.lateness, self.lanes)
            for p in range(self.partitions):
                yield p, b"", value


def register_then(register: dict[str, Any], events: Iterator[bytes], n: int) -> Iterator[bytes]:
    """The register as directory.* event lines at the first event's time, then the first n lines of `events`."""
    from bench.state_bench import _register_events

    first = next(events)
    at = datetime.fromisoformat(json.loads(first)["time"])
    for chunk in _register_events(register, at):
        yield from (ev.model_dump_json().encode() for ev in chunk)
    yield first
    yield from islice(events, n - 1)


def produce(bootstrap: str, topic: str, items: Iterable[tuple[int, bytes, bytes]]) -> int:
    """Send (partition, key, value) to the topic in order (acks=all) and wait for every ack."""
    return publish_fast(bootstrap, ((topic, key, value, p) for p, key, value in items), timeout=3600.0)


def commit_ends(bootstrap: str, group: str, topic: str, partitions: int) -> dict[int, int]:
    """Set the group's committed offsets on the topic to its end offsets (no member of the group may be running)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition  # type: ignore[import-untyped, unused-ignore]

    async def run() -> dict[int, int]:
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
        await consumer.start()
        try:
            tps = [TopicPartition(topic, p) for p in range(partitions)]
            consumer.assign(tps)
            ends = await consumer.end_offsets(tps)
            await consumer.commit({tp: end for tp, end in ends.items()})
            return {tp.partition: int(end) for tp, end in ends.items()}
        finally:
            await consumer.stop()

    return asyncio.run(run())


def start_and_wait(d: Any, lines: list[bytes], env: dict[str, str], timeout: float) -> dict[str, Any]:
    """Spawn one worker, publish the trigger lines, wait until every partition is rebuilt; stop it."""
    d.extra_env = env
    spawned = time.perf_counter()
    port = d.start_worker()
    up = time.perf_counter()
    d.publish(lines)
    try:
        while True:
            if time.perf_counter() - spawned > timeout:
                raise SystemExit(f"not rebuilt in {timeout:.0f}s\n{d.log_tail(port)}")
            if d.workers[port].poll() is not None:
                raise SystemExit(f"worker exited {d.workers[port].returncode}\n{d.log_tail(port)}")
            try:
                health = d.health(port)
            except OSError:  # a busy worker (a fold batch, a snapshot) may answer /health late
                time.sleep(0.2)
                continue
            if len(health["rebuilt"]) == PARTITIONS:
                done = time.perf_counter()
                break
            time.sleep(0.2)
        stats = proc_stats(d.workers[port].pid)
    finally:
        proc = d.workers[port]
        try:
            d.kill(port, signal.SIGTERM)
        except subprocess.TimeoutExpired:  # busy (a rebalance can start the rebuilds again): the log is the truth
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
    rebuilt = health["rebuilt"]
    return {
        "seconds": done - spawned,
        "startup_seconds": up - spawned,
        "rebuild_seconds_sum": sum(r["seconds"] for r in rebuilt.values()),
        "messages_folded": sum(r["messages"] for r in rebuilt.values()),
        "from_snapshot": sum(1 for r in rebuilt.values() if r["snapshot_offset"] is not None),
        "rebuilt": rebuilt,
        "worker": stats,
        "load": loadavg(),
    }


def snapshot_bytes(data_dir: Path) -> int:
    return sum(p.stat().st_size for p in data_dir.rglob("*") if p.is_file() and not p.name.endswith(".prev"))


def fold_ab(accounts: int, per_account: int, runs: int) -> dict[str, Any]:
    """One partition's rebuild in this process, as `PartitionEngine.rebuild` does it (the cyclic collector paused)
    against the same messages applied one by one with the collector running: alternating, `runs` each."""
    import gc

    from monitor.demo import mix_directory, mix_lines
    from monitor.policy import load_profile
    from streams.partition import PartitionEngine
    from streams.routing import lane_name
    from streams.topics import INPUTS

    register = mix_directory(accounts=accounts, people=3 * accounts)
    lines = mix_lines(per_account * accounts, accounts=accounts, people=3 * accounts)
    lanes = [lane_name(f"bench.{t}", p) for t in INPUTS for p in range(PARTITIONS)]
    work = Router(PARTITIONS, lanes, LATENESS).work(register_then(register, lines, per_account * accounts))
    msgs = [(i, value) for i, value in enumerate(v for p, _, v in work if p == 0)]
    profile = load_profile("default")
    paused: list[float] = []
    running: list[float] = []
    for i in range(2 * runs):
        pe = PartitionEngine(profile, profile.parameters, 0, PARTITIONS, lanes)
        gc.collect()
        started = time.perf_counter()
        if i % 2 == 0:
            pe.rebuild(msgs)
            paused.append(time.perf_counter() - started)
        else:
            for offset, raw in msgs:
                pe.apply(raw, offset)
            running.append(time.perf_counter() - started)
        del pe
    p, r = median(paused), median(running)
    log(f"  fold of partition 0 ({len(msgs):,} messages) in process: collector paused {p:.1f}s, running {r:.1f}s")
    return {"messages": len(msgs), "paused_seconds": p, "running_seconds": r, "running_vs_paused": r / p,
            "runs": {"paused": paused, "running": running}}  # fmt: skip


def run(accounts: int, runs: int, per_account: int, timeout: float) -> dict[str, Any]:
    from bench.state_bench import _organisation_only
    from monitor.demo import mix_directory, mix_lines
    from streams.routing import lane_name
    from streams.topics import INPUTS, WORK
    from tests.streams.harness import Deployment

    people = 3 * accounts
    out: dict[str, Any] = {"machine": machine(), "accounts": accounts, "people": people,
                           "events_per_account": per_account, "partitions": PARTITIONS, "tail_events": TAIL,
                           "load_start": loadavg()}  # fmt: skip
    out["fold_in_process"] = fold_ab(accounts, per_account, runs)
    register = mix_directory(accounts=accounts, people=people)
    stream = mix_lines(per_account * accounts + TAIL + TRIGGER * (2 * runs + 1), accounts=accounts, people=people)
    with broker() as (bootstrap, described), tempfile.TemporaryDirectory(prefix="monitor-recovery-") as tmp:
        out["broker"] = described
        org = Path(tmp) / "organisation.yaml"
        org.write_text(_organisation_only(register))
        d = Deployment(bootstrap, Path(tmp), partitions=PARTITIONS, lateness=f"{int(LATENESS.total_seconds())}s",
                       directory=org)  # fmt: skip
        s = d.settings
        lanes = [lane_name(s.topic(t), p) for t in INPUTS for p in range(PARTITIONS)]
        router = Router(PARTITIONS, lanes, LATENESS)

        started = time.perf_counter()
        base = register_then(register, stream, per_account * accounts)
        n = produce(bootstrap, s.topic(WORK), chain(router.work(base), router.mark()))
        ends = commit_ends(bootstrap, s.app_id, s.topic(WORK), PARTITIONS)
        out["work_messages"] = n
        out["build_seconds"] = time.perf_counter() - started
        log(f"recovery: {accounts:,} accounts: {n:,} work messages written in {out['build_seconds']:.0f}s, ends {ends}")

        # a rebuild over this many messages writes a snapshot (as at 100k accounts with the default 50,000)
        env = {"MONITOR_LOGLEVEL": "info", "MONITOR_SNAPSHOT_EVERY": str(min(50_000, min(ends.values())))}
        first_run = start_and_wait(d, [next(stream) for _ in range(TRIGGER)], env, timeout)
        out["first_start"] = first_run
        out["snapshot_bytes"] = snapshot_bytes(s.data_dir / "snapshots")
        log(f"  first start (whole log, snapshots written): {first_run['seconds']:.1f}s, "
            f"peak RSS {first_run['worker'].get('peak_rss_mib', 0):,.0f} MiB, "
            f"snapshots {out['snapshot_bytes'] / 2**20:,.0f} MiB")  # fmt: skip

        tail_lines = (next(stream) for _ in range(TAIL))
        tail = produce(bootstrap, s.topic(WORK), chain(router.work(tail_lines), router.mark()))
        out["tail_work_messages"] = tail
        snap_runs: list[dict[str, Any]] = []
        full_runs: list[dict[str, Any]] = []
        for i in range(runs):
            commit_ends(bootstrap, s.app_id, s.topic(WORK), PARTITIONS)
            snap_runs.append(start_and_wait(d, [next(stream) for _ in range(TRIGGER)], env, timeout))
            commit_ends(bootstrap, s.app_id, s.topic(WORK), PARTITIONS)
            full_runs.append(start_and_wait(d, [next(stream) for _ in range(TRIGGER)],
                                            {**env, "MONITOR_SNAPSHOT_EVERY": "0"}, timeout))  # fmt: skip
            log(f"  run {i + 1}/{runs}: snapshot + tail {snap_runs[-1]['seconds']:.1f}s "
                f"({snap_runs[-1]['from_snapshot']} of {PARTITIONS} from a snapshot), "
                f"whole log {full_runs[-1]['seconds']:.1f}s, peak RSS "
                f"{snap_runs[-1]['worker'].get('peak_rss_mib', 0):,.0f} / "
                f"{full_runs[-1]['worker'].get('peak_rss_mib', 0):,.0f} MiB")  # fmt: skip
        d.stop_all()
    s_sec, f_sec = median([r["seconds"] for r in snap_runs]), median([r["seconds"] for r in full_runs])
    rss = median([r["worker"].get("peak_rss_mib", 0) for r in full_runs])
    out.update({
        "runs": runs,
        "snapshot_seconds": s_sec,
        "full_log_seconds": f_sec,
        "full_vs_snapshot": f_sec / s_sec,
        "snapshot_rebuild_seconds_sum": median([r["rebuild_seconds_sum"] for r in snap_runs]),
        "full_rebuild_seconds_sum": median([r["rebuild_seconds_sum"] for r in full_runs]),
        "startup_seconds": median([r["startup_seconds"] for r in snap_runs + full_runs]),
        "worker_peak_rss_mib": rss,
        "worker_peak_rss_bytes_per_account": rss * 2**20 / accounts,
        "snapshot_bytes_per_account": out["snapshot_bytes"] / accounts,
        "raw": {"snapshot": snap_runs, "full_log": full_runs},
        "load_end": loadavg(),
    })  # fmt: skip
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--accounts", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--per-account", type=int, default=3, help="events per account (default 3)")
    ap.add_argument("--timeout", type=float, default=1800.0, help="seconds one start may take (default 1800)")
    a = ap.parse_args()
    result = run(a.accounts, a.runs, a.per_account, a.timeout)
    path = write_result("recovery", result)
    log(f"recovery: snapshot + tail {result['snapshot_seconds']:.1f}s, whole log {result['full_log_seconds']:.1f}s "
        f"(x {result['full_vs_snapshot']:.1f}); worker peak RSS {result['worker_peak_rss_bytes_per_account']:,.0f} "
        f"B/account; written to {path}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
