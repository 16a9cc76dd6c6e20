"""The embedded runtime gives replay's alerts: in batches, across restarts, after a failed step, after kill -9."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from monitor.directory import DirectoryError, load_directory
from monitor.policy import load_profile
from monitor.replay import build_engine, read_lines, replay
from schemas.alerts import Alert
from schemas.directory import Directory
from service import embedded
from service.dropfolder import DropFolder
from service.embedded import CODE_VERSION, EmbeddedMonitor, InUse, StateMismatch
from service.store import Store, connect
from tests.service.conftest import NOW, demo_lines

END = datetime(2026, 10, 31, tzinfo=UTC)
LATENESS = timedelta(hours=1)


def replayed(demo_files: tuple[Path, Path], lateness: timedelta = LATENESS) -> list[Alert]:
    engine = build_engine(load_profile("default"), load_directory(demo_files[0]), lateness=lateness)
    with demo_files[1].open("rb") as fh:
        replay(engine, read_lines([("events", fh)]), until=END)
    return engine.final_alerts()


def as_json(alerts: list[Alert]) -> list[str]:
    return [a.model_dump_json() for a in alerts]


def test_batches_give_replay_s_alerts(
    make_monitor: Callable[..., EmbeddedMonitor], demo_files: tuple[Path, Path]
) -> None:
    m = make_monitor(lateness=LATENESS)
    lines = demo_lines(demo_files[1])
    for i in range(0, len(lines), 997):
        m.submit(lines[i : i + 997], "test")
    m.advance(END)
    assert as_json(m.final_alerts()) == as_json(replayed(demo_files))


def test_a_restart_folds_the_log_and_repeats_nothing(
    make_monitor: Callable[..., EmbeddedMonitor], demo_files: tuple[Path, Path]
) -> None:
    lines = demo_lines(demo_files[1])
    half = len(lines) // 2
    m = make_monitor(lateness=LATENESS)
    m.submit(lines[:half], "test")
    before = m.store.conn.execute("SELECT COUNT(*) FROM alert_versions").fetchone()[0]
    m.close()
    m = make_monitor(lateness=LATENESS)
    assert m.store.conn.execute("SELECT COUNT(*) FROM alert_versions").fetchone()[0] == before  # nothing re-emitted
    again = m.submit(lines[: half + 10], "test")  # a sender retrying what it is not sure of
    assert (again.accepted, again.duplicates) == (10, half)
    m.submit(lines[half + 10 :], "test")
    m.advance(END)
    assert as_json(m.final_alerts()) == as_json(replayed(demo_files))


def test_a_failed_step_leaves_no_trace(
    make_monitor: Callable[..., EmbeddedMonitor], demo_files: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = demo_lines(demo_files[1])
    m = make_monitor()
    m.submit(lines[:20_000], "test")
    log_size = m.store.log_size()
    real = Store.put_alert
    calls = 0

    def failing(self: Store, a: Alert) -> None:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise OSError("disk full")
        real(self, a)

    monkeypatch.setattr(Store, "put_alert", failing)
    with pytest.raises(OSError, match="disk full"):
        m.submit(lines[20_000:], "test")
    monkeypatch.setattr(Store, "put_alert", real)
    assert m.store.log_size() == log_size  # the whole batch rolled back...
    m.submit(lines[20_000:], "test")  # ...and the engine too: the same batch again is new, not duplicates
    m.advance(END)
    assert as_json(m.final_alerts()) == as_json(replayed(demo_files, timedelta(0)))


def test_an_event_stamped_far_ahead_is_refused_and_changes_nothing(
    make_monitor: Callable[..., EmbeddedMonitor], demo_files: tuple[Path, Path]
) -> None:
    """One event from next century (a wrong clock, or forged) would move event time there for good: every deadline
    due at once, every later event behind the clock. It is refused with its reason; the month gives replay's alerts."""
    lines = demo_lines(demo_files[1])
    m = make_monitor()
    m.submit(lines[:20_000], "test")
    forged = (
        b'{"specversion": "1.0", "id": "far-1", "source": "x/audit", "type": "post.published", '
        b'"time": "2099-11-01T00:00:00Z", "data": {"account_id": "acc-001"}}'
    )
    result = m.submit([("forged.jsonl", 1, forged)], "test")
    assert result.accepted == 0
    [rejection] = result.rejected
    assert rejection.event_id == "far-1"
    assert rejection.reason.startswith("time 2099-11-01T00:00:00+00:00 is 26,661 days ahead of its arrival at ")
    assert m.engine.clock is not None and m.engine.clock <= NOW
    m.submit(lines[20_000:], "test")
    m.advance(END)
    assert as_json(m.final_alerts()) == as_json(replayed(demo_files, timedelta(0)))


def test_another_policy_on_the_same_state_is_refused(
    make_monitor: Callable[..., EmbeddedMonitor], tmp_path: Path, demo_files: tuple[Path, Path]
) -> None:
    make_monitor().close()
    with pytest.raises(StateMismatch, match="was started with policy 'default', not 'bangor'"):
        EmbeddedMonitor(tmp_path / "monitor.db", load_profile("bangor"), demo_files[0].read_text())


def test_one_monitor_at_a_time_holds_a_data_folder(
    make_monitor: Callable[..., EmbeddedMonitor], tmp_path: Path, demo_files: tuple[Path, Path]
) -> None:
    first = make_monitor()
    with pytest.raises(InUse, match=rf"{tmp_path} is in use by another monitor \(pid {os.getpid()}\)"):
        EmbeddedMonitor(tmp_path / "monitor.db", load_profile("default"), demo_files[0].read_text())
    first.close()
    with pytest.raises(StateMismatch, match="not 'bangor'"):  # a start that fails lets go of the folder
        EmbeddedMonitor(tmp_path / "monitor.db", load_profile("bangor"), demo_files[0].read_text())
    again = EmbeddedMonitor(tmp_path / "monitor.db", load_profile("default"), demo_files[0].read_text())
    assert again.directory is not None
    again.close()


def test_a_later_start_reads_the_kept_register_not_the_yaml_and_a_bad_file_writes_nothing(
    tmp_path: Path, demo_files: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    text, db = demo_files[0].read_text(), tmp_path / "monitor.db"
    with pytest.raises(DirectoryError, match=r"^register.yaml:1: not valid YAML"):
        EmbeddedMonitor(db, load_profile("default"), "@" + text, directory_origin="register.yaml")
    assert not db.exists()  # a bad file on a first start leaves no state behind
    first = EmbeddedMonitor(db, load_profile("default"), text)
    first.close()
    parsed: list[str] = []
    real = embedded.parse_directory

    def counted(t: str, origin: str = "<directory>") -> Directory:
        parsed.append(origin)
        return real(t, origin)

    monkeypatch.setattr(embedded, "parse_directory", counted)
    for given in (None, text):  # without --directory, and with the same file again
        later = EmbeddedMonitor(db, load_profile("default"), given)
        assert later._directory is None  # not even read back until something needs it
        assert later.organisation == first.organisation
        assert later.directory == first.directory
        later.close()
    assert parsed == []
    # A kept form of other text (not this register's) is not trusted: the YAML is parsed again.
    store = Store(connect(db))
    store.begin()
    store.set_meta("directory_organisation", "0" * 64 + "\n{}")
    store.commit()
    store.conn.close()
    again = EmbeddedMonitor(db, load_profile("default"), None)
    assert again.directory == first.directory
    again.close()
    assert parsed == ["directory"]


def test_the_drop_folder_takes_files_lists_bad_lines_and_resumes(
    make_monitor: Callable[..., EmbeddedMonitor], tmp_path: Path, demo_files: tuple[Path, Path]
) -> None:
    m = make_monitor(lateness=LATENESS)
    inbox = tmp_path / "inbox"
    folder = DropFolder(m, inbox)
    raw = demo_files[1].read_bytes().splitlines(keepends=True)
    cut = len(raw) // 3
    bad = (
        b'{"specversion":"1.0","id":"x1","source":"s","type":"post.published","time":"2026-10-10T10:00:00Z",'
        b'"data":{"account_id":"acc-001","password":"hunter2"}}\n'
    )
    (inbox / "a.jsonl").write_bytes(b"".join(raw[:cut]) + bad + b"not json\n")
    (inbox / "b.jsonl").write_bytes(b"".join(raw[cut:]))
    assert folder.poll(now=time.time() + 5) == 2
    assert sorted(p.name for p in (inbox / "done").iterdir()) == ["a.jsonl", "b.jsonl"]
    errors = (inbox / "rejected" / "a.jsonl.errors").read_text()
    assert errors.splitlines()[0].startswith(f"line {cut + 1}: field 'data.password' looks like it holds a secret")
    assert errors.splitlines()[1].startswith(f"line {cut + 2}: not valid JSON")
    assert "hunter2" not in errors
    # The copy kept has the secret redacted and the line that is not JSON blanked, its numbering kept.
    kept = (inbox / "done" / "a.jsonl").read_bytes().splitlines(keepends=True)
    assert b"hunter2" not in b"".join(kept) and len(kept) == cut + 2
    assert kept[:cut] == raw[:cut] and kept[cut + 1] == b"\n"
    assert json.loads(kept[cut])["data"] == {"account_id": "acc-001", "password": "[REDACTED]"}
    assert (inbox / "done" / "b.jsonl").read_bytes() == b"".join(raw[cut:])  # nothing rejected: moved as it was
    m.advance(END)
    assert as_json(m.final_alerts()) == as_json(replayed(demo_files))
    m.close()
    stored = b"".join(f.read_bytes() for f in tmp_path.iterdir() if f.name.startswith("monitor.db"))
    assert b"hunter2" not in stored  # not in the log, the rejections or the audit


def test_a_secret_taken_before_a_crash_is_not_kept_in_done_either(
    make_monitor: Callable[..., EmbeddedMonitor], tmp_path: Path, demo_files: tuple[Path, Path]
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    path = inbox / "month.jsonl"
    secret = (
        b'{"specversion":"1.0","id":"x1","source":"s","type":"post.published","time":"2026-10-10T10:00:00Z",'
        b'"data":{"account_id":"acc-001","session_token":"s3cr3t"}}\n'
    )
    raw = demo_files[1].read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(raw[:10]) + secret + b"".join(raw[10:20]))
    m = make_monitor(lateness=LATENESS)
    st = path.stat()
    key = f"inbox:{path.name}:{st.st_size}:{st.st_mtime_ns}"
    m.submit(demo_lines(path)[:15], "drop-folder", mark=(key, "15"))  # the secret was judged before the crash
    m.close()
    m = make_monitor(lateness=LATENESS)
    DropFolder(m, inbox).poll(now=time.time() + 5)
    kept = (inbox / "done" / "month.jsonl").read_bytes()
    assert b"s3cr3t" not in kept and kept.count(b"\n") == 21 and b"[REDACTED]" in kept


def test_a_file_half_taken_before_a_crash_resumes_after_the_last_committed_line(
    make_monitor: Callable[..., EmbeddedMonitor], tmp_path: Path, demo_files: tuple[Path, Path]
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    path = inbox / "month.jsonl"
    path.write_bytes(demo_files[1].read_bytes())
    m = make_monitor(lateness=LATENESS)
    st = path.stat()
    lines = demo_lines(path)
    key = f"inbox:{path.name}:{st.st_size}:{st.st_mtime_ns}"
    m.submit(lines[:4000], "drop-folder", mark=(key, "4000"))  # what the folder had committed when it died
    m.close()
    m = make_monitor(lateness=LATENESS)
    DropFolder(m, inbox).poll(now=time.time() + 5)
    assert m.store.log_size() == len(lines)
    m.advance(END)
    assert as_json(m.final_alerts()) == as_json(replayed(demo_files))


# ----- the real process, killed ----------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(data: Path, directory: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "monitor.cli", "run", "--data-dir", str(data), "--directory", str(directory),
           "--lateness", "1h", "--tick-seconds", "0.2", "--web-port", str(port)]  # fmt: skip
    env = {**os.environ, "MONITOR_LOGLEVEL": "warning"}
    env.pop("MONITOR_BROKER", None)
    with log.open("ab") as out:
        return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)


def _health(port: int) -> dict[str, object] | None:
    try:
        return dict(httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).json())
    except (httpx.HTTPError, ValueError):
        return None


def test_kill_9_mid_stream_loses_and_repeats_nothing(tmp_path: Path, demo_files: tuple[Path, Path]) -> None:
    """The real `monitor run`, killed with SIGKILL three times while it takes the month from its drop folder."""
    data, log = tmp_path / "data", tmp_path / "monitor.log"
    inbox = data / "inbox"
    inbox.mkdir(parents=True)
    raw = demo_files[1].read_bytes().splitlines(keepends=True)
    step = len(raw) // 6 + 1
    for i in range(6):
        part = inbox / f"part-{i}.jsonl"
        part.write_bytes(b"".join(raw[i * step : (i + 1) * step]))
        os.utime(part, (time.time() - 60, time.time() - 60))  # settled: taken before the first tick
    port = _free_port()
    kills = 0
    deadline = time.monotonic() + 120
    while True:
        proc = _start(data, demo_files[0], port, log)
        try:
            target = (kills + 1) * len(raw) // 4
            while time.monotonic() < deadline:
                h = _health(port)
                if h is not None and (kills == 3 or int(h["log_entries"]) >= target):  # type: ignore[call-overload]
                    break
                if proc.poll() is not None:
                    pytest.fail(f"monitor exited with {proc.returncode}: {log.read_text()[-2000:]}")
                time.sleep(0.05)
            else:
                pytest.fail(f"monitor did not get going: {log.read_text()[-2000:]}")
            if kills == 3:
                break
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
            kills += 1
        except BaseException:
            proc.kill()
            raise
    try:
        while time.monotonic() < deadline and list(inbox.glob("*.jsonl")):
            time.sleep(0.1)
        assert not list(inbox.glob("*.jsonl")), "the drop folder was not emptied"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
    store = Store(connect(data / "monitor.db"))
    assert store.log_size() >= len(raw)
    events = [r for r in store.log() if r[1] == "event"]
    assert len(events) == len(raw)  # each event once: nothing lost, nothing taken twice
    got = {a.id: a for a in store.all_alerts()}
    versions = store.conn.execute("SELECT alert_id, updated_at, status, COUNT(*) FROM alert_versions GROUP BY 1, 2, 3")
    assert all(n == 1 for *_, n in versions)  # no alert version written twice
    # Live, the clock ran on to now (less the lateness): replay the same events to the same instant.
    clock = max(datetime.fromisoformat(b.decode()) for _, kind, b in store.log() if kind == "advance")
    engine = build_engine(load_profile("default"), load_directory(demo_files[0]), lateness=LATENESS)
    with demo_files[1].open("rb") as fh:
        replay(engine, read_lines([("events", fh)]), until=END)
    engine.advance(clock)
    want = {a.id: a for a in engine.final_alerts()}
    assert sorted(got) == sorted(want)
    assert [json.loads(got[k].model_dump_json()) for k in sorted(got)] == [
        json.loads(want[k].model_dump_json()) for k in sorted(want)
    ]


def test_a_start_restores_the_snapshot_and_folds_only_the_log_after_it(
    make_monitor: Callable[..., EmbeddedMonitor], demo_files: tuple[Path, Path]
) -> None:
    lines = demo_lines(demo_files[1])
    m = make_monitor(lateness=LATENESS, snapshot_every=5000)
    for i in range(0, len(lines), 1000):
        m.submit(lines[i : i + 1000], "test")
    snap = m.store.get_snapshot()
    assert snap is not None and 20_000 <= snap[0] < len(lines)
    m.close(snapshot=False)  # as a crash would: the snapshot is behind the log
    m = make_monitor(lateness=LATENESS, snapshot_every=5000)
    assert m._snapshot_seq == snap[0]
    assert m._directory is None  # a restore needs only the organisation, not the register read back
    m.advance(END)
    assert as_json(m.final_alerts()) == as_json(replayed(demo_files))
    assert as_json(m.read(lambda e, _: e.final_alerts())) == as_json(replayed(demo_files))


@pytest.mark.parametrize(
    ("damage", "said"),
    [("other code", "the snapshot was written by other code"), ("cut short", "the snapshot could not be restored")],
)
def test_a_snapshot_it_cannot_use_is_set_aside_and_the_whole_log_folded(
    make_monitor: Callable[..., EmbeddedMonitor],
    demo_files: tuple[Path, Path],
    caplog: pytest.LogCaptureFixture,
    damage: str,
    said: str,
) -> None:
    m = make_monitor(lateness=LATENESS)
    m.submit(demo_lines(demo_files[1]), "test")
    m.close()
    store = Store(connect(m.db_path))
    seq, code, blob = store.get_snapshot() or (0, "", b"")
    assert seq and code == CODE_VERSION
    if damage == "other code":
        store.put_snapshot(seq, "written-by-other-code", b"not a pickle")
    else:  # compressed, so a cut snapshot fails whole, as a damaged disk might leave it
        store.put_snapshot(seq, code, blob[: len(blob) // 2])
    store.conn.close()
    with caplog.at_level(logging.INFO, logger="service.embedded"):
        m = make_monitor(lateness=LATENESS)
    assert m._snapshot_seq == 0
    assert said in caplog.text
    m.advance(END)
    assert as_json(m.read(lambda e, _: e.final_alerts())) == as_json(replayed(demo_files))


def test_closing_saves_a_snapshot_only_when_none_is_near_the_end_of_the_log(
    make_monitor: Callable[..., EmbeddedMonitor], demo_files: tuple[Path, Path]
) -> None:
    lines = demo_lines(demo_files[1])

    def saved_at(m: EmbeddedMonitor) -> int | None:
        store = Store(connect(m.db_path))
        snap = store.get_snapshot()
        store.conn.close()
        return snap[0] if snap else None

    m = make_monitor(lateness=LATENESS, close_snapshot_after=100)
    m.submit(lines[:1000], "test")
    first = m.store.last_seq()
    m.close()  # no snapshot yet: one is saved
    assert saved_at(m) == first
    m = make_monitor(lateness=LATENESS, close_snapshot_after=100)
    m.submit(lines[1000:1050], "test")
    m.close()
    m.close()  # twice is harmless
    assert saved_at(m) == first  # 50 entries behind: folded on the next start instead
    m = make_monitor(lateness=LATENESS, close_snapshot_after=100)
    assert m._snapshot_seq == first
    m.submit(lines[1050:], "test")
    last = m.store.last_seq()
    m.close()
    assert last - first >= 100 and saved_at(m) == last
    m = make_monitor(lateness=LATENESS, close_snapshot_after=100)
    m.advance(END)
    assert as_json(m.read(lambda e, _: e.final_alerts())) == as_json(replayed(demo_files))


def test_the_drop_folder_takes_the_first_line_after_a_byte_order_mark(
    make_monitor: Callable[..., EmbeddedMonitor], tmp_path: Path
) -> None:
    m = make_monitor()
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    event = (b'{"specversion":"1.0","id":"bom-1","source":"hr","type":"hr.leaver","time":"2026-10-10T10:00:00Z",'
             b'"data":{"person_id":"p-0001","leaving_at":"2026-10-30T17:00:00Z"}}\n')  # fmt: skip
    (inbox / "excel.jsonl").write_bytes(b"\xef\xbb\xbf" + event)
    assert DropFolder(m, inbox).poll(now=time.time() + 5) == 1
    assert not (inbox / "rejected" / "excel.jsonl.errors").exists()
    assert any(b'"bom-1"' in body for _, _, body in m.store.log())


def test_an_id_utf8_cannot_hold_is_rejected_by_its_escape_and_its_batch_taken(
    make_monitor: Callable[..., EmbeddedMonitor],
) -> None:
    """A rejected event is named by its id, read with Python's own JSON decoder, which takes `"\\udc00"`: a lone
    surrogate that UTF-8, and so SQLite, cannot hold. Storing the rejection raised; the whole batch rolled back,
    the engine was rebuilt from the log, and the valid events with it were lost."""
    m = make_monitor()
    good = (b'{"specversion":"1.0","id":"hr-ok","source":"hr","type":"hr.leaver","time":"2026-11-02T08:00:00Z",'
            b'"data":{"person_id":"p-0040","leaving_at":"2026-12-20T17:00:00Z"}}')  # fmt: skip
    engine = m.engine
    result = m.submit([("api:hr-1", 1, good), ("api:hr-1", 2, b'{"id":"x\\udc00"}')], "hr-1")
    assert result.accepted == 1 and m.engine is engine
    ((line, event_id, reason),) = [(r.line, r.event_id, r.reason) for r in result.rejected]
    assert (line, event_id) == (2, "x\\udc00")
    assert reason.startswith("not valid JSON (Invalid JSON: lone leading surrogate in hex escape")
    assert m.store.rejections()[0]["event_id"] == "x\\udc00"
    # a progress mark named after a file whose name is not UTF-8 is kept and read back
    key = "inbox:" + os.fsdecode(b"caf\xe9.jsonl") + ":1:2"
    m.submit([], "drop-folder", mark=(key, "7"))
    assert m.progress(key) == "7"
