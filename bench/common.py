"""Helpers shared by the benchmarks: the machine, memory of this process, running one measurement in a subprocess."""

from __future__ import annotations

import contextlib
import ctypes
import gc
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"


def machine() -> dict[str, Any]:
    """CPU model, cores, memory, Python and OS of this machine."""
    cpu = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_gib = None
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_gib = round(int(line.split()[1]) / 1024 / 1024, 1)
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": mem_gib,
    }


def loadavg() -> list[float]:
    """The 1, 5 and 15 minute load averages (other work on the machine skews every figure)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def kafka_brokers() -> int:
    """How many Kafka broker processes run on this machine (anyone's)."""
    try:
        out = subprocess.run(["pgrep", "-f", "kafka.Kafka"], capture_output=True, text=True, check=False)
    except OSError:
        return 0
    return len(out.stdout.split())


def pin(last: bool = False) -> None:
    """Pin this process to one core (the first, or the last) when the OS allows: single-threaded figures per core."""
    if hasattr(os, "sched_setaffinity"):
        with contextlib.suppress(OSError):
            cores = os.sched_getaffinity(0)
            os.sched_setaffinity(0, {max(cores) if last else min(cores)})


def mem_available_kib() -> int:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1])
    return 0


def peak_rss_kib() -> int:
    """This process's peak resident set (VmHWM). Not ru_maxrss: Linux carries that over from the parent."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def rss_kib() -> int:
    """This process's resident set now (VmRSS), after a full collection and giving free heap back to the OS."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def run_json(args: Sequence[str], timeout: float | None = None) -> dict[str, Any]:
    """Run `python ARGS...` from the repo root and return the JSON its last stdout line holds."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    try:
        out = subprocess.run(
            [sys.executable, *args], check=True, capture_output=True, text=True, cwd=ROOT, env=env, timeout=timeout
        )
    except subprocess.CalledProcessError as exc:
        raise RuntimeError(f"{' '.join(args[:3])} failed:\n{exc.stderr[-3000:]}") from None
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def write_result(name: str, data: dict[str, Any]) -> Path:
    """bench/results/NAME.json, with the machine and its load."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    data = {"name": name, "written_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **data}
    data.setdefault("machine", machine())
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(data, indent=2) + "\n")
    return path
