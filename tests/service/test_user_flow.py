"""The README's walk-through on a real `monitor run --demo`: report a leaver, see the alert, acknowledge it,
file an emergency request, export and re-import the register; each step with the CLI as a user types it."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import yaml

from schemas.directory import MAX_REGISTER_BYTES
from tests.service.test_embedded import _free_port, _health


@dataclass
class Running:
    url: str
    tokens: dict[str, str]
    banner: str
    data: Path
    logs: str = ""


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    data = tmp_path_factory.mktemp("flow") / "state"
    port = _free_port()
    log, shown = data.parent / "monitor.log", data.parent / "monitor.out"
    env = {k: v for k, v in os.environ.items() if k not in ("MONITOR_BROKER", "MONITOR_TOKEN")}
    cmd = [sys.executable, "-m", "monitor.cli", "run", "--demo", "--data-dir", str(data), "--web-port", str(port),
           "--tick-seconds", "0.5", "--lateness", "1s"]  # fmt: skip
    with log.open("wb") as err, shown.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            h = _health(port)
            if h is not None and int(h["log_entries"]) > 25_952:  # type: ignore[call-overload]
                break
            if proc.poll() is not None:
                pytest.fail(f"monitor run --demo exited with {proc.returncode}:\n{log.read_text()}")
            time.sleep(0.2)
        else:
            pytest.fail(f"monitor run --demo did not take its month in 90 s:\n{log.read_text()}")
        banner = shown.read_text() + log.read_text()
        tokens = {role: tok for role, tok in re.findall(r"^  (\w+) +\S+ +(smon_\S+)$", banner, re.M)}
        yield Running(f"http://127.0.0.1:{port}", tokens, banner, data, log.read_text())
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)


def monitor(r: Running, role: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MONITOR_URL": r.url, "MONITOR_TOKEN": r.tokens[role]}
    return subprocess.run(
        [sys.executable, "-m", "monitor.cli", *args], capture_output=True, text=True, env=env, timeout=60, check=False
    )


def test_the_banner_says_where_the_console_is_and_what_to_try(running: Running) -> None:
    assert f"console {running.url}/console" in running.banner
    assert "smon_" not in running.logs  # tokens are shown on standard output, never in the log
    assert set(running.tokens) == {"security", "hr", "registrar", "admin", "comms"}
    assert "monitor hr leaver" in running.banner
    assert f"make more with `monitor token create NAME --role ROLE --data-dir {running.data}`" in running.banner
    opened = re.search(r"^monitor: register of (\d+) accounts and (\d+) people, 0 log entries, in ", running.banner,
                       re.M)  # fmt: skip
    assert opened is not None and int(opened.group(1)) > 100 and int(opened.group(2)) > 300, running.banner


def test_a_fresh_demo_shows_the_register_alerts_replay_gives_at_once(running: Running) -> None:
    # The month was written into the inbox just before the first tick: had the tick run first, the register
    # would be dated now, the month judged late, and DIR-02..07 would wait out their hour of grace.
    from monitor.directory import load_directory
    from monitor.policy import load_profile
    from monitor.replay import build_engine, read_lines, replay

    register = ("DIR-02", "DIR-03", "DIR-04", "DIR-05", "DIR-06", "DIR-07")
    month = running.data / "inbox" / "done" / "demo-month.jsonl"
    engine = build_engine(load_profile("default"), load_directory(running.data / "demo" / "directory.yaml"))
    with month.open("rb") as fh:
        replay(engine, read_lines([(month.name, fh)]))
    wanted = {c: sum(1 for a in engine.alerts.values() if a.control == c) for c in register}
    assert wanted["DIR-02"] and wanted["DIR-03"]
    headers = {"Authorization": f"Bearer {running.tokens['security']}"}
    found: dict[str, int] = {}
    deadline = time.monotonic() + 10  # the tick after the month's last batch
    while time.monotonic() < deadline and found != wanted:
        for c in register:
            page = httpx.get(f"{running.url}/api/alerts", params={"control": c, "limit": 1}, headers=headers)
            found[c] = page.json()["total"]
        time.sleep(0.2)
    assert found == wanted


def test_report_a_leaver_see_the_alert_acknowledge_it(running: Running) -> None:
    leaver = re.search(r"monitor hr leaver (\S+)", running.banner)
    assert leaver is not None
    person = leaver.group(1)
    left = (datetime.now(UTC) - timedelta(days=2)).strftime("%Y-%m-%dT17:00:00Z")
    out = monitor(running, "hr", "hr", "leaver", person, "--leaving-at", left)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("accepted 1, duplicates 0")
    found: list[dict[str, object]] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not found:
        listed = monitor(running, "security", "alerts", "list", "--person", person, "--control", "LVR-01", "--json")
        assert listed.returncode == 0, listed.stderr
        found = [json.loads(x) for x in listed.stdout.splitlines()]
        time.sleep(0.5)
    assert found, "no LVR-01 alert for the leaver within 30 s"
    alert = found[0]
    assert (alert["person_id"], alert["status"]) == (person, "open")
    ack = monitor(running, "security", "alerts", "ack", str(alert["id"]), "--note", "calling their manager")
    assert ack.returncode == 0, ack.stderr
    assert ack.stdout.split() == [alert["id"], "LVR-01", "acknowledged"]
    again = monitor(running, "hr", "hr", "leaver", person, "--leaving-at", left)
    assert again.stdout.startswith("accepted 0, duplicates 1")  # the same report twice is one event


def test_hr_may_not_acknowledge(running: Running) -> None:
    out = monitor(running, "hr", "alerts", "list")
    assert out.returncode == 2
    assert "403: role 'hr' may not read alerts" in out.stderr


def test_file_an_emergency_request(running: Running) -> None:
    account = re.search(r"monitor emergency request (\S+)", running.banner)
    assert account is not None
    out = monitor(running, "comms", "emergency", "request", account.group(1), "--reason", "posts we did not write")
    assert out.returncode == 0, out.stderr
    assert re.match(r"request er-\w+: granted\n  access to \S+ for \S+ until ", out.stdout)
    assert "end_all_sessions, rotate_credential, remove_unregistered_admins" in out.stdout
    refused = monitor(running, "security", "emergency", "request", account.group(1), "--reason", "me too")
    assert refused.returncode == 2
    assert "IT security alerted" in refused.stderr
    mistyped = monitor(running, "comms", "emergency", "request", "acc-999", "--reason", "hacked")
    assert mistyped.returncode == 2, mistyped.stdout
    assert "acc-999 is not in the register" in mistyped.stderr and "granted" not in mistyped.stdout
    lockout = re.search(r"^  lockout (lk-\S+): ", out.stdout, re.M)
    assert lockout is not None, out.stdout
    listed = monitor(running, "security", "lockouts", "list", "--account", account.group(1))
    assert listed.returncode == 0, listed.stderr
    assert f"{lockout.group(1)}  {account.group(1)}  for gr-" in listed.stdout
    assert "do:     end_all_sessions, rotate_credential, remove_unregistered_admins" in listed.stdout
    assert monitor(running, "hr", "lockouts", "list").returncode == 2  # HR may not read them


def test_export_and_import_the_register(running: Running, tmp_path: Path) -> None:
    path = tmp_path / "register.yaml"
    out = monitor(running, "registrar", "directory", "export", "-o", str(path))
    assert out.returncode == 0, out.stderr
    register = yaml.safe_load(path.read_text())
    assert len(register["accounts"]) > 100
    same = monitor(running, "registrar", "directory", "import", str(path))
    assert same.stdout.strip() == "0 changes: 0 taken, 0 already known"
    acc = register["accounts"][0]
    acc["admins"] = acc["admins"][:1]  # take an admin away
    path.write_text(yaml.safe_dump(register, sort_keys=False))
    changed = monitor(running, "registrar", "directory", "import", str(path))
    assert changed.returncode == 0, changed.stderr
    assert changed.stdout.strip() == "1 change (1 role holder unassigned): 1 taken, 0 already known"
    n_accounts, n_people = len(register["accounts"]), len(register["people"])
    assert f"register.yaml: {n_accounts:,} accounts and {n_people:,} people, checked in " in changed.stderr
    after = yaml.safe_load(monitor(running, "registrar", "directory", "export").stdout)
    assert after["accounts"][0]["admins"] == acc["admins"]
    # A register is far larger than a batch of events: over the 1 MiB event limit is taken, over 64 MiB is not.
    large = tmp_path / "large.yaml"
    large.write_text(path.read_text() + "# " + "x" * (3 << 19) + "\n")
    taken = monitor(running, "registrar", "directory", "import", str(large))
    assert (taken.returncode, taken.stdout.strip()) == (0, "0 changes: 0 taken, 0 already known"), taken.stderr
    huge = tmp_path / "huge.yaml"
    huge.touch()
    os.truncate(huge, MAX_REGISTER_BYTES + 1)
    over = monitor(running, "registrar", "directory", "import", str(huge))
    assert over.returncode == 2
    assert f"huge.yaml: {MAX_REGISTER_BYTES + 1:,} bytes, over the monitor's limit of" in over.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("people: [\n")
    refused = monitor(running, "registrar", "directory", "import", str(bad))
    assert refused.returncode == 2
    assert "bad.yaml" in refused.stderr
