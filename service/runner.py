"""`monitor run` without a broker: the embedded monitor, its drop folder, clock, deliveries and web server."""

from __future__ import annotations

import json
import logging
import signal
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from monitor.directory import load_directory, read_directory_text
from monitor.policy import Profile, load_profile
from service import auth, metrics
from service.client import DEFAULT_URL
from service.dropfolder import SETTLE_SECONDS, TICK_HOLD_SECONDS, DropFolder, shown
from service.embedded import EmbeddedMonitor, utcnow
from service.settings import ServiceSettings
from service.sinks import SinkConfig, load_sinks, unset_url_warning
from service.store import private_folder, storable

log = logging.getLogger("service")
_TIME_FIELDS = ("leaving_at", "effective_at", "ends_at")


def open_monitor(s: ServiceSettings, profile: Profile | None = None) -> EmbeddedMonitor:
    """The embedded monitor over the settings' data folder (the directory file is read on the first start only)."""
    directory_text = read_directory_text(s.directory) if s.directory is not None else None
    sinks: list[SinkConfig] = load_sinks(s.sinks) if s.sinks else []
    return EmbeddedMonitor(
        s.db_path,
        profile or load_profile(s.policy),
        directory_text,
        directory_origin=str(s.directory or "directory"),
        lateness=s.lateness,
        sinks=sinks,
        console_url=s.base_url,
        max_ahead=s.max_ahead,
    )


def shift_demo(events: Path, out: Path, now: datetime) -> int:
    """Copy the demo month into `out` moved on by whole weeks so that it ends in the week before `now`."""
    lines = events.read_text(encoding="utf-8").splitlines()
    objs = [json.loads(x) for x in lines if x.strip()]
    last = max(datetime.fromisoformat(o["time"]) for o in objs)
    weeks = max(0, (now - last) // timedelta(weeks=1))
    delta = timedelta(weeks=weeks)

    def moved(text: str) -> str:
        return (datetime.fromisoformat(text) + delta).isoformat().replace("+00:00", "Z")

    with out.open("w", encoding="utf-8") as fh:
        for o in objs:
            o["time"] = moved(o["time"])
            for k in _TIME_FIELDS:
                if isinstance(o["data"].get(k), str):
                    o["data"][k] = moved(o["data"][k])
            fh.write(json.dumps(o, separators=(",", ":")) + "\n")
    return len(objs)


DEMO_TOKENS = (("security-desk", "security"), ("hr-desk", "hr"), ("registrar", "registrar"), ("admin", "admin"))


def prepare_demo(s: ServiceSettings, out: TextIO) -> ServiceSettings:
    """On the first start, the demo university's register, its month in the drop folder and a token per role."""
    from monitor.demo import write_demo

    demo_dir = s.data_dir / "demo"
    first = not s.db_path.exists()
    if first:
        private_folder(s.data_dir)
        _, events_path = write_demo(demo_dir)
        private_folder(s.inbox_dir)
        staged = s.inbox_dir / "demo-month.jsonl.part"
        n = shift_demo(events_path, staged, utcnow())
        staged.replace(s.inbox_dir / "demo-month.jsonl")
        print(
            f"demo: the register of Aberwen University and {n:,} events of its last month are in {demo_dir}", file=out
        )
    s = s.model_copy(update={"directory": demo_dir / "directory.yaml"})
    if not first:
        print(f"demo: carrying on with {s.db_path} (its tokens were shown at its first start: `monitor token "
              f"create NAME --role ROLE --data-dir {s.data_dir}` makes new ones)", file=out)  # fmt: skip
        return s
    monitor = open_monitor(s)
    try:
        comms = _comms_member(demo_dir / "directory.yaml")
        print(f"demo: API tokens (shown once; make more with `monitor token create NAME --role ROLE --data-dir "
              f"{s.data_dir}`):", file=out)  # fmt: skip
        for name, role in (*DEMO_TOKENS, (comms, "comms")):
            token = auth.create_token(monitor.store, name, role, utcnow())
            print(f"  {role:10} {name:14} {token}", file=out)
    finally:
        monitor.close()
    leaver, account = demo_suggestion(demo_dir / "directory.yaml", s.inbox_dir / "demo-month.jsonl")
    two_days_ago = (utcnow() - timedelta(days=2)).strftime("%Y-%m-%dT17:00:00Z")
    # The commands go to http://127.0.0.1:8080 unless told: on another port they would ask another monitor, or none.
    url = "" if s.base_url == DEFAULT_URL else f"MONITOR_URL={s.base_url} "
    print(
        "demo: try (in another terminal, with the token of the role named):\n"
        f"  {url}MONITOR_TOKEN=<hr token> .venv/bin/monitor hr leaver {leaver} --leaving-at {two_days_ago}\n"
        f"  {url}MONITOR_TOKEN=<security token> .venv/bin/monitor alerts list --person {leaver}\n"
        f"  {url}MONITOR_TOKEN=<security token> .venv/bin/monitor alerts ack ALERT_ID --note 'on it'\n"
        f"  {url}MONITOR_TOKEN=<comms token> .venv/bin/monitor emergency request {account} --reason 'hacked'",
        file=out,
    )
    return s


def demo_suggestion(directory: Path, events: Path) -> tuple[str, str]:
    """A person to report as a leaver (an admin somewhere, not in the month's HR news) and an account."""
    d = load_directory(directory)
    in_news = set()
    with events.open("rb") as fh:
        for line in fh:
            if b'"type":"hr.' in line:
                in_news.add(json.loads(line)["data"]["person_id"])
    for a in d.accounts:
        for pid in a.admins:
            if pid not in in_news:
                return pid, a.account_id
    raise RuntimeError("the demo register has no admin without HR news")


def _comms_member(path: Path) -> str:
    d = load_directory(path)
    for p in d.people:
        if "comms-team" in p.groups:
            return p.person_id
    raise RuntimeError("the demo register has no comms-team member")


def _opened(m: EmbeddedMonitor) -> str:
    """What a start found: the register's size and the state's."""

    def read(engine: Any, store: Any) -> str:
        if engine.clock is None:  # the file's register, applied at the first event or tick
            d = m.directory
            accounts, people = (len(d.accounts), len(d.people)) if d else (0, 0)
        else:
            accounts = sum(1 for a in engine.accounts.values() if a.registered and not a.retired)
            people = sum(1 for p in engine.people.values() if p.in_directory)
        return f"register of {accounts:,} accounts and {people:,} people, {store.last_seq():,} log entries"

    return m.read(read)


def tick_held(folder: DropFolder, since: float | None, now: float) -> float | None:
    """When the clock started waiting for files settling in the inbox (`since`, or `now` if it starts now), or None
    to tick: nothing is settling, or it has waited TICK_HOLD_SECONDS already."""
    if not folder.waiting():
        return None
    if since is None:
        return now
    if now - since >= TICK_HOLD_SECONDS:
        log.warning("the inbox has had files still being written for %.0fs; moving the clock on", now - since)
        return None
    return since


FAILING_PASSES = 3  # passes in a row the drop folder or the clock may fail before /health says so


class Ingest:
    """One thread takes the drop folder, then moves the clock: a tick never overtakes a file being read, nor one
    still being written (for TICK_HOLD_SECONDS at most). A first tick that ran before a freshly written file would
    date the register at that moment and judge the whole file late: the register checks would wait out their hour
    of grace after it.

    The clock moves on even when the drop folder fails: a folder that cannot be read must not stop the deadlines.
    Either failing FAILING_PASSES times in a row makes /health degraded, naming it, until it goes through again.
    """

    def __init__(self, monitor: EmbeddedMonitor, folder: DropFolder, tick_seconds: float) -> None:
        self.monitor = monitor
        self.folder = folder
        self.tick_seconds = tick_seconds
        self.held_since: float | None = None
        self.failing: dict[str, tuple[int, datetime]] = {}  # "drop folder" or "clock": failures in a row, since

    def once(self) -> float:
        """One pass: the drop folder, then the clock; how long to wait before the next."""
        interval = self.tick_seconds if self.tick_seconds > 0 else 1.0
        try:
            self.folder.poll()
        except Exception as exc:
            self._failed("drop folder", exc)
        else:
            self._went_through("drop folder")
        if self.tick_seconds <= 0:
            return interval
        try:
            self.held_since = tick_held(self.folder, self.held_since, time.monotonic())
            if self.held_since is None:
                metrics.observe_step(self.monitor.tick())
            else:
                interval = min(interval, SETTLE_SECONDS / 2)  # take the file as soon as it settles
        except Exception as exc:
            self._failed("clock", exc)
        else:
            self._went_through("clock")
        return interval

    def _failed(self, what: str, exc: Exception) -> None:
        n, since = self.failing.get(what, (0, utcnow()))
        self.failing[what] = (n + 1, since)
        log.error("the %s failed (%d passes in a row); trying again on the next pass", what, n + 1, exc_info=exc)
        if n + 1 < FAILING_PASSES:
            return
        error = storable(f"{type(exc).__name__}: {exc}")
        at = since.isoformat(timespec="seconds")
        if what == "clock":
            warning = (f"the clock has failed its last {n + 1} moves (since {at}; {error}): event time stands "
                       "still, so no deadline falls due; it is tried again on every pass")  # fmt: skip
        else:
            warning = (f"the drop folder {shown(self.folder.inbox)} has failed its last {n + 1} passes (since {at}; "
                       f"{error}): its files wait in the inbox; it is tried again on every pass")  # fmt: skip
        self.monitor.warn(what, warning)

    def _went_through(self, what: str) -> None:
        if self.failing.pop(what, None) is not None:
            log.info("the %s works again", what)
            self.monitor.warn(what, None)

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            stop.wait(self.once())


def _let_uvicorn_return(signum: int, frame: object) -> None:
    """Take the signal uvicorn raises again once it has stopped serving (see `serve`)."""


class CannotListen(Exception):
    """The API's address cannot be bound (in use, or not this machine's)."""


def check_listen(host: str, port: int) -> None:
    """Fail before anything starts when the port is taken, with what to do about it."""
    import socket

    try:
        with socket.create_server((host, port)):
            pass
    except OSError as exc:
        raise CannotListen(
            f"cannot listen on {host}:{port} ({exc.strerror}): choose another port with --web-port "
            "(or MONITOR_WEB_PORT), or stop what is using it"
        ) from None


def serve(s: ServiceSettings, out: TextIO) -> None:
    """Run until interrupted: the API and console, the drop folder and the clock, and alert delivery."""
    import uvicorn

    check_listen(s.web_host, s.web_port)
    from service.api import build_api
    from service.outbox import Deliverer

    print(f"monitor: opening {s.db_path} ...", file=out, flush=True)
    started = time.perf_counter()
    monitor = open_monitor(s)
    print(f"monitor: {_opened(monitor)}, in {time.perf_counter() - started:.1f} s", file=out, flush=True)
    unset = unset_url_warning(monitor.sinks)
    if unset:  # as `monitor deliver` warns; /health says so too
        log.warning("%s", unset)
        print(f"monitor: warning: {unset}", file=out, flush=True)
    stop = threading.Event()
    folder = DropFolder(monitor, s.inbox_dir)

    threads = [
        threading.Thread(target=Ingest(monitor, folder, s.tick_seconds).run, args=(stop,), name="ingest", daemon=True)
    ]
    if monitor.sinks:
        deliverer = Deliverer(s.db_path, monitor.sinks, max_backoff=s.delivery_max_backoff)
        threads.append(threading.Thread(target=deliverer.run_forever, args=(stop,), name="deliver", daemon=True))
    for t in threads:
        t.start()
    print(
        f"monitor: embedded, state in {s.db_path}, drop folder {s.inbox_dir}\n"
        f"monitor: console {s.base_url}/console  API {s.base_url}/openapi.json  health {s.base_url}/health",
        file=out,
        flush=True,
    )
    app = build_api(monitor)
    config: dict[str, Any] = {"host": s.web_host, "port": s.web_port, "log_level": s.loglevel, "access_log": False}
    # uvicorn stops on SIGINT or SIGTERM and then raises the signal again: under the default handlers that ended
    # the process there, before the closing below (no snapshot saved, threads cut off). A handler that does
    # nothing lets uvicorn.run return; the defaults are back for the closing, so a second signal still ends it.
    handled = (signal.SIGINT, signal.SIGTERM) if threading.current_thread() is threading.main_thread() else ()
    previous = {sig: signal.signal(sig, _let_uvicorn_return) for sig in handled}
    try:
        uvicorn.run(app, **config)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        stop.set()
        for t in threads:
            t.join(timeout=10)
        monitor.close()
