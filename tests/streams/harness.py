"""Real worker processes on a real broker, for the stream tests: start, feed, wait, read, kill."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import Any

from monitor.directory import directory_events, load_directory
from streams.client import latest_alerts, publish, read_alerts, send_advance, wait_routed
from streams.settings import StreamSettings
from streams.topics import create_topics

REPO = Path(__file__).resolve().parents[2]
LOCAL_KAFKA = REPO / "deploy" / "kafka" / "local_kafka.py"


def load_local_kafka() -> ModuleType:
    """Import deploy/kafka/local_kafka.py by path (deploy/ is not a package)."""
    if "local_kafka" in sys.modules:
        return sys.modules["local_kafka"]
    spec = importlib.util.spec_from_file_location("local_kafka", LOCAL_KAFKA)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {LOCAL_KAFKA}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Deployment:
    """One set of topics and a consumer group of its own, with workers started as real processes."""

    def __init__(self, bootstrap: str, tmp: Path, partitions: int = 4, lateness: str = "0s",
                 directory: Path | None = None, env: dict[str, str] | None = None) -> None:  # fmt: skip
        tag = uuid.uuid4().hex[:8]
        self.settings = StreamSettings(
            broker=f"kafka://{bootstrap}",
            topic_prefix=f"t{tag}",
            app_id=f"app{tag}",
            partitions=partitions,
            data_dir=tmp / "data",
            lateness=lateness,  # type: ignore[arg-type]
            tick_seconds=0,
            directory=directory,
        )
        self.tmp = tmp
        self.extra_env = dict(env or {})  # more MONITOR_* settings for every worker (they win over the defaults)
        self.workers: dict[int, subprocess.Popen[bytes]] = {}
        create_topics(self.settings)

    def env(self, port: int) -> dict[str, str]:
        s = self.settings
        env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
        env.update({
            "MONITOR_BROKER": s.broker, "MONITOR_TOPIC_PREFIX": s.topic_prefix, "MONITOR_APP_ID": s.app_id,
            "MONITOR_PARTITIONS": str(s.partitions), "MONITOR_DATA_DIR": str(s.data_dir),
            "MONITOR_LATENESS": f"{int(s.lateness.total_seconds())}s", "MONITOR_TICK_SECONDS": "0",
            "MONITOR_WEB_PORT": str(port), "MONITOR_LOGLEVEL": "warning",
        })  # fmt: skip
        if s.directory:
            env["MONITOR_DIRECTORY"] = str(s.directory)
        env.update(self.extra_env)
        return env

    def start_worker(self, port: int | None = None) -> int:
        """Start a worker process; returns its web port once /health answers (its log: worker-PORT.log, appended)."""
        port = port or free_port()
        log = open(self.tmp / f"worker-{port}.log", "ab")  # noqa: SIM115
        proc = subprocess.Popen(
            [sys.executable, "-m", "monitor.cli", "run"], env=self.env(port), cwd=REPO, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        self.workers[port] = proc
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"worker exited {proc.returncode}: {self.log_tail(port)}")
            try:
                self.health(port)
                return port
            except OSError:
                time.sleep(0.3)
        raise TimeoutError(f"worker on {port} did not answer /health in 60 s: {self.log_tail(port)}")

    def log_tail(self, port: int, lines: int = 30) -> str:
        text = (self.tmp / f"worker-{port}.log").read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def late_events(self) -> list[str]:
        """Log lines of every worker so far that took an event after its reorder buffer had passed its time."""
        return [line for log in sorted(self.tmp.glob("worker-*.log"))
                for line in log.read_text(errors="replace").splitlines()
                if "after the reorder buffer had passed its time" in line]  # fmt: skip

    def cli(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """Run `monitor ARGS` as a user would, with this deployment's MONITOR_* settings in its environment."""
        env = self.env(6066)  # the web port is not used by the commands
        return subprocess.run([sys.executable, "-m", "monitor.cli", *args], cwd=REPO, env=env, capture_output=True,
                              text=True, timeout=timeout)  # fmt: skip

    def health(self, port: int) -> dict[str, Any]:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as resp:
            return dict(json.loads(resp.read()))

    def kill(self, port: int, sig: int = signal.SIGKILL) -> None:
        proc = self.workers.pop(port)
        os.killpg(proc.pid, sig)
        proc.wait(timeout=30)

    def stop_all(self) -> None:
        for port in list(self.workers):
            self.kill(port, signal.SIGTERM)

    def publish_directory(self, path: Path, at: datetime) -> int:
        lines = [e.model_dump_json().encode() for e in directory_events(load_directory(path), at)]
        return publish(self.settings, lines, topic="directory")

    def publish(self, lines: Iterable[bytes]) -> int:
        return publish(self.settings, lines)

    def advance_and_wait(self, until: datetime, timeout: float = 240) -> dict[int, int]:
        """Advance every partition and wait until the workers have processed the advance (the offsets returned)."""
        try:
            wait_routed(self.settings)
        except TimeoutError as exc:  # say what each router holds back, so a stall in CI can be diagnosed
            raise TimeoutError(f"{exc}\n{self.diagnosis()}") from exc
        targets = send_advance(self.settings, until)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            done: dict[int, int] = {}
            for port, proc in self.workers.items():
                if proc.poll() is None:
                    for p, off in self.health(port)["processed"].items():
                        done[int(p)] = max(done.get(int(p), -1), off)
            if all(done.get(p, -1) >= off for p, off in targets.items()):
                return targets
            time.sleep(0.5)
        raise TimeoutError(f"advance not processed in {timeout}s: want {targets}, have {done}")

    def diagnosis(self) -> str:
        """Events the workers took late (from their logs), and each running worker's router state (/health) and log
        tail."""
        late = self.late_events()
        parts = [f"events workers took late: {len(late)}", *late[:10]]
        for port, proc in self.workers.items():
            try:
                router = (
                    json.dumps(self.health(port).get("router")) if proc.poll() is None else f"exited {proc.returncode}"
                )
            except OSError as exc:
                router = f"no /health: {exc}"
            parts.append(f"worker {port}: router {router}\n{self.log_tail(port, 15)}")
        return "\n".join(parts)

    def final_alerts(self) -> list[dict[str, Any]]:
        return latest_alerts(read_alerts(self.settings))

    def alert_versions(self) -> list[dict[str, Any]]:
        return list(read_alerts(self.settings))


def assert_same_alerts(live: list[dict[str, Any]], replayed: list[dict[str, Any]], d: Deployment | None = None) -> None:
    """The live runtime's final alerts are replay's: the same ids, the same content, in the same order. With the
    deployment `d`, a failure also shows what its workers logged (a rare two-worker mismatch left no logs behind)."""
    try:
        _same_alerts(live, replayed)
    except AssertionError as exc:
        if d is None:
            raise
        raise AssertionError(f"{exc}\n{d.diagnosis()}") from None


def _same_alerts(live: list[dict[str, Any]], replayed: list[dict[str, Any]]) -> None:
    assert len(replayed) > 100
    missing = {a["id"] for a in replayed} - {a["id"] for a in live}
    extra = {a["id"] for a in live} - {a["id"] for a in replayed}
    example = [
        next((a for a in alerts if a["id"] in ids), None) for alerts, ids in ((replayed, missing), (live, extra))
    ]
    assert not missing and not extra, (
        f"{len(missing)} missing, {len(extra)} extra of {len(replayed)}; e.g. missing {example[0]}, extra {example[1]}"
    )
    by_id = {a["id"]: a for a in live}
    differ = [a for a in replayed if json.dumps(a, sort_keys=True) != json.dumps(by_id[a["id"]], sort_keys=True)]
    fields = [{k: (a.get(k), by_id[a["id"]].get(k)) for k in a if a.get(k) != by_id[a["id"]].get(k)} for a in differ]
    assert not differ, f"{len(differ)} alerts differ from replay; (replay, live) of fields that differ: {fields[:3]}"
    assert [a["id"] for a in live] == [a["id"] for a in replayed], "the same alerts, in another order"


def replay_alerts(directory: Path | None, events: Path, lateness: str, until: datetime | None = None) -> list[Any]:
    cmd = [sys.executable, "-m", "monitor.cli", "replay", "--lateness", lateness]
    if directory:
        cmd += ["--directory", str(directory)]
    if until:
        cmd += ["--until", until.isoformat()]
    out = subprocess.run([*cmd, str(events)], cwd=REPO, capture_output=True, check=True)
    return [json.loads(line) for line in out.stdout.splitlines()]
