"""`monitor run` at its edges: a taken port, a bad setting, the demo month moved up to now."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from service.embedded import EmbeddedMonitor
from service.runner import shift_demo


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
    return subprocess.run(
        [sys.executable, "-m", "monitor.cli", "run", *args], capture_output=True, text=True, env=env, timeout=60
    )


def test_a_taken_port_is_refused_before_anything_starts(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        out = _run("--demo", "--data-dir", str(tmp_path / "d"), "--web-port", str(port))
    assert out.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in out.stderr
    assert "--web-port" in out.stderr
    assert not (tmp_path / "d").exists()  # no demo made, no tokens shown and lost
    assert "smon_" not in out.stdout


def test_a_bad_setting_names_itself(tmp_path: Path) -> None:
    out = _run("--data-dir", str(tmp_path), "--lateness", "soon")
    assert out.returncode == 2
    assert out.stderr.startswith("monitor: bad setting: lateness")


def test_the_demo_month_moves_by_whole_weeks_to_end_in_the_last_week(
    demo_files: tuple[Path, Path], tmp_path: Path
) -> None:
    now = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
    out = tmp_path / "moved.jsonl"
    n = shift_demo(demo_files[1], out, now)
    before = [json.loads(x) for x in demo_files[1].read_text().splitlines()]
    after = [json.loads(x) for x in out.read_text().splitlines()]
    assert n == len(before) == len(after)
    t = [datetime.fromisoformat(e["time"]) for e in after]
    assert now - timedelta(weeks=1) < max(t) <= now
    shift = datetime.fromisoformat(after[0]["time"]) - datetime.fromisoformat(before[0]["time"])
    assert shift.days % 7 == 0 and shift.seconds == 0  # weekdays and times of day kept
    leavers = [(b, a) for b, a in zip(before, after, strict=True) if b["type"] == "hr.leaver"]
    assert leavers
    for b, a in leavers:  # times inside data move with the event
        moved = datetime.fromisoformat(a["data"]["leaving_at"]) - datetime.fromisoformat(b["data"]["leaving_at"])
        assert moved == shift
    assert [e["id"] for e in before] == [e["id"] for e in after]


def test_a_second_monitor_on_the_same_data_folder_is_refused_naming_the_first(
    tmp_path: Path, make_monitor: Callable[..., EmbeddedMonitor]
) -> None:
    running = make_monitor()  # as a `monitor run` still going (or still saving its snapshot on the way out)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = _run("--data-dir", str(tmp_path), "--web-port", str(port))
    assert out.returncode == 2
    assert f"{tmp_path} is in use by another monitor (pid {os.getpid()}); stop it first" in out.stderr
    running.close()
