"""Run every benchmark, write bench/results/<part>.json, and regenerate the results section of bench/README.md.

    PYTHONPATH=. .venv/bin/python bench/run_all.py              # everything, full sizes, 3 runs (about an hour)
    PYTHONPATH=. .venv/bin/python bench/run_all.py --quick      # smoke run: small sizes, 1 run
    PYTHONPATH=. .venv/bin/python bench/run_all.py --parts replay,growth,profile    # some parts only
    PYTHONPATH=. .venv/bin/python bench/run_all.py --readme     # only regenerate the README from the JSON

Parts, in the order they run (the CPU-only ones first, Kafka last): replay, growth, profile, register (reading
and writing a register's YAML beside JSON and PyYAML's own libyaml loader and dumper), state, kafka
(one worker vs the aiokafka and Faust passthroughs, latency at half load, and one vs two workers: kafka.json and
scaling.json), recovery (a restarted Kafka worker rebuilding 100k accounts, with and without snapshots). Every
figure is the median of --runs runs with its baseline measured in the same run; the README table is rendered from
whatever JSON is in bench/results/, each with the date of the run it came from.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import RESULTS, kafka_brokers, loadavg, log, machine, median, write_result  # noqa: E402

PARTS = ("replay", "growth", "profile", "register", "state", "kafka", "recovery")
README = ROOT / "bench" / "README.md"
START, END = "<!-- results:start -->", "<!-- results:end -->"

FULL = {
    "runs": 3,
    "mix": 1_000_000,
    "growth_events": 200_000,
    "growth_accounts": (1_000, 10_000),
    "profile_events": 200_000,
    "state_accounts": (10_000, 100_000, 1_000_000),
    "recovery": 100_000,
    "register_accounts": (10_000, 100_000),
    "kafka_events": 50_000,
    "latency_seconds": 30.0,
}
QUICK = {
    "runs": 1,
    "mix": 20_000,
    "growth_events": 10_000,
    "growth_accounts": (100, 1_000),
    "profile_events": 10_000,
    "state_accounts": (1_000, 3_000),
    "recovery": 3_000,
    "register_accounts": (1_000,),
    "kafka_events": 5_000,
    "latency_seconds": 10.0,
}


def _state() -> dict[str, Any]:
    return {"loadavg": loadavg(), "kafka_brokers": kafka_brokers()}


def _write_mix(path: Path, n: int, accounts: int = 1000) -> None:
    from monitor.demo import mix_lines

    with open(path, "wb") as fh:
        for line in mix_lines(n, accounts=accounts, people=3 * accounts):
            fh.write(line + b"\n")


def _write_directory(path: Path, accounts: int, factor: int = 1) -> None:
    import yaml

    from monitor.demo import padded_mix_directory

    register = padded_mix_directory(accounts=accounts, people=3 * accounts, factor=factor)
    path.write_text(yaml.safe_dump(register, sort_keys=False))


def part_replay(cfg: dict[str, Any], tmp: Path) -> dict[str, Any]:
    from bench.replay_bench import compare
    from monitor.demo import write_demo

    before = _state()
    demo_dir, demo_events = write_demo(tmp / "demo")
    mix_dir, mix_events = tmp / "mix-1000.yaml", tmp / f"mix-{cfg['mix']}.jsonl"
    _write_directory(mix_dir, 1000)
    _write_mix(mix_events, cfg["mix"])
    out = {
        "runs": cfg["runs"],
        "comparisons": [
            compare("demo month (seed 7)", demo_events, demo_dir, cfg["runs"]),
            compare(f"mix {cfg['mix']:,} (90% sign-ins, 1,000 accounts)", mix_events, mix_dir, cfg["runs"]),
        ],
    }
    return {**out, "machine_state_start": before, "machine_state_end": _state()}


def _growth(small: dict[str, Any], large: dict[str, Any]) -> dict[str, Any]:
    """Two `compare` results side by side, with how much the cost per event and the peak RSS grew."""
    return {
        "small": small,
        "large": large,
        "cost_ratio_growth": large["replay_cost_vs_parse"] / small["replay_cost_vs_parse"],
        "events_cost_ratio_growth": large["events_cost_vs_parse"] / small["events_cost_vs_parse"],
        "rss_growth": large["replay_max_rss_mib"] / small["replay_max_rss_mib"],
    }


def part_growth(cfg: dict[str, Any], tmp: Path, replay: dict[str, Any] | None) -> dict[str, Any]:
    """Per-event cost (replay / json.loads, same run) as the events grow 10x and as the register grows 10x."""
    from bench.replay_bench import compare

    before = _state()
    runs, big = cfg["runs"], cfg["mix"]
    mix_dir = tmp / "mix-1000.yaml"
    if not mix_dir.exists():
        _write_directory(mix_dir, 1000)
    big_events = tmp / f"mix-{big}.jsonl"
    if not big_events.exists():
        _write_mix(big_events, big)
    small_events = tmp / f"mix-{big // 10}.jsonl"
    _write_mix(small_events, big // 10)  # the first tenth of the same stream
    small = compare(f"mix {big // 10:,}", small_events, mix_dir, runs)
    reuse = [c for c in (replay or {}).get("comparisons", []) if c["events"] == big and "mix" in c["input"]]
    large = reuse[0] if reuse else compare(f"mix {big:,}", big_events, mix_dir, runs)
    events_growth = {**_growth(small, large), "large_reused_from_replay": bool(reuse)}
    n = cfg["growth_events"]
    dir_runs = []
    for accounts in cfg["growth_accounts"]:
        d, e = tmp / f"dir-{accounts}.yaml", tmp / f"dir-{accounts}-{n}.jsonl"
        _write_directory(d, accounts)
        _write_mix(e, n, accounts=accounts)
        dir_runs.append(compare(f"{accounts:,} accounts, {n:,} events", e, d, runs, kind="warm"))
    a, b = dir_runs
    # The same events as the smaller register's, under a register 10x its size that they never name: only the
    # register's size differs (above, the events also spread over 10x the accounts, which raises more alerts).
    accounts = cfg["growth_accounts"][0]
    padded = tmp / f"dir-{accounts}-padded.yaml"
    _write_directory(padded, accounts, factor=cfg["growth_accounts"][1] // accounts)
    c = compare(f"{accounts:,} + {cfg['growth_accounts'][1] - accounts:,} accounts no event names, {n:,} events",
                tmp / f"dir-{accounts}-{n}.jsonl", padded, runs, kind="warm")  # fmt: skip
    return {
        "runs": runs,
        "events_10x": events_growth,
        "directory_10x": _growth(a, b),
        "register_10x_same_events": _growth(a, c),
        "machine_state_start": before,
        "machine_state_end": _state(),
    }


def part_profile(cfg: dict[str, Any], tmp: Path) -> dict[str, Any]:
    from bench.common import pin
    from bench.replay_bench import profile

    mix_dir, events = tmp / "mix-1000.yaml", tmp / f"profile-{cfg['profile_events']}.jsonl"
    if not mix_dir.exists():
        _write_directory(mix_dir, 1000)
    _write_mix(events, cfg["profile_events"])
    pin()
    before = _state()
    p = profile(events, mix_dir, limit=25)
    return {"events": cfg["profile_events"], **p, "machine_state_start": before, "machine_state_end": _state()}


def part_register(cfg: dict[str, Any]) -> dict[str, Any]:
    from bench.register_bench import run

    before = _state()
    r = run(list(cfg["register_accounts"]), cfg["runs"])
    return {**r, "machine_state_start": before, "machine_state_end": _state()}


def part_state(cfg: dict[str, Any]) -> dict[str, Any]:
    from bench.state_bench import run

    before = _state()
    r = run(list(cfg["state_accounts"]), cfg["runs"], recovery=cfg["recovery"])
    return {**r, "machine_state_start": before, "machine_state_end": _state()}


def part_recovery(cfg: dict[str, Any]) -> dict[str, Any]:
    from bench.recovery_bench import run

    before = _state()
    r = run(cfg["recovery"], cfg["runs"], per_account=3, timeout=1800.0)
    return {**r, "machine_state_start": before, "machine_state_end": _state()}


def part_kafka(cfg: dict[str, Any]) -> dict[str, Any]:
    from bench.kafka_bench import run

    return run(cfg["kafka_events"], cfg["runs"], cfg["latency_seconds"], scaling_runs=cfg["runs"])


# ----- the README section ---------------------------------------------------------------------------------------


def _load(name: str) -> dict[str, Any] | None:
    path = RESULTS / f"{name}.json"
    if not path.exists():
        return None
    data = dict(json.loads(path.read_text()))
    data.setdefault("written_at", "date not recorded")
    return data


def _n(v: float | None, spec: str = ",.0f") -> str:
    return "n/a" if v is None else format(v, spec)


def _load_note(r: dict[str, Any]) -> str:
    a, b = r.get("machine_state_start") or {}, r.get("machine_state_end") or {}
    # most parts record the machine's state at both ends; the recovery part records the load averages alone
    la = (a.get("loadavg") or r.get("load_start") or [None])[0]
    lb = (b.get("loadavg") or r.get("load_end") or [None])[0]
    if la is None and lb is None:
        return "load not recorded (run outside run_all.py)"
    return f"load average {_n(la, '.2f')} at the start, {_n(lb, '.2f')} at the end"


def _kept(title: str, name: str) -> list[str]:
    """The README's current block under `### {title}`, for a part whose JSON is not here (results are not committed)."""
    text = README.read_text() if README.exists() else ""
    if START not in text or END not in text:
        return []
    lines = text[text.index(START) : text.index(END)].splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith(f"### {title} (")), None)
    if start is None:
        return []
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("### ")), len(lines))
    block = [line for line in lines[start:end] if not line.startswith(("**Smoke run only", "(Kept from"))]
    while block and not block[-1].strip():
        block.pop()
    body = block[1:]
    while body and not body[0].strip():
        body.pop(0)
    return [
        block[0],
        "",
        f"(Kept from that earlier run, on the machine of that day: its `bench/results/{name}.json` was not "
        "here when this section was regenerated.)",
        "",
        *body,
        "",
    ]


def render() -> str:
    out: list[str] = [START, "", "<!-- generated by bench/run_all.py from bench/results/*.json: do not edit -->", ""]
    anyr = next((r for r in (_load(p) for p in (*PARTS, "scaling")) if r), None)
    if anyr is None:
        return "\n".join([*out, "No results yet: run `bench/run_all.py`.", "", END])
    m = anyr.get("machine") or machine()
    out += [
        f"Machine: {m.get('cpu')}, {m.get('cores')} cores, {m.get('memory_gib')} GiB, Python {m.get('python')}, "
        f"{m.get('platform')}.",
        "",
        *_render_targets(),
    ]
    r = _load("replay")
    if r:
        out += [
            f"### Replay ({r['written_at']}, median of {r['runs']}, {_load_note(r)})",
            "",
            "| input | events | json.loads ev/s | replay ev/s | replay cost × parsing | replay peak RSS |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for c in r["comparisons"]:
            out.append(
                f"| {c['input']} | {c['events']:,} | {c['parse_events_per_s']:,.0f} | {c['replay_events_per_s']:,.0f}"
                f" | {c['replay_cost_vs_parse']:.2f} | {c['replay_max_rss_mib']:.0f} MiB |"
            )
        out.append("")
    if not r:
        out += _kept("Replay", "replay")
    g = _load("growth")
    if g:
        out += [
            f"### Growth ({g['written_at']}, median of {g['runs']}, {_load_note(g)})",
            "",
            "Cost per event = replay time / `json.loads` time of the same lines in the same run. Register growth "
            "runs with the register folded before the clock starts (its fold time shown apart). Deadlines: the "
            "time spent on timers falling due inside the replay, among them the register's own (six checks per "
            "account at the end of its hour of grace); the last column is the cost ratio without them.",
            "",
            "| grows | from | to | cost × parsing, from | to | cost ratio (to / from) | replay µs per event from → to "
            "| alerts from → to | peak RSS from → to | deadlines from → to | cost ratio without deadlines |",
            "|---|---|---|---:|---:|---:|---|---|---|---|---:|",
        ]
        for label, key in (
            ("events 10×", "events_10x"),
            ("register 10×, events spread over it", "directory_10x"),
            ("register 10×, the same events", "register_10x_same_events"),
        ):
            if key not in g:
                continue
            x = g[key]
            a, b = x["small"], x["large"]
            extra = ""
            if "fold_seconds" in a:
                extra = f" (fold {a['fold_seconds']:.2f}s → {b['fold_seconds']:.2f}s)"
            out.append(
                f"| {label} | {a['input']} | {b['input']} | {a['replay_cost_vs_parse']:.2f} | "
                f"{b['replay_cost_vs_parse']:.2f} | {x['cost_ratio_growth']:.2f} | "
                f"{1e6 / a['replay_events_per_s']:.1f} → {1e6 / b['replay_events_per_s']:.1f} | "
                f"{a['alerts']:,} → {b['alerts']:,} | "
                f"{a['replay_max_rss_mib']:.0f} → {b['replay_max_rss_mib']:.0f} MiB{extra} | "
                + (
                    f"{a['deadline_seconds']:.2f}s → {b['deadline_seconds']:.2f}s | "
                    f"{x['events_cost_ratio_growth']:.2f} |"
                    if "events_cost_ratio_growth" in x
                    else "not measured | |"
                )
            )
        out.append("")
    if not g:
        out += _kept("Growth", "growth")
    p = _load("profile")
    if p:
        out += [
            f"### Profile ({p['written_at']}: cProfile of one replay of the {p['events']:,}-event mix, "
            f"{p['total_seconds']:.1f}s under the profiler)",
            "",
            "| by own time | own s | calls | | by cumulative time | cum s |",
            "|---|---:|---:|---|---|---:|",
        ]
        for own, cum in zip(p["by_own"][:12], p["by_cumulative"][:12], strict=False):
            out.append(
                f"| `{own['function']}` | {own['own_s']:.2f} | {own['calls']:,} | | `{cum['function']}` | "
                f"{cum['cum_s']:.2f} |"
            )
        out.append("")
    if not p:
        out += _kept("Profile", "profile")
    out += _render_register()
    s = _load("state")
    if s:
        out += [
            f"### State per account ({s['written_at']}, {s['events_per_account']} events per account, {_load_note(s)})",
            "",
            "| accounts (people) | runs | plain dicts RSS/acct | engine after folding RSS/acct | × dicts | "
            "engine peak RSS | engine restored RSS/acct | engine snapshot/acct | embedded snapshot/acct | "
            "embedded SQLite file/acct |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for x in s["sizes"]:
            emb = (
                (f"{x['embedded_snapshot_bytes_per_account']:,.0f} B", f"{x['embedded_db_bytes_per_account']:,.0f} B")
                if "embedded_snapshot_bytes_per_account" in x
                else ("not run", "not run")
            )
            out.append(
                f"| {x['accounts']:,} ({x['people']:,}) | {x['runs']} | {x['dicts_bytes_per_account']:,.0f} B | "
                f"{x['engine_bytes_per_account']:,.0f} B | {x['engine_vs_dicts']:.1f} | "
                f"{x['engine_peak_rss_mib']:,.0f} MiB | {x['restored_bytes_per_account']:,.0f} B | "
                f"{x['engine_snapshot_bytes_per_account']:,.0f} B | "
                f"{emb[0]} | {emb[1]} |"
            )
        for sk in s.get("skipped", []):
            out.append(f"| {sk['accounts']:,} | 0 | skipped: {sk['reason']} | | | | | | | |")
        rec = s.get("recovery")
        if rec:
            out += [
                "",
                f"Recovery, embedded monitor, {rec['accounts']:,} accounts, {rec['log_entries']:,} log entries: "
                f"snapshot + {rec['tail_entries']:,}-entry tail **{rec['snapshot_seconds']:.1f}s**, whole log "
                f"**{rec['full_log_seconds']:.1f}s** (× {rec['full_vs_snapshot']:.1f}); median of "
                f"{len(rec['runs']['snapshot'])}.",
            ]
        out.append("")
    if not s:
        out += _kept("State per account", "state")
    k = _load("kafka")
    if k:
        st = [x.get("machine_state", {}) for x in (*k.get("worker_runs", []), *k.get("passthrough_runs", []))]
        loads = [x["loadavg"][0] for x in st if x.get("loadavg")]
        if k.get("runs", 0) < 3 or k.get("quick"):
            out += [
                f"**Smoke run only ({k['events']:,} events, {k.get('runs')} run): not a measurement; the register's "
                "fixed cost dominates at this size.**",
                "",
            ]
        out += [
            f"### Through Kafka ({k['written_at']}, {k['broker']}, {k['events']:,} events, median of {k['runs']}; "
            f"1-minute load {_n(min(loads) if loads else None, '.2f')}–{_n(max(loads) if loads else None, '.2f')} "
            "at the starts of the runs)",
            "",
            "| | events/s | runs (s) |",
            "|---|---:|---|",
        ]
        for name, key in (
            ("one worker (route + engine)", "worker"),
            ("aiokafka passthrough", "passthrough"),
            ("Faust passthrough (one agent, the worker's app options)", "faust_passthrough"),
        ):
            if f"{key}_runs" in k:
                runs = ", ".join("FAIL" if "error" in x else f"{x['seconds']:.1f}" for x in k[f"{key}_runs"])
                out.append(f"| {name} | {_n(k[f'{key}_events_per_s'])} | {runs} |")
        out.append(f"| worker / passthrough | {_n(k['worker_vs_passthrough'], '.3f')} | |")
        if "faust_vs_passthrough" in k:
            out.append(f"| Faust passthrough / passthrough | {_n(k['faust_vs_passthrough'], '.3f')} | |")
            out.append(f"| worker / Faust passthrough | {_n(k['worker_vs_faust_passthrough'], '.3f')} | |")
        for x in k.get("worker_runs", []):
            par = x.get("replay_parity")
            if par:
                out += [
                    "",
                    f"Replay parity (run 1): {par['live_alerts']:,} final alerts live, {par['replay_alerts']:,} from "
                    f"`monitor replay --lateness {k['lateness']}`, {par['differ']} differ.",
                ]
        lat = k.get("latency")
        if lat and "error" not in lat and not lat["alerts_topic_end_to_end"].get("alert_versions"):
            out += [
                "",
                f"Latency at {lat['achieved_rate']:,.0f} events/s: no alert versions came out of the paced feed.",
            ]
        elif lat and "error" not in lat:
            e = lat["alerts_topic_end_to_end"]
            out += [
                "",
                f"Latency at {lat['achieved_rate']:,.0f} events/s (half the median worker rate, target "
                f"{lat['target_rate']:,}/s), produced → alert on the alerts topic, {e.get('alert_versions', 0):,} "
                f"alert versions: p50 {_n(e.get('p50'), '.2f')}s, p99 {_n(e.get('p99'), '.2f')}s, max "
                f"{_n(e.get('max'), '.2f')}s"
                + (
                    f", median of {len(lat['runs'])} runs (p99 per run: "
                    + ", ".join(f"{_n(x.get('p99'), '.2f')}s" for x in lat["runs"])
                    + ")"
                    if lat.get("runs")
                    else ""
                )
                + f" (lateness {lat.get('lateness', k['lateness'])}: "
                + (
                    "no reorder wait; each event waits for a router's watermark)."
                    if lat.get("lateness") == "0s"
                    else "includes the reorder wait)."
                )
                + (
                    f" Measured on its own at {lat['separate_run_at']} (`kafka_bench.py --latency-only`), with the "
                    "code of that time; the throughput runs above are older."
                    if lat.get("separate_run_at")
                    else ""
                )
                + (
                    " Sends that blocked the paced producer over "
                    f"{lat['producer_stalls']['over_s']:g} s, per run: "
                    + ", ".join(str(x.get("producer_stalls", "?")) for x in lat["runs"])
                    + "."
                    if "producer_stalls" in lat and lat.get("runs")
                    else ""
                ),
            ]
        elif lat:
            out += ["", "Latency: FAILED (see kafka.json)."]
        sc = k.get("scaling")
        if sc:
            out += [
                "",
                f"Scaling, {sc['events']:,} events, 8 partitions, median of {sc['runs']}: one worker "
                f"{_n(sc['one_events_per_s'])} events/s, two workers {_n(sc['two_events_per_s'])} events/s: "
                f"**× {_n(sc['two_vs_one'], '.2f')}** (target ≥ 1.8)."
                + _cores_sentence(sc.get("cores_used") or {}, (k.get("machine") or {}).get("cores")),
            ]
        out.append("")
    if not k:
        out += _kept("Through Kafka", "kafka")
    out += _render_recovery()
    return "\n".join([*out, END])


def _cores_sentence(c: dict[str, float | None], cores: int | None) -> str:
    """What the scaling runs kept busy while the backlog drained (medians), if the results say."""
    if c.get("two_workers") is None or c.get("two_machine") is None:
        return ""
    return (
        f" Cores kept busy while the backlog drained (median): one worker {_n(c.get('one_workers'), '.2f')} "
        f"(the whole machine {_n(c.get('one_machine'), '.2f')}); two workers {_n(c.get('two_workers'), '.2f')} "
        f"(the whole machine {_n(c.get('two_machine'), '.2f')} of {cores or '?'})."
    )


def _verdict(values: list[float | None], ok: Any) -> str:
    """'met' when every figure passes `ok`, 'missed' when none does, else how many of them pass."""
    values = [v for v in values if v is not None]
    if not values:
        return "not measured"
    passed = sum(1 for v in values if ok(v))
    return "met" if passed == len(values) else "missed" if not passed else f"{passed} of {len(values)} met"


def _kept_targets(labels: tuple[str, ...]) -> list[tuple[str, str, str]]:
    """The rows of the README's current targets table whose target starts with one of `labels` (verdict unmarked)."""
    text = README.read_text() if README.exists() else ""
    if START not in text or END not in text:
        return []
    rows = []
    for line in text[text.index(START) : text.index(END)].splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        if line.startswith("| ") and len(cells) == 3 and cells[0].startswith(labels):
            rows.append((cells[0], cells[1], cells[2].removesuffix(" (kept)")))
    return rows


def _render_targets() -> list[str]:
    """The issue's targets beside this Results section's figures, each judged from the JSON (no figure typed in)."""
    rows: list[tuple[str, str, str]] = []
    r, k, s, rec = _load("replay"), _load("kafka"), _load("state"), _load("recovery")
    if r:
        cs = r["comparisons"]
        rows.append(
            (
                "Replay ≥ 100,000 events/s on one core",
                "; ".join(f"{c['input'].split(' (')[0]}: {c['replay_events_per_s']:,.0f}" for c in cs),
                _verdict([c["replay_events_per_s"] for c in cs], lambda v: v >= 100_000),
            )
        )
        rows.append(
            (
                "Replay ≤ 5 × the cost of parsing (`json.loads`)",
                "; ".join(f"{c['input'].split(' (')[0]}: {c['replay_cost_vs_parse']:.2f}" for c in cs),
                _verdict([c["replay_cost_vs_parse"] for c in cs], lambda v: v <= 5),
            )
        )
    if k:
        rows.append(
            (
                "One Kafka worker ≥ 0.5 of the aiokafka passthrough",
                f"{_n(k.get('worker_vs_passthrough'), '.3f')} "
                f"(Faust alone, forwarding only: {_n(k.get('faust_vs_passthrough'), '.3f')})",
                _verdict([k.get("worker_vs_passthrough")], lambda v: v >= 0.5),
            )
        )
        e = (k.get("latency") or {}).get("alerts_topic_end_to_end") or {}
        if e.get("p99") is not None:
            rows.append(
                (
                    "Event to alert p99 < 1 s at half the maximum load",
                    f"{e['p99']:.2f} s",
                    _verdict([e["p99"]], lambda v: v < 1),
                )
            )
        sc = k.get("scaling")
        if sc:
            rows.append(
                (
                    "Two workers ≥ 1.8 × one (8 partitions)",
                    f"{sc['two_vs_one']:.2f} on {(k.get('machine') or {}).get('cores', '?')} cores",
                    _verdict([sc["two_vs_one"]], lambda v: v >= 1.8),
                )
            )
    if s:
        sizes = s["sizes"]
        rows.append(
            (
                "≤ 2 KB per account in memory (engine RSS after folding)",
                "; ".join(f"{x['accounts']:,}: {x['engine_bytes_per_account']:,.0f} B" for x in sizes),
                _verdict([x["engine_bytes_per_account"] for x in sizes], lambda v: v <= 2048),
            )
        )
        disk = [(f"engine snapshot at {x['accounts']:,}", x["engine_snapshot_bytes_per_account"]) for x in sizes]
        disk += [
            (f"embedded snapshot at {x['accounts']:,}", x["embedded_snapshot_bytes_per_account"])
            for x in sizes
            if "embedded_snapshot_bytes_per_account" in x
        ]
        if rec:
            disk.append((f"Kafka worker's snapshots at {rec['accounts']:,}", rec["snapshot_bytes_per_account"]))
        else:  # the recovery part's figure, as the README showed it
            kept = _kept_targets(("≤ 2 KB per account on disk",))
            found = re.search(r"(Kafka worker's snapshots at [\d,]+): ([\d,]+) B", kept[0][1]) if kept else None
            if found:
                disk.append((f"{found[1]} (kept)", float(found[2].replace(",", ""))))
        rows.append(
            (
                "≤ 2 KB per account on disk (the state's snapshots)",
                "; ".join(f"{name}: {v:,.0f} B" for name, v in disk),
                _verdict([v for _, v in disk], lambda v: v <= 2048),
            )
        )
    if rec:
        rows.append(
            (
                f"A restarted Kafka worker recovers {rec['accounts']:,} accounts in < 30 s",
                f"from its snapshots {rec['snapshot_seconds']:.1f} s (whole log, snapshots off: "
                f"{rec['full_log_seconds']:.1f} s)",
                _verdict([rec["snapshot_seconds"]], lambda v: v < 30),
            )
        )
    # A part whose JSON is not here (results are not committed) keeps its rows as the README showed them.
    for part, labels in (
        (r, ("Replay ≥", "Replay ≤")),
        (k, ("One Kafka worker", "Event to alert", "Two workers")),
        (s, ("≤ 2 KB per account in memory", "≤ 2 KB per account on disk")),
        (rec, ("A restarted Kafka worker",)),
    ):
        if not part:
            rows += [(t, f, f"{v} (kept)") for t, f, v in _kept_targets(labels)]
    if not rows:
        return []
    smoke = [name for name, x in (("replay", r), ("kafka", k), ("state", s), ("recovery", rec)) if x and x.get("quick")]
    return [
        "### Targets at a glance",
        "",
        *([f"**Smoke runs ({', '.join(smoke)}) below: their verdicts are not measurements.**", ""] if smoke else []),
        'The issue\'s targets against the figures below, judged from the same JSON files ("kept": a part not '
        "rerun, as its section below was left). Growth has no fixed "
        "target (see its table: cost per event with a register ten times larger, and without the register's own "
        "deadlines).",
        "",
        "| target | figures | |",
        "|---|---|---|",
        *(f"| {t} | {f} | {v} |" for t, f, v in rows),
        "",
    ]


def _render_register() -> list[str]:
    r = _load("register")
    if not r:
        return _kept("Register files", "register")
    out = [
        f"### Register files ({r['written_at']}, median of {r['runs']}, {_load_note(r)})",
        "",
        "Reading and writing `mix_directory(N, 3N)` as YAML, beside the same data as JSON and PyYAML's own libyaml "
        "loader and dumper (what `load_yaml` and `dump_yaml` called before). `parse_directory` is `load_yaml` "
        "plus validation: what a start, an import and the CLI's check pay.",
        "",
        "| accounts | file | json.loads | CSafeLoader | load_yaml | parse_directory | load_yaml × loader | "
        "load_yaml × json | json.dumps | CSafeDumper | dump_yaml | dump_yaml × dumper |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for x in r["sizes"]:
        sec = x["seconds"]
        out.append(
            f"| {x['accounts']:,} | {x['bytes'] / 2**20:,.1f} MiB | {sec['json.loads']:.2f} s | "
            f"{sec['CSafeLoader']:.2f} s | {sec['load_yaml']:.2f} s | {sec['parse_directory']:.2f} s | "
            f"**{x['load_yaml_vs_loader']:.2f}** | {x['load_yaml_vs_json']:.1f} | {sec['json.dumps']:.2f} s | "
            f"{sec['CSafeDumper']:.2f} s | {sec['dump_yaml']:.2f} s | **{x['dump_yaml_vs_dumper']:.2f}** |"
        )
    return [*out, ""]


def _render_recovery() -> list[str]:
    r = _load("recovery")
    if not r:
        return _kept("Recovery through Kafka", "recovery")
    out = [
        f"### Recovery through Kafka ({r['written_at']}, {r['broker']}, {r['accounts']:,} accounts, "
        f"{r['people']:,} people, {r['events_per_account']} events per account, {r['partitions']} partitions, "
        f"{'median of ' + str(r['runs']) if r['runs'] > 1 else 'one run'}; {_load_note(r)})",
        "",
        f"A restarted worker rebuilding all {r['partitions']} partitions from a work log of "
        f"{r['work_messages'] + r['tail_work_messages']:,} messages; spawned until every partition is rebuilt "
        "(target: under 30 s).",
        "",
        "| start | seconds | rebuilds (sum) | messages folded | worker peak RSS |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, key in (("snapshots + tail", "snapshot"), ("whole log (snapshots off)", "full_log")):
        runs = r["raw"][key]
        out.append(
            f"| {name} | {median([x['seconds'] for x in runs]):.1f} | "
            f"{median([x['rebuild_seconds_sum'] for x in runs]):.1f} | {runs[0]['messages_folded']:,} | "
            f"{_n(median([x['worker'].get('peak_rss_mib', 0) for x in runs]))} MiB |"
        )
    f, fold = r["first_start"], r["fold_in_process"]
    out += [
        "",
        f"Whole log / snapshots: **× {r['full_vs_snapshot']:.1f}**. First start (whole log, then a snapshot of each "
        f"partition): {f['seconds']:.1f} s. Snapshots on disk {r['snapshot_bytes'] / 2**20:,.0f} MiB "
        f"({r['snapshot_bytes_per_account']:,.0f} B per account); worker peak RSS "
        f"{r['worker_peak_rss_bytes_per_account']:,.0f} B per account (every partition engine holds every person).",
        "",
        f"One partition's fold in process ({fold['messages']:,} messages): collector running "
        f"{fold['running_seconds']:.1f} s, paused (as rebuilds now do) {fold['paused_seconds']:.1f} s: "
        f"× {fold['running_vs_paused']:.2f}.",
        "",
    ]
    return out


def update_readme() -> None:
    text = README.read_text()
    section = render()
    if START in text and END in text:
        a, b = text.index(START), text.index(END) + len(END)
        text = text[:a] + section + text[b:]
    else:
        text = text.rstrip("\n") + "\n\n## Results\n\n" + section + "\n"
    README.write_text(text)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes, one run (a smoke test)")
    ap.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated, from {', '.join(PARTS)}")
    ap.add_argument("--readme", action="store_true", help="only regenerate the README section from the JSON")
    args = ap.parse_args()
    if not args.readme:
        cfg = QUICK if args.quick else FULL
        parts = [p for p in args.parts.split(",") if p]
        unknown = set(parts) - set(PARTS)
        if unknown:
            ap.error(f"unknown parts {sorted(unknown)}")
        replay: dict[str, Any] | None = None
        with tempfile.TemporaryDirectory(prefix="monitor-bench-") as tmp:
            for part in PARTS:  # always in this order: CPU-only first, Kafka last
                if part not in parts:
                    continue
                started = time.perf_counter()
                log(f"== {part} ({'quick' if args.quick else 'full'}) ==")
                if part == "replay":
                    replay = part_replay(cfg, Path(tmp))
                    result = replay
                elif part == "growth":
                    result = part_growth(cfg, Path(tmp), replay)
                elif part == "profile":
                    result = part_profile(cfg, Path(tmp))
                elif part == "register":
                    result = part_register(cfg)
                elif part == "state":
                    result = part_state(cfg)
                elif part == "recovery":
                    result = part_recovery(cfg)
                else:
                    result = part_kafka(cfg)
                    if "scaling" in result:
                        write_result("scaling", {"machine": result["machine"], **result["scaling"]})
                result["quick"] = args.quick
                result["part_seconds"] = time.perf_counter() - started
                log(f"   {part}: {result['part_seconds']:.0f}s -> {write_result(part, result)}")
    update_readme()
    log(f"updated {README}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
