"""Soak (not in the default run: `scripts/test -m soak -s`): the embedded monitor for ten minutes at half its
maximum throughput, through the API, with flat memory. MONITOR_SOAK_SECONDS changes the length."""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import time
from itertools import islice
from pathlib import Path

import httpx
import pytest
import yaml

from monitor.demo import mix_directory, mix_lines
from tests.service.test_embedded import _free_port, _health

pytestmark = pytest.mark.soak
BATCH = 500


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def test_half_load_for_ten_minutes_with_flat_memory(tmp_path: Path) -> None:
    seconds = float(os.environ.get("MONITOR_SOAK_SECONDS", "600"))
    directory = tmp_path / "mix.yaml"
    directory.write_text(yaml.safe_dump(mix_directory(1000, 3000)))
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
    made = subprocess.run(
        [sys.executable, "-m", "monitor.cli", "token", "create", "soak", "--role", "admin", "--data-dir", str(data)],
        capture_output=True, text=True, env=env, check=True,
    )  # fmt: skip
    token = made.stdout.strip()
    port = _free_port()
    log = tmp_path / "monitor.log"
    cmd = [sys.executable, "-m", "monitor.cli", "run", "--data-dir", str(data), "--directory", str(directory),
           "--web-port", str(port), "--lateness", "1m", "--tick-seconds", "1"]  # fmt: skip
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env={**env, "MONITOR_LOGLEVEL": "warning"})
    client = httpx.Client(
        base_url=f"http://127.0.0.1:{port}",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"},
        timeout=60,
    )
    lines = mix_lines(100_000_000, seed=5)

    def post(n: int) -> None:
        body = b"\n".join(islice(lines, n))
        r = client.post("/api/events", content=body)
        assert r.status_code == 202, r.text[:300]

    try:
        deadline = time.monotonic() + 60
        while _health(port) is None:
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the monitor did not start"
            time.sleep(0.2)
        started, sent = time.monotonic(), 0
        while time.monotonic() - started < 30:  # the maximum: as fast as one client can send
            post(BATCH)
            sent += BATCH
        peak = sent / (time.monotonic() - started)
        rate = peak / 2
        samples: list[tuple[float, float]] = []
        soak_start = time.monotonic()
        sent = 0
        while (elapsed := time.monotonic() - soak_start) < seconds:
            due = int(rate * elapsed) - sent
            if due > 0:
                post(min(due, 5 * BATCH))
                sent += min(due, 5 * BATCH)
            else:
                time.sleep(0.05)
            if not samples or elapsed - samples[-1][0] >= 10:
                samples.append((elapsed, _rss_mib(proc.pid)))
        assert proc.poll() is None
        health = client.get("/health").json()
        assert health["status"] == "ok"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    achieved = sent / seconds
    third = [m for t, m in samples if seconds / 3 <= t < seconds / 3 + 60]
    last = [m for t, m in samples if t >= seconds - 60]
    early, late = statistics.median(third), statistics.median(last)
    print(
        f"\nsoak: peak {peak:,.0f} events/s; {achieved:,.0f} events/s for {seconds:.0f} s ({sent:,} events); "
        f"RSS {samples[0][1]:.0f} MiB at start, {early:.0f} at one third, {late:.0f} at the end; "
        f"log {health['log_entries']:,} entries, alerts {health['alerts']}"
    )
    assert achieved >= 0.9 * rate  # it kept up with half its maximum
    assert late <= early * 1.15 + 5, f"memory grew from {early:.0f} to {late:.0f} MiB"
