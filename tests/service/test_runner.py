"""`monitor run` at its edges: a taken port, a bad setting, the demo month moved up to now."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from monitor.demo import write_demo
from monitor.policy import load_profile
from service.api import build_api
from service.dropfolder import TICK_HOLD_SECONDS, DropFolder
from service.embedded import EmbeddedMonitor
from service.runner import Ingest, shift_demo, tick_held
from service.store import Store, connect
from tests.service.conftest import NOW
from tests.service.test_embedded import _health


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


def test_a_stopped_monitor_exits_0_having_saved_its_snapshot_and_let_go_of_its_folder(tmp_path: Path) -> None:
    directory, _ = write_demo(tmp_path / "demo")
    data = tmp_path / "data"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
    cmd = [sys.executable, "-m", "monitor.cli", "run", "--directory", str(directory), "--data-dir", str(data),
           "--web-port", str(port), "--tick-seconds", "0.2"]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and _health(port) is None and proc.poll() is None:
            time.sleep(0.2)
        assert _health(port) is not None, proc.stderr.read() if proc.stderr else ""
        time.sleep(0.5)  # a few ticks: the register is applied and the log is not empty
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "Finished server process" in err  # the log's last words were written before leaving
    store = Store(connect(data / "monitor.db"))
    snapshot = store.get_snapshot()
    last = store.last_seq()
    store.conn.close()
    assert last > 0 and snapshot is not None and snapshot[0] == last
    again = EmbeddedMonitor(data / "monitor.db", load_profile("default"), None, lateness=timedelta(seconds=30))
    assert again._snapshot_seq == last
    again.close()


def test_the_clock_waits_for_a_file_still_being_written_but_not_for_ever(
    make_monitor: Callable[..., EmbeddedMonitor], tmp_path: Path
) -> None:
    folder = DropFolder(make_monitor(), tmp_path / "inbox")
    assert tick_held(folder, None, 100.0) is None  # nothing waiting: tick
    (tmp_path / "inbox" / "fresh.jsonl").write_text("")  # written just now: not yet taken, so not yet passed
    assert tick_held(folder, None, 100.0) == 100.0
    assert tick_held(folder, 100.0, 100.0 + TICK_HOLD_SECONDS - 1) == 100.0
    assert tick_held(folder, 100.0, 100.0 + TICK_HOLD_SECONDS) is None  # a feeder that never stops: tick anyway
    old = time.time() - 10
    os.utime(tmp_path / "inbox" / "fresh.jsonl", (old, old))
    assert tick_held(folder, 100.0, 101.0) is None  # settled: the poll takes it before the tick


def test_a_restart_takes_the_first_starts_policy_and_lateness_unless_told_another(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import service.runner
    from monitor import cli

    data = tmp_path / "rd"
    data.mkdir()
    EmbeddedMonitor(data / "monitor.db", load_profile("london-met"), None, lateness=timedelta(weeks=1)).close()
    for k in [k for k in os.environ if k.startswith("MONITOR_")]:
        monkeypatch.delenv(k)

    class Served(Exception):
        pass

    def serve(s: object, out: object) -> None:
        raise Served(s)

    real_serve = service.runner.serve
    monkeypatch.setattr(service.runner, "check_listen", lambda host, port: None)
    monkeypatch.setattr(service.runner, "serve", serve)
    with pytest.raises(Served) as started:
        cli.main(["run", "--data-dir", str(data)])
    s = started.value.args[0]
    assert (s.policy, s.lateness) == ("london-met", timedelta(weeks=1))
    with pytest.raises(Served):
        cli.main(["run", "--data-dir", str(data), "--policy", "london-met", "--lateness", "7d"])  # the same, said
    assert cli.main(["run", "--data-dir", str(data), "--lateness", "30s"]) == 2
    assert capsys.readouterr().err == (f"monitor: {data / 'monitor.db'} was started with lateness 7d, not 30s: leave "
                                       "out --lateness (and MONITOR_LATENESS) to keep it, or use a new --data-dir for "
                                       "a new monitor\n")  # fmt: skip
    monkeypatch.setattr(service.runner, "serve", real_serve)  # the monitor's own check: it opens no port
    assert cli.main(["run", "--data-dir", str(data), "--policy", "default", "--web-port", "8103"]) == 2
    assert "was started with policy 'london-met', not 'default'" in capsys.readouterr().err


def test_a_web_host_that_is_not_an_address_of_this_machine_is_said_so_not_blamed_on_the_port(tmp_path: Path) -> None:
    out = _run("--data-dir", str(tmp_path / "d"), "--web-host", "1.2.3.4.5", "--web-port", "8104")
    assert out.returncode == 2 and out.stderr.startswith("monitor: --web-host '1.2.3.4.5' is not a valid address")
    assert "port" not in out.stderr
    out = _run("--data-dir", str(tmp_path / "d"), "--web-host", "192.0.2.1", "--web-port", "8104")  # TEST-NET-1
    assert out.returncode == 2 and "--web-host '192.0.2.1' is not an address of this machine" in out.stderr


@pytest.mark.parametrize(("port", "console_url", "said"), [
    (18123, None, "MONITOR_URL=http://127.0.0.1:18123 "),
    (8080, "https://monitor.example.ac.uk", "MONITOR_URL=https://monitor.example.ac.uk "),
    (8080, None, ""),
])  # fmt: skip
def test_the_demo_s_commands_to_try_name_its_address_when_it_is_not_the_commands_default(
    tmp_path: Path, port: int, console_url: str | None, said: str
) -> None:
    import io

    from service.runner import prepare_demo
    from service.settings import ServiceSettings

    s = ServiceSettings(data_dir=tmp_path / "d", web_port=port, console_url=console_url)
    out = io.StringIO()
    prepare_demo(s, out)
    tries = [line for line in out.getvalue().splitlines() if ".venv/bin/monitor " in line]
    assert len(tries) == 4, out.getvalue()
    assert all(line.startswith(f"  {said}MONITOR_TOKEN=<") for line in tries), tries


def test_the_clock_moves_on_while_the_drop_folder_fails_and_health_says_so(
    make_monitor: Callable[..., EmbeddedMonitor], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tick came after the poll in one try: a drop folder failing on every pass stopped event time too, so no
    deadline fell due, while /health said ok. The clock moves on regardless; after three failed passes in a row
    /health is degraded, naming what fails and why, until a pass goes through."""
    m = make_monitor()
    folder = DropFolder(m, tmp_path / "inbox")
    ingest = Ingest(m, folder, tick_seconds=1.0)
    client = TestClient(build_api(m, console=False))

    def unreadable(now: float | None = None) -> int:
        raise OSError("the inbox is on a share that went away")

    monkeypatch.setattr(folder, "poll", unreadable)
    ingest.once()
    assert m.engine.clock == NOW  # the tick happened all the same
    ingest.once()
    assert client.get("/health").json()["status"] == "ok"  # one or two failures: not yet
    ingest.once()
    health = client.get("/health").json()
    assert health["status"] == "degraded"
    (warning,) = health["warnings"]
    assert warning.startswith(f"the drop folder {tmp_path / 'inbox'} has failed its last 3 passes")
    assert "the inbox is on a share that went away" in warning
    monkeypatch.undo()
    ingest.once()
    health = client.get("/health").json()
    assert (health["status"], health["warnings"]) == ("ok", [])

    def stuck() -> None:
        raise OSError("disk I/O error")

    monkeypatch.setattr(m, "tick", stuck)
    for _ in range(3):
        ingest.once()
    (warning,) = client.get("/health").json()["warnings"]
    assert warning.startswith("the clock has failed its last 3 moves") and "disk I/O error" in warning


def test_the_demo_s_data_folder_is_the_monitor_s_alone(tmp_path: Path) -> None:
    """Under umask 022 the data folder, its inbox and the database were open to every local user."""
    import io

    from service.runner import prepare_demo
    from service.settings import ServiceSettings

    s = ServiceSettings(data_dir=tmp_path / "d")
    old = os.umask(0o022)
    try:
        prepare_demo(s, io.StringIO())
    finally:
        os.umask(old)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (s.data_dir, s.inbox_dir, *s.data_dir.glob("monitor.db*"))}
    assert modes == {"d": 0o700, "inbox": 0o700, "monitor.db": 0o600, "monitor.db.lock": 0o600}
