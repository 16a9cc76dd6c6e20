"""Reading and writing a register's YAML, beside JSON and PyYAML's own libyaml loader and dumper, in the same run.

    PYTHONPATH=. .venv/bin/python bench/register_bench.py                       # 10k and 100k accounts, 3 runs
    PYTHONPATH=. .venv/bin/python bench/register_bench.py --accounts 1000 --runs 1

Input for N accounts: `mix_directory(accounts=N, people=3N)` written by `dump_yaml`. Each run is a fresh
subprocess pinned to one core that times, in turn:

- read: `json.loads` of the same data as JSON (the floor), `yaml.load(Loader=CSafeLoader)` (what `load_yaml` did
  before it built plain documents from libyaml's events), `load_yaml`, and `parse_directory` (`load_yaml` plus
  the schema's validation and the duplicate checks: what a start, an import or the CLI's check pays);
- write: `json.dumps`, `yaml.dump(Dumper=CSafeDumper)` and `dump_yaml` (an export).

The figure is the median of the runs. Results go to bench/results/register.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import log, machine, pin  # noqa: E402


def measure(path: Path) -> dict[str, float]:
    """Seconds for each way of reading and writing the register at `path`, in this process, one after another."""
    import yaml

    from monitor.directory import parse_directory
    from monitor.yamlfile import dump_yaml, load_yaml

    pin()
    text = path.read_text(encoding="utf-8")
    data = load_yaml(text)
    as_json = json.dumps(data)
    reads = {
        "json.loads": lambda: json.loads(as_json),
        "CSafeLoader": lambda: yaml.load(text, Loader=yaml.CSafeLoader),
        "load_yaml": lambda: load_yaml(text),
        "parse_directory": lambda: parse_directory(text),
    }
    writes = {
        "json.dumps": lambda: json.dumps(data),
        "CSafeDumper": lambda: yaml.dump(data, Dumper=yaml.CSafeDumper, sort_keys=False, allow_unicode=True),
        "dump_yaml": lambda: dump_yaml(data),
    }
    out: dict[str, float] = {}
    for name, fn in (*reads.items(), *writes.items()):
        started = time.perf_counter()
        fn()
        out[name] = time.perf_counter() - started
    if load_yaml(text) != yaml.load(text, Loader=yaml.CSafeLoader) or dump_yaml(data) != text:
        raise SystemExit("load_yaml or dump_yaml differs from PyYAML's own on this register")
    return out


def run(sizes: list[int], runs: int) -> dict[str, Any]:
    """Every size, `runs` subprocesses each, and the medians with their ratios."""
    from monitor.demo import mix_directory
    from monitor.yamlfile import dump_yaml

    results = []
    with tempfile.TemporaryDirectory(prefix="monitor-register-bench-") as tmp:
        for n in sizes:
            path = Path(tmp) / f"register-{n}.yaml"
            path.write_text(dump_yaml(mix_directory(accounts=n, people=3 * n)), encoding="utf-8")
            raw = []
            for i in range(runs):
                done = subprocess.run([sys.executable, __file__, "--one", str(path)], check=True,
                                      capture_output=True, text=True, cwd=ROOT)  # fmt: skip
                raw.append(json.loads(done.stdout))
                log(f"  register {n:,} run {i + 1}/{runs}: " + ", ".join(f"{k} {v:.2f}s" for k, v in raw[-1].items()))
            med = {k: statistics.median(r[k] for r in raw) for k in raw[0]}
            results.append({
                "accounts": n,
                "people": 3 * n,
                "bytes": path.stat().st_size,
                "seconds": med,
                "load_yaml_vs_loader": med["load_yaml"] / med["CSafeLoader"],
                "load_yaml_vs_json": med["load_yaml"] / med["json.loads"],
                "dump_yaml_vs_dumper": med["dump_yaml"] / med["CSafeDumper"],
                "dump_yaml_vs_json": med["dump_yaml"] / med["json.dumps"],
                "raw": raw,
            })  # fmt: skip
    return {"machine": machine(), "runs": runs, "sizes": results}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--one", metavar="REGISTER", help=argparse.SUPPRESS)
    ap.add_argument("--accounts", type=int, nargs="+", default=[10_000, 100_000], help="register sizes")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(measure(Path(args.one))))
        return 0
    from bench.common import write_result

    log(f"wrote {write_result('register', run(args.accounts, args.runs))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
