"""Benchmark `monitor replay` against bare `json.loads` of the same lines, in the same run.

    .venv/bin/python bench/replay_bench.py                 # demo month + 1M-event mix, 3 runs each
    .venv/bin/python bench/replay_bench.py --mix 200000    # a smaller mix
    .venv/bin/python bench/replay_bench.py --profile       # also: where the time goes (cProfile)

Each measurement runs in a fresh subprocess pinned to one core (when the OS allows) so peak memory
(max RSS) is its own; the figure is the median of the runs. Results go to bench/results/replay.json.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import RESULTS, machine, peak_rss_kib, pin  # noqa: E402

__all__ = ["RESULTS", "compare", "machine", "measure", "profile"]


def measure(kind: str, events: Path, directory: Path) -> dict[str, Any]:
    """One timed pass in this process: 'parse' (json.loads per line), 'replay' (the whole engine) or 'warm'.

    'warm' is 'replay' with the register folded before the clock starts (the engine advanced to the first
    event's time, untimed; its own time is reported as fold_seconds), so the figure is the cost per event alone.
    """
    pin()
    if kind == "parse":
        started = time.perf_counter()
        n = 0
        with open(events, "rb") as fh:
            for line in fh:
                if line.strip():
                    json.loads(line)
                    n += 1
        seconds = time.perf_counter() - started
        alerts = 0
    else:
        from monitor.directory import load_directory
        from monitor.policy import load_profile
        from monitor.replay import build_engine, read_lines, replay

        engine = build_engine(load_profile("default"), load_directory(directory))
        fold = 0.0
        if kind == "warm":
            from datetime import datetime

            with open(events, "rb") as fh:
                first = datetime.fromisoformat(json.loads(fh.readline())["time"])
            t = time.perf_counter()
            engine.advance(first)
            fold = time.perf_counter() - t
        deadlines = _time_deadlines(engine)
        started = time.perf_counter()
        with open(events, "rb") as fh:
            result = replay(engine, read_lines([(str(events), fh)]))
        seconds = time.perf_counter() - started
        n = result.lines
        alerts = len(engine.alerts)
        assert result.rejected_total == 0, result.rejected[:3]
    return {
        "kind": kind,
        "events": n,
        "seconds": seconds,
        "max_rss_kib": peak_rss_kib(),
        "alerts": alerts,
        **({"fold_seconds": fold} if kind == "warm" else {}),
        **({"deadline_seconds": deadlines[0]} if kind != "parse" else {}),
    }


def _time_deadlines(engine: Any) -> list[float]:
    """Time the engine's passes over due deadlines (timers) from now on: [seconds so far], updated in place.

    A register's own deadlines (the grace after registration: six register checks per account) fall due an hour
    of event time after its fold, inside the timed events, so they are shown apart from the cost per event.
    """
    spent = [0.0]
    fire = engine._fire_timers

    def timed(t: Any, *, inclusive: bool) -> None:
        started = time.perf_counter()
        try:
            fire(t, inclusive=inclusive)
        finally:
            spent[0] += time.perf_counter() - started

    setattr(engine, "_fire_timers", timed)  # noqa: B010 (mypy forbids assigning to a method)
    return spent


def _run(kind: str, events: Path, directory: Path) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--one", kind, str(events), str(directory)],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    return dict(json.loads(out.stdout))


def compare(name: str, events: Path, directory: Path, runs: int, kind: str = "replay") -> dict[str, Any]:
    """Interleave baseline and replay runs so both see the same machine conditions."""
    parse, rep = [], []
    for i in range(runs):
        parse.append(_run("parse", events, directory))
        rep.append(_run(kind, events, directory))
        print(
            f"  {name} run {i + 1}/{runs}: parse {parse[-1]['seconds']:.2f}s, replay {rep[-1]['seconds']:.2f}s",
            file=sys.stderr,
        )
    p = statistics.median(r["seconds"] for r in parse)
    r = statistics.median(x["seconds"] for x in rep)
    n = rep[0]["events"]
    return {
        "input": name,
        "events": n,
        "runs": runs,
        "parse_seconds": p,
        "replay_seconds": r,
        "parse_events_per_s": n / p,
        "replay_events_per_s": n / r,
        "replay_cost_vs_parse": r / p,
        "replay_max_rss_mib": statistics.median(x["max_rss_kib"] for x in rep) / 1024,
        "parse_max_rss_mib": statistics.median(x["max_rss_kib"] for x in parse) / 1024,
        "alerts": rep[0]["alerts"],
        "kind": kind,
        **({"fold_seconds": statistics.median(x["fold_seconds"] for x in rep)} if kind == "warm" else {}),
        "deadline_seconds": statistics.median(x["deadline_seconds"] for x in rep),
        # the replay less its passes over due deadlines (timers), against parsing
        "events_cost_vs_parse": statistics.median(x["seconds"] - x["deadline_seconds"] for x in rep) / p,
        "parse_runs_seconds": [x["seconds"] for x in parse],
        "replay_runs_seconds": [x["seconds"] for x in rep],
    }


def profile(events: Path, directory: Path, limit: int = 25) -> dict[str, Any]:
    """cProfile of one replay: the functions where the time goes, by own time and by cumulative time."""
    from monitor.directory import load_directory
    from monitor.policy import load_profile
    from monitor.replay import build_engine, read_lines, replay

    engine = build_engine(load_profile("default"), load_directory(directory))
    prof = cProfile.Profile()
    with open(events, "rb") as fh:
        prof.enable()
        replay(engine, read_lines([(str(events), fh)]))
        prof.disable()
    stats = pstats.Stats(prof)
    total = max(getattr(stats, "total_tt", 0.0), 1e-9)
    rows = []
    for (file, line, func), (_cc, nc, tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        where = Path(file)
        with_root = where.is_relative_to(ROOT) and not where.is_relative_to(ROOT / ".venv")
        short = where.relative_to(ROOT).as_posix() if with_root else (where.name if file != "~" else "")
        rows.append({"function": f"{short}:{line}({func})" if short else func, "calls": nc, "own_s": tt, "cum_s": ct})
    texts = {}
    for key in ("tottime", "cumulative"):
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).sort_stats(key).print_stats(limit)
        texts[key] = buf.getvalue()
    return {
        "total_seconds": total,
        "by_own": sorted(rows, key=lambda r: -r["own_s"])[:limit],
        "by_cumulative": sorted(rows, key=lambda r: -r["cum_s"])[:limit],
        "text": texts,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--one", nargs=3, metavar=("KIND", "EVENTS", "DIRECTORY"), help=argparse.SUPPRESS)
    ap.add_argument("--mix", type=int, default=1_000_000, help="events in the synthetic mix (default: 1M)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--profile", action="store_true", help="print a cProfile of the mix replay")
    args = ap.parse_args()
    if args.one:
        print(json.dumps(measure(args.one[0], Path(args.one[1]), Path(args.one[2]))))
        return 0

    from monitor.demo import mix_directory, mix_lines, write_demo

    results: dict[str, Any] = {"machine": machine(), "comparisons": []}
    with tempfile.TemporaryDirectory(prefix="monitor-bench-") as tmp:
        d = Path(tmp)
        print("generating the demo month and the mix ...", file=sys.stderr)
        demo_dir, demo_events = write_demo(d / "demo")
        mix_dir, mix_events = d / "mix-directory.yaml", d / "mix.jsonl"
        mix_dir.write_text(yaml.safe_dump(mix_directory(), sort_keys=False))
        with open(mix_events, "wb") as fh:
            for line in mix_lines(args.mix):
                fh.write(line + b"\n")
        results["comparisons"].append(compare("demo month", demo_events, demo_dir, args.runs))
        results["comparisons"].append(compare(f"mix {args.mix:,} (90% sign-ins)", mix_events, mix_dir, args.runs))
        if args.profile:
            print(profile(mix_events, mix_dir)["text"]["tottime"])
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "replay.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"{'input':28} {'events':>10} {'parse ev/s':>12} {'replay ev/s':>12} {'cost x parse':>13} {'replay RSS':>11}")
    for c in results["comparisons"]:
        print(
            f"{c['input']:28} {c['events']:>10,} {c['parse_events_per_s']:>12,.0f} {c['replay_events_per_s']:>12,.0f} "
            f"{c['replay_cost_vs_parse']:>13.2f} {c['replay_max_rss_mib']:>9.0f}MiB"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
