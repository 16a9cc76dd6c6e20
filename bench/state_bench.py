"""State per account: memory of the core engine, on-disk size of the embedded monitor, and time to recover.

    PYTHONPATH=. .venv/bin/python bench/state_bench.py                        # 10k, 100k, 1M accounts
    PYTHONPATH=. .venv/bin/python bench/state_bench.py --accounts 2000 --runs 1 --recovery 2000

Input for N accounts: `mix_directory(accounts=N, people=3N)` (written as JSON, so the 1M register needs no
YAML parser) and `mix_lines(K*N, accounts=N, people=3N)` (K events per account, default 3; 90% sign-ins).

(a) Core engine, RSS: each measurement is a fresh process. The baseline loads the register JSON into plain
    dicts; the engine process loads the same JSON, validates it (`Directory`), builds the engine
    (`build_engine`, the register preloaded as directory.* events), and replays the K*N events, which folds
    the register first. Both drop everything but their result, run a full collection and `malloc_trim`, and
    report VmRSS minus their VmRSS before loading (after the same imports). Per account = delta / N. The
    engine also reports its own snapshot size (pickled and compressed) and how many event digests its
    duplicate memory holds.
(b) Embedded monitor (service.embedded.EmbeddedMonitor over SQLite), on disk: a new data folder started
    with the organisation only; the register arrives as directory.* events (what `monitor directory import`
    makes), then the K*N events in batches of 5,000; then a snapshot. Per account: the snapshot blob
    (`store.get_snapshot()`) and the whole SQLite file (log, alerts, audit, snapshot).
Recovery (for --recovery N): after the snapshot, a tail of events (50,000, the default `snapshot_every`) is
    taken and the monitor closed without a new snapshot, as after a crash. A copy of the file has its
    snapshot deleted. Then, interleaved, --runs fresh processes each time `EmbeddedMonitor(...)` opening
    (i) the file with the snapshot (restore + fold the tail) and (ii) the copy (fold the whole log).

Results: bench/results/state.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import (  # noqa: E402
    log,
    machine,
    median,
    mem_available_kib,
    peak_rss_kib,
    pin,
    rss_kib,
    run_json,
    write_result,
)

SCRIPT = str(Path(__file__).resolve())
BATCH = 5000
TAIL = 50_000
MAX_SHARE = 0.6  # a size is skipped when its estimated peak is over this share of the memory available


# ----- in the measuring subprocess ------------------------------------------------------------------------------


def _imports() -> None:
    """The same imports in every kind of measurement, so the RSS before loading is comparable."""
    import monitor.directory
    import monitor.policy
    import monitor.replay  # noqa: F401
    import schemas.directory  # noqa: F401
    import service.embedded  # noqa: F401


def measure_dicts(directory: Path) -> dict[str, Any]:
    _imports()
    before = rss_kib()
    data = json.loads(directory.read_bytes())
    after = rss_kib()
    n = len(data["accounts"])
    return {"kind": "dicts", "accounts": n, "rss_delta_kib": after - before, "peak_rss_kib": peak_rss_kib()}


def measure_engine(directory: Path, events: Path, snapshot: Path | None = None) -> dict[str, Any]:
    _imports()
    from monitor.policy import load_profile
    from monitor.replay import build_engine, read_lines, replay
    from schemas.directory import Directory

    before = rss_kib()
    t0 = time.perf_counter()
    d = Directory.model_validate(json.loads(directory.read_bytes()))
    n = len(d.accounts)
    engine = build_engine(load_profile("default"), d)
    del d
    t1 = time.perf_counter()
    with open(events, "rb") as fh:
        result = replay(engine, read_lines([(str(events), fh)]))
    t2 = time.perf_counter()
    assert result.rejected_total == 0, result.rejected[:3]
    after = rss_kib()
    peak = peak_rss_kib()
    blob = engine.snapshot()
    if snapshot is not None:
        snapshot.write_bytes(blob)
    snap = len(blob)
    del blob
    return {
        "kind": "engine",
        "accounts": n,
        "people": len(engine.people),
        "events": result.lines,
        "alerts": len(engine.alerts),
        "seen_digests": len(engine._seen),
        "rss_delta_kib": after - before,
        "rss_before_kib": before,
        "peak_rss_kib": peak,
        "snapshot_bytes": snap,
        "load_seconds": t1 - t0,
        "replay_seconds": t2 - t1,
    }


def measure_restored(directory: Path, snapshot: Path) -> dict[str, Any]:
    """RSS of an engine restored from the folded engine's snapshot: the live state without the garbage of folding."""
    _imports()
    from monitor.policy import load_profile
    from monitor.replay import build_engine

    before = rss_kib()
    engine = build_engine(load_profile("default"), None)
    engine.restore(snapshot.read_bytes())
    after = rss_kib()
    return {"kind": "restored", "accounts": len(engine.accounts), "rss_delta_kib": after - before}


def _organisation_only(directory: dict[str, Any]) -> str:
    import yaml

    return str(yaml.safe_dump({"organisation": directory["organisation"], "people": [], "accounts": []}))


def _register_events(data: dict[str, Any], at: datetime, chunk: int = 20_000) -> Any:
    """directory_events of the register, in chunks (people first, then accounts), to keep memory bounded."""
    from monitor.directory import directory_events
    from schemas.directory import Directory

    org = data["organisation"]
    for key in ("people", "accounts"):
        items = data[key]
        for i in range(0, len(items), chunk):
            part = {"organisation": org, "people": [], "accounts": []}
            part[key] = items[i : i + chunk]
            yield list(directory_events(Directory.model_validate(part), at))


def _db_bytes(db: Path) -> int:
    return sum(p.stat().st_size for p in db.parent.glob(db.name + "*"))


def build_embedded(directory: Path, events: Path, db: Path, tail: int) -> dict[str, Any]:
    """A data folder for the register and events; its sizes; optionally a tail after the snapshot."""
    from monitor.policy import load_profile
    from service.embedded import EmbeddedMonitor

    data = json.loads(directory.read_bytes())
    n = len(data["accounts"])
    with open(events, "rb") as fh:
        first = json.loads(fh.readline())["time"]
    at = datetime.fromisoformat(first) - timedelta(seconds=1)
    t0 = time.perf_counter()
    m = EmbeddedMonitor(db, load_profile("default"), _organisation_only(data), snapshot_every=0)
    register = 0
    for evs in _register_events(data, at):
        r = m.submit_events(evs, "bench", "directory.imported")
        register += r.accepted
    del data
    t1 = time.perf_counter()
    taken = 0
    with open(events, "rb") as fh:
        lines = [ln.strip() for ln in fh if ln.strip()]
    main = lines[: len(lines) - tail] if tail else lines
    for i in range(0, len(main), BATCH):
        r = m.submit([("bench", i + j + 1, raw) for j, raw in enumerate(main[i : i + BATCH])], "bench")
        taken += r.accepted
        assert not r.rejected, r.rejected[:3]
    t2 = time.perf_counter()
    m.snapshot()
    t3 = time.perf_counter()
    m.store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    snap = m.store.get_snapshot()
    assert snap is not None
    out: dict[str, Any] = {
        "kind": "embedded",
        "accounts": n,
        "register_events": register,
        "events": taken,
        "log_entries": m.store.last_seq(),
        "snapshot_bytes": len(snap[2]),
        "db_bytes": _db_bytes(db),
        "alerts": len(m.engine.alerts),
        "register_seconds": t1 - t0,
        "events_seconds": t2 - t1,
        "snapshot_seconds": t3 - t2,
        "peak_rss_kib": peak_rss_kib(),
    }
    if tail:
        rest = lines[len(lines) - tail :]
        for i in range(0, len(rest), BATCH):
            m.submit([("tail", i + j + 1, raw) for j, raw in enumerate(rest[i : i + BATCH])], "bench")
        out["tail_entries"] = m.store.last_seq() - snap[0]
        out["log_entries"] = m.store.last_seq()
    m.close(snapshot=False)  # as a crash would leave it: the snapshot is behind the log
    return out


def open_embedded(db: Path) -> dict[str, Any]:
    """Time one start of the embedded monitor on an existing data folder (then close it without a snapshot)."""
    from monitor.policy import load_profile
    from service.embedded import EmbeddedMonitor

    t0 = time.perf_counter()
    m = EmbeddedMonitor(db, load_profile("default"), None)
    seconds = time.perf_counter() - t0
    from service.embedded import CODE_VERSION

    snap = m.store.get_snapshot()
    out = {
        "kind": "open",
        "snapshot_code_matches": snap is not None and snap[1] == CODE_VERSION,
        "seconds": seconds,
        "from_snapshot_at": m._snapshot_seq,
        "log_entries": m.store.last_seq(),
        "accounts": len(m.engine.accounts),
        "peak_rss_kib": peak_rss_kib(),
    }
    m.close(snapshot=False)
    return out


# ----- the driver -----------------------------------------------------------------------------------------------


def write_inputs(d: Path, n: int, per_account: int, tail: int) -> tuple[Path, Path]:
    from monitor.demo import mix_directory, mix_lines

    directory, events = d / f"register-{n}.json", d / f"events-{n}.jsonl"
    directory.write_text(json.dumps(mix_directory(accounts=n, people=3 * n)))
    with open(events, "wb") as fh:
        for line in mix_lines(per_account * n + tail, accounts=n, people=3 * n):
            fh.write(line + b"\n")
    return directory, events


def bench_size(d: Path, n: int, runs: int, per_account: int, recovery: bool, embedded: bool) -> dict[str, Any]:
    tail = TAIL if recovery else 0
    started = time.perf_counter()
    directory, events = write_inputs(d, n, per_account, tail)
    log(f"  {n:,} accounts: inputs written in {time.perf_counter() - started:.0f}s")
    # the engine sees only the K*N events (not the recovery tail): a file of its own
    core_events = events
    if tail:
        core_events = d / f"events-{n}-core.jsonl"
        with open(events, "rb") as src, open(core_events, "wb") as dst:
            for i, line in enumerate(src):
                if i >= per_account * n:
                    break
                dst.write(line)
    base: list[dict[str, Any]] = []
    eng: list[dict[str, Any]] = []
    res: list[dict[str, Any]] = []
    emb: list[dict[str, Any]] = []
    snapfile = d / f"engine-{n}.snapshot"
    for i in range(runs):
        base.append(run_json([SCRIPT, "--one", "dicts", str(directory)]))
        eng.append(run_json([SCRIPT, "--one", "engine", str(directory), str(core_events), str(snapfile)]))
        res.append(run_json([SCRIPT, "--one", "restored", str(directory), str(snapfile)]))
        msg = (
            f"  {n:,} accounts run {i + 1}/{runs}: dicts {base[-1]['rss_delta_kib'] / 1024:.0f} MiB, engine "
            f"{eng[-1]['rss_delta_kib'] / 1024:.0f} MiB, restored {res[-1]['rss_delta_kib'] / 1024:.0f} MiB"
        )
        if embedded:
            db = d / f"embedded-{n}-{i}" / "monitor.db"
            emb.append(run_json([SCRIPT, "--one", "embedded", str(directory), str(events), str(db), str(tail)]))
            e = emb[-1]
            msg += f", embedded snapshot {e['snapshot_bytes'] / 2**20:.0f} MiB, file {e['db_bytes'] / 2**20:.0f} MiB"
            if i < runs - 1 or not recovery:
                shutil.rmtree(db.parent)
        log(msg)
    snapfile.unlink()
    b = median([x["rss_delta_kib"] for x in base]) * 1024
    e = median([x["rss_delta_kib"] for x in eng]) * 1024
    out: dict[str, Any] = {
        "accounts": n,
        "people": 3 * n,
        "events": eng[0]["events"],
        "runs": runs,
        "dicts_rss_bytes": b,
        "engine_rss_bytes": e,
        "dicts_bytes_per_account": b / n,
        "engine_bytes_per_account": e / n,
        "engine_vs_dicts": e / b,
        "restored_rss_bytes": median([x["rss_delta_kib"] for x in res]) * 1024,
        "restored_bytes_per_account": median([x["rss_delta_kib"] for x in res]) * 1024 / n,
        "engine_peak_rss_mib": median([x["peak_rss_kib"] for x in eng]) / 1024,
        "engine_start_rss_mib": median([x["rss_before_kib"] for x in eng]) / 1024,
        "engine_snapshot_bytes_per_account": median([x["snapshot_bytes"] for x in eng]) / n,
        "engine_seen_digests": eng[0]["seen_digests"],
        "engine_alerts": eng[0]["alerts"],
        "engine_load_seconds": median([x["load_seconds"] for x in eng]),
        "engine_replay_seconds": median([x["replay_seconds"] for x in eng]),
        "raw": {"dicts": base, "engine": eng, "restored": res, "embedded": emb},
    }
    if emb:
        out.update({
            "embedded_runs": len(emb),
            "embedded_snapshot_bytes_per_account": median([x["snapshot_bytes"] for x in emb]) / n,
            "embedded_db_bytes_per_account": median([x["db_bytes"] for x in emb]) / n,
            "embedded_log_entries": emb[0]["log_entries"],
            "embedded_register_seconds": median([x["register_seconds"] for x in emb]),
            "embedded_events_seconds": median([x["events_seconds"] for x in emb]),
            "embedded_alerts": emb[0]["alerts"],
        })  # fmt: skip
    if recovery and embedded:
        db = d / f"embedded-{n}-{runs - 1}" / "monitor.db"
        full = d / f"embedded-{n}-full" / "monitor.db"
        full.parent.mkdir()
        shutil.copy2(db, full)
        conn = sqlite3.connect(full)
        conn.execute("DELETE FROM snapshot")
        conn.commit()
        conn.execute("VACUUM")
        conn.close()
        snap_runs, full_runs = [], []
        for i in range(runs):
            snap_runs.append(run_json([SCRIPT, "--one", "open", str(db)]))
            full_runs.append(run_json([SCRIPT, "--one", "open", str(full)]))
            log(
                f"  recovery {n:,} accounts run {i + 1}/{runs}: snapshot + tail {snap_runs[-1]['seconds']:.1f}s, "
                f"whole log {full_runs[-1]['seconds']:.1f}s"
            )
        s, f = median([x["seconds"] for x in snap_runs]), median([x["seconds"] for x in full_runs])
        out["recovery"] = {
            "accounts": n,
            "log_entries": snap_runs[0]["log_entries"],
            "tail_entries": snap_runs[0]["log_entries"] - snap_runs[0]["from_snapshot_at"],
            "snapshot_seconds": s,
            "full_log_seconds": f,
            "full_vs_snapshot": f / s,
            "runs": {"snapshot": snap_runs, "full_log": full_runs},
        }
        shutil.rmtree(db.parent)
        shutil.rmtree(full.parent)
    directory.unlink()
    events.unlink()
    if core_events != events:
        core_events.unlink()
    return out


def run(
    accounts: list[int],
    runs: int,
    per_account: int = 3,
    recovery: int | None = 100_000,
    once_above: int = 500_000,
    embedded_max: int = 100_000,
) -> dict[str, Any]:
    sizes: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="monitor-state-") as tmp:
        for n in accounts:
            r = runs if n <= once_above else 1
            if sizes:  # do not risk the machine (others may work on it): the peak grows about linearly
                prev = sizes[-1]
                start = prev["engine_start_rss_mib"]  # the interpreter and imports, which do not grow
                estimate = (start + (prev["engine_peak_rss_mib"] - start) * n / prev["accounts"]) * 1024
                available = mem_available_kib()
                if estimate > MAX_SHARE * available:
                    why = (f"estimated engine peak {estimate / 2**20:.1f} GiB (from {prev['accounts']:,}) is over "
                           f"{MAX_SHARE:.0%} of the memory available ({available / 2**20:.1f} GiB)")  # fmt: skip
                    log(f"state: {n:,} accounts SKIPPED: {why}")
                    skipped.append({"accounts": n, "reason": why})
                    continue
                log(f"state: {n:,} accounts: estimated engine peak {estimate / 2**20:.1f} GiB of "
                    f"{available / 2**20:.1f} GiB available")  # fmt: skip
            log(f"state: {n:,} accounts, {3 * n:,} people, {per_account} events per account, {r} run(s) ...")
            sizes.append(bench_size(Path(tmp), n, r, per_account, recovery == n, n <= embedded_max))
    out: dict[str, Any] = {
        "machine": machine(),
        "events_per_account": per_account,
        "once_above": once_above,
        "embedded_max": embedded_max,
        "sizes": sizes,
        "skipped": skipped,
    }
    rec = [s["recovery"] for s in sizes if "recovery" in s]
    if rec:
        out["recovery"] = rec[0]
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--one", nargs="+", help=argparse.SUPPRESS)
    ap.add_argument("--accounts", default="10000,100000,1000000", help="comma-separated register sizes")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--per-account", type=int, default=3, help="events per account (default 3)")
    ap.add_argument("--recovery", type=int, default=100_000, help="register size to time recovery at (0: none)")
    ap.add_argument("--once-above", type=int, default=500_000, help="one run only for registers above this")
    ap.add_argument("--embedded-max", type=int, default=100_000, help="the embedded monitor only up to this size")
    args = ap.parse_args()
    if args.one:
        pin(last=True)
        kind, *rest = args.one
        kinds = {"dicts": measure_dicts, "engine": measure_engine, "restored": measure_restored, "open": open_embedded}
        fn = kinds.get(kind)
        if kind == "embedded":
            result = build_embedded(Path(rest[0]), Path(rest[1]), Path(rest[2]), int(rest[3]))
        elif fn is not None:
            result = fn(*[Path(x) for x in rest])
        else:
            ap.error(f"unknown kind {kind}")
        print(json.dumps(result))
        return 0
    sizes = [int(x) for x in args.accounts.split(",") if x]
    result = run(sizes, args.runs, args.per_account, args.recovery or None, args.once_above, args.embedded_max)
    write_result("state", result)
    print(json.dumps({k: v for k, v in result.items() if k != "sizes"}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
