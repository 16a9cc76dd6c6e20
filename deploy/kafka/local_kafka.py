#!/usr/bin/env python3
"""Throwaway single-node KRaft Apache Kafka broker, run from Maven Central jars.

No Docker and no apache.org download: ``mvn dependency:copy-dependencies`` on the
pom.xml next to this file fetches ``org.apache.kafka:kafka_2.13`` and its runtime
dependencies into a cache dir, and the broker is started with plain ``java``.
Everything binds to 127.0.0.1 only. Stdlib only (kafka-python is used for the
readiness probe when importable).

    python deploy/kafka/local_kafka.py fetch|start|stop|status [--port N] [--dir D]

From Python::

    with LocalKafka() as kafka:
        use(kafka.bootstrap)
"""

from __future__ import annotations

import argparse
import base64
import importlib
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path
from types import TracebackType
from typing import Self

HOST = "127.0.0.1"
POM = Path(__file__).resolve().parent / "pom.xml"
STATE_FILE = "local-kafka.json"
LOG_FILE = "kafka.log"
STOP_TIMEOUT_S = 20.0
LOG_TAIL_LINES = 40
_PROBE_CORRELATION_ID = 42
_PROBE_HEADER = struct.Struct(">iiii")  # size, correlation id, throttle ms, brokers

LOG4J_PROPERTIES = """\
log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.state.change.logger=WARN
log4j.logger.kafka.request.logger=WARN
"""


class LocalKafkaError(RuntimeError):
    """Fetching, starting or stopping the local broker failed."""


def kafka_version() -> str:
    """The Kafka version pinned in pom.xml (``kafka.version`` property)."""
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    node = ET.parse(POM).getroot().find("m:properties/m:kafka.version", ns)
    if node is None or not node.text:
        raise LocalKafkaError(f"no <kafka.version> property in {POM}")
    return node.text.strip()


def libs_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "social-monitor" / f"kafka-{kafka_version()}" / "libs"


def default_data_dir() -> Path:
    return Path(tempfile.gettempdir()) / "social-monitor-kafka"


def _require(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise LocalKafkaError(
            f"`{tool}` not found on PATH: the local Kafka broker needs Java 17+ and "
            "Maven (e.g. `apt-get install openjdk-17-jre-headless maven`)"
        )
    return path


def fetch(verbose: bool = True) -> Path:
    """Copy the broker jars into the cache dir (no-op when already there).

    Progress of a real download always goes to stderr; ``verbose`` also reports a cache hit.
    """
    libs = libs_dir()
    done = libs / ".complete"
    jar = f"kafka_2.13-{kafka_version()}.jar"
    if done.exists() and (libs / jar).exists():
        if verbose:
            print(f"kafka jars already cached in {libs}", flush=True)
        return libs
    _require("java")
    mvn = _require("mvn")
    tmp = libs.with_name(f"libs.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    print(f"fetching {jar} and dependencies from Maven Central into {libs} ...", file=sys.stderr, flush=True)
    cmd = [mvn, "-q", "-B", "-f", str(POM), "dependency:copy-dependencies", f"-DoutputDirectory={tmp}"]
    t0 = time.monotonic()
    res = subprocess.run(cmd, check=False, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if res.returncode != 0 or not (tmp / jar).exists():
        shutil.rmtree(tmp, ignore_errors=True)
        raise LocalKafkaError(f"`{' '.join(cmd)}` failed (exit {res.returncode}):\n{res.stdout}{res.stderr}")
    shutil.rmtree(libs, ignore_errors=True)
    tmp.rename(libs)
    done.touch()
    n = len(list(libs.glob("*.jar")))
    print(f"fetched {n} jars in {time.monotonic() - t0:.1f}s", file=sys.stderr, flush=True)
    return libs


def free_port(exclude: int | None = None) -> int:
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((HOST, 0))
            port: int = s.getsockname()[1]
        if port != exclude:
            return port


def random_cluster_id() -> str:
    """Like Kafka's ``Uuid.randomUuid().toString()``: url-safe base64, no padding."""
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cid.startswith("-"):
            return cid


def server_properties(data_dir: Path, port: int, controller_port: int) -> str:
    props = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@{HOST}:{controller_port}",
        "listeners": f"PLAINTEXT://{HOST}:{port},CONTROLLER://{HOST}:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://{HOST}:{port}",
        "inter.broker.listener.name": "PLAINTEXT",
        "controller.listener.names": "CONTROLLER",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": str(data_dir / "kraft-logs"),
        "num.partitions": "1",
        "offsets.topic.replication.factor": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
        "num.network.threads": "2",
        "num.io.threads": "2",
    }
    return "".join(f"{k}={v}\n" for k, v in props.items())


def _metadata_ok_raw(bootstrap: str, timeout: float) -> bool:
    """Send a bare Metadata v4 request (all topics) and check a broker is listed."""
    host, port = bootstrap.rsplit(":", 1)
    client_id = b"local-kafka"
    # header v1: api_key=3 (Metadata), version 4, correlation id, client id;
    # body: topics=null (-1), allow_auto_topic_creation=false
    payload = struct.pack(">hhih", 3, 4, _PROBE_CORRELATION_ID, len(client_id)) + client_id + struct.pack(">ib", -1, 0)
    with socket.create_connection((host, int(port)), timeout=timeout) as s:
        s.sendall(struct.pack(">i", len(payload)) + payload)
        buf = b""
        while len(buf) < _PROBE_HEADER.size:
            chunk = s.recv(4096)
            if not chunk:
                return False
            buf += chunk
    _size, corr, _throttle, brokers = _PROBE_HEADER.unpack_from(buf)
    return bool(corr == _PROBE_CORRELATION_ID and brokers >= 1)


def metadata_ok(bootstrap: str, timeout: float = 5.0) -> bool:
    """True when the broker answers a metadata request listing itself."""
    try:
        kafka = importlib.import_module("kafka")
    except ImportError:
        try:
            return _metadata_ok_raw(bootstrap, timeout)
        except (OSError, struct.error):
            return False
    try:
        admin = kafka.KafkaAdminClient(
            bootstrap_servers=bootstrap,
            client_id="local-kafka-probe",
            request_timeout_ms=int(timeout * 1000),
        )
    except Exception:  # kafka-python raises many kinds while the broker boots
        return False
    try:
        admin.list_topics()
        return True
    except Exception:
        return False
    finally:
        admin.close()


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=1.0):
            return True
    except OSError:
        return False


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    cmdline = Path(f"/proc/{pid}/cmdline")
    if cmdline.exists():  # guard against pid reuse (Linux only)
        try:
            return b"kafka.Kafka" in cmdline.read_bytes()
        except OSError:
            return False
    return True


def _log_report(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """First ERROR/FATAL lines (the cause) plus the last ``lines`` lines of the log."""
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return f"(no log at {path})"
    errors = [  # each error line plus the exception message that follows it
        ln + ("\n  " + text[i + 1] if i + 1 < len(text) and not text[i + 1].startswith("[") else "")
        for i, ln in enumerate(text)
        if " ERROR " in ln or " FATAL " in ln
    ][:5]
    head = "errors:\n" + "\n".join(errors) + "\n" if errors else ""
    return f"{head}last {lines} lines of {path}:\n" + "\n".join(text[-lines:])


class LocalKafka:
    """A single KRaft broker+controller on 127.0.0.1, for tests and local runs.

    ``data_dir=None`` uses a fresh temp dir; the data dir is removed by
    :meth:`stop` unless ``keep=True``.
    """

    def __init__(
        self,
        data_dir: Path | None = None,
        port: int | None = None,
        *,
        keep: bool = False,
        startup_timeout: float = 120.0,
    ) -> None:
        self.data_dir = Path(data_dir) if data_dir else None
        self.port = port
        self.keep = keep
        self.startup_timeout = startup_timeout
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        if self.port is None:
            raise LocalKafkaError("broker not started")
        return f"{HOST}:{self.port}"

    @property
    def log_file(self) -> Path:
        return self._dir() / LOG_FILE

    def _dir(self) -> Path:
        if self.data_dir is None:
            raise LocalKafkaError("broker not started")
        return self.data_dir

    def _state(self) -> dict[str, int] | None:
        try:
            state: dict[str, int] = json.loads((self._dir() / STATE_FILE).read_text())
            return state
        except (OSError, ValueError):
            return None

    def pid(self) -> int | None:
        """Pid of the running broker of this data dir, if any."""
        if self.data_dir is None:
            return None
        state = self._state()
        if state and _pid_alive(state["pid"]):
            return state["pid"]
        return None

    def start(self) -> str:
        libs = fetch(verbose=False)
        java = _require("java")
        if self.data_dir is None:
            self.data_dir = Path(tempfile.mkdtemp(prefix="local-kafka-"))
        elif self.pid() is not None:
            raise LocalKafkaError(f"a broker is already running for {self.data_dir}")
        data = self.data_dir
        shutil.rmtree(data / "kraft-logs", ignore_errors=True)
        data.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()
        cport = free_port(exclude=self.port)
        props, log4j = data / "server.properties", data / "log4j.properties"
        props.write_text(server_properties(data, self.port, cport))
        log4j.write_text(LOG4J_PROPERTIES)
        base = [java, f"-Dlog4j.configuration={log4j.as_uri()}", "-cp", f"{libs}/*"]

        fmt = subprocess.run(
            [*base, "kafka.tools.StorageTool", "format", "-t", random_cluster_id(), "-c", str(props)],
            check=False,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
        )
        if fmt.returncode != 0:
            raise LocalKafkaError(f"kafka-storage format failed:\n{fmt.stdout}{fmt.stderr}")

        with open(self.log_file, "ab") as log:
            self._proc = subprocess.Popen(
                [base[0], "-Xms256m", "-Xmx512m", "-Djava.awt.headless=true", *base[1:], "kafka.Kafka", str(props)],
                cwd=data,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        state = {"pid": self._proc.pid, "port": self.port, "controller_port": cport}
        (data / STATE_FILE).write_text(json.dumps(state))
        try:
            self._wait_ready(self._proc, self.port)
        except BaseException:
            self._terminate(self._proc.pid)
            raise
        return self.bootstrap

    def _wait_ready(self, proc: subprocess.Popen[bytes], port: int) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise LocalKafkaError(
                    f"kafka exited with code {proc.returncode} during startup; " + _log_report(self.log_file)
                )
            if _port_open(port) and metadata_ok(self.bootstrap):
                return
            time.sleep(0.5)
        raise LocalKafkaError(
            f"kafka not ready on {self.bootstrap} after {self.startup_timeout:.0f}s; " + _log_report(self.log_file)
        )

    def _terminate(self, pid: int) -> None:
        """SIGTERM, wait up to STOP_TIMEOUT_S, then SIGKILL."""

        def gone() -> bool:
            if self._proc is not None and self._proc.pid == pid:
                return self._proc.poll() is not None  # our child: reap it
            return not _pid_alive(pid)

        for sig, wait in ((signal.SIGTERM, STOP_TIMEOUT_S), (signal.SIGKILL, 5.0)):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                return
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                if gone():
                    return
                time.sleep(0.2)
        raise LocalKafkaError(f"kafka pid {pid} did not exit after SIGKILL")

    def stop(self) -> None:
        if self.data_dir is None:
            return
        pid = self.pid()
        if pid is None and self._proc is not None and self._proc.poll() is None:
            pid = self._proc.pid
        if pid is not None:
            self._terminate(pid)
        self._proc = None
        if self.keep:
            (self.data_dir / STATE_FILE).unlink(missing_ok=True)
        else:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("command", choices=["fetch", "start", "stop", "status"])
    parser.add_argument("--port", type=int, help="broker port (default: a free one)")
    parser.add_argument("--dir", type=Path, default=default_data_dir(), help="data dir (default: %(default)s)")
    parser.add_argument("--keep", action="store_true", help="stop: keep the data dir")
    args = parser.parse_args(argv)
    kafka = LocalKafka(args.dir, args.port, keep=args.keep)
    try:
        if args.command == "fetch":
            fetch()
        elif args.command == "start":
            t0 = time.monotonic()
            bootstrap = kafka.start()
            print(
                f"kafka {kafka_version()} up in {time.monotonic() - t0:.1f}s (pid {kafka.pid()}, log {kafka.log_file})",
                file=sys.stderr,
            )
            print(f"KAFKA_BOOTSTRAP={bootstrap}", flush=True)
        elif args.command == "stop":
            pid = kafka.pid()
            kafka.stop()
            print(f"stopped pid {pid}" if pid else "not running")
        else:
            state, pid = kafka._state(), kafka.pid()
            if pid is None or state is None:
                print(f"not running (dir {args.dir})")
                return 3
            print(f"running pid {pid} KAFKA_BOOTSTRAP={HOST}:{state['port']} (dir {args.dir})")
    except LocalKafkaError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
