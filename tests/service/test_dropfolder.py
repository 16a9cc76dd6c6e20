"""The drop folder: one bad line, file name or file never stops the files after it."""

from __future__ import annotations

import logging
import os
import stat
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest

from service import dropfolder
from service.dropfolder import DropFolder
from service.embedded import EmbeddedMonitor, StepResult
from service.store import Store


def _leaver(event_id: str, person: str = "p-0040") -> bytes:
    return (
        b'{"specversion":"1.0","id":"' + event_id.encode() + b'","source":"hr","type":"hr.leaver",'
        b'"time":"2026-11-02T08:00:00Z","data":{"person_id":"' + person.encode() + b'",'
        b'"leaving_at":"2026-12-20T17:00:00Z"}}\n'
    )


class Killed(BaseException):
    """kill -9: nothing after it runs (a BaseException, as the monitor's step lets it through after its rollback)."""


def _taken(m: EmbeddedMonitor, event_id: str) -> bool:
    return any(f'"id":"{event_id}"'.encode() in body for _, _, body in m.store.log())


def test_a_line_whose_id_is_a_lone_surrogate_is_rejected_and_the_rest_of_the_file_taken(
    make_monitor: Callable[..., EmbeddedMonitor], tmp_path: Path
) -> None:
    """`{"id":"x\\udc00"}` is valid JSON; its id, kept to name the rejected line by, is a lone surrogate, which UTF-8
    and so SQLite cannot hold. Storing the rejection raised, the batch rolled back and the engine was rebuilt, on
    every pass: the file never left the inbox and the valid line before it was never taken."""
    m = make_monitor()
    inbox = tmp_path / "inbox"
    folder = DropFolder(m, inbox)
    (inbox / "feed.jsonl").write_bytes(_leaver("hr-ok") + b'{"id":"x\\udc00"}\n')
    engine = m.engine
    assert folder.poll(now=time.time() + 5) == 1
    assert m.engine is engine  # no failed step, no rebuild
    assert [p.name for p in (inbox / "done").iterdir()] == ["feed.jsonl"]
    errors = (inbox / "rejected" / "feed.jsonl.errors").read_text()
    assert errors.startswith("line 2: not valid JSON (Invalid JSON: lone leading surrogate in hex escape")
    assert errors.endswith("(event x\\udc00)\n")  # the id named as its escape
    assert _taken(m, "hr-ok")
    assert m.store.rejections()[0]["event_id"] == "x\\udc00"


def test_a_file_whose_name_is_not_utf8_is_taken(make_monitor: Callable[..., EmbeddedMonitor], tmp_path: Path) -> None:
    """A name like b'caf\\xe9.jsonl' (Latin-1, from a Windows share) is text Python holds with a surrogate escape; the
    file's progress mark, named after it, could not be stored, so the file failed on every pass."""
    m = make_monitor()
    inbox = tmp_path / "inbox"
    folder = DropFolder(m, inbox)
    name = os.fsdecode(b"caf\xe9.jsonl")
    (inbox / name).write_bytes(_leaver("hr-cafe") + b"not json\n")
    assert folder.poll(now=time.time() + 5) == 1
    assert os.listdir(os.fsencode(inbox / "done")) == [b"caf\xe9.jsonl"]
    assert _taken(m, "hr-cafe")
    assert (inbox / "rejected" / f"{name}.errors").read_text().startswith("line 2: not valid JSON")
    assert m.store.rejections()[0]["origin"] == "caf\\xe9.jsonl"  # the name's bytes as escapes


def test_a_file_that_cannot_be_taken_is_set_aside_after_three_tries_and_the_files_after_it_are_taken(
    make_monitor: Callable[..., EmbeddedMonitor], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever makes taking one file fail (here a read error), the files after it are taken on the same pass; the
    file is tried again on the next passes and then moved to rejected/ with the reason, and /health names it until a
    file of that name is taken."""
    m = make_monitor()
    inbox = tmp_path / "inbox"
    folder = DropFolder(m, inbox)
    (inbox / "a.jsonl").write_bytes(_leaver("hr-a"))
    (inbox / "b.jsonl").write_bytes(_leaver("hr-b", "p-0041"))
    real = m.submit

    def failing(lines: Iterable[tuple[str, int | None, bytes]], actor: str, mark: tuple[str, str] | None = None
                ) -> StepResult:  # fmt: skip
        lines = list(lines)
        if any(origin == "a.jsonl" for origin, _, _ in lines):
            raise OSError("read error on a.jsonl")
        return real(lines, actor, mark)

    monkeypatch.setattr(m, "submit", failing)
    later = time.time() + 5
    assert folder.poll(now=later) == 1
    assert [p.name for p in (inbox / "done").iterdir()] == ["b.jsonl"] and _taken(m, "hr-b")
    assert (inbox / "a.jsonl").exists()  # tried again on the next pass
    folder.poll(now=later)
    assert (inbox / "a.jsonl").exists()
    folder.poll(now=later)  # the third failure in a row: set aside
    assert not (inbox / "a.jsonl").exists()
    assert (inbox / "rejected" / "a.jsonl").read_bytes() == _leaver("hr-a")  # as it was dropped
    errors = (inbox / "rejected" / "a.jsonl.errors").read_text()
    assert errors.startswith("file not taken (OSError: read error on a.jsonl; 3 tries)")
    (warning,) = m.warnings()
    assert "a.jsonl" in warning and "read error on a.jsonl" in warning
    monkeypatch.setattr(m, "submit", real)  # the cause fixed, the file put back
    (inbox / "rejected" / "a.jsonl").replace(inbox / "a.jsonl")
    assert folder.poll(now=later) == 1
    assert _taken(m, "hr-a") and m.warnings() == []


def test_the_lines_rejected_before_a_crash_are_listed_after_the_resume(
    make_monitor: Callable[..., EmbeddedMonitor], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reasons were kept in memory and written when the file ended: after a crash, the lines rejected in the
    batches already committed were never listed, since the resume starts after them."""
    monkeypatch.setattr(dropfolder, "BATCH", 1)
    m = make_monitor()
    inbox = tmp_path / "inbox"
    (inbox).mkdir()
    (inbox / "feed.jsonl").write_bytes(b'{"id":"bad-1","type":"nope"}\n' + _leaver("hr-ok"))
    real = m.submit
    calls = 0

    def dies_at_the_second_batch(*args: Any, **kw: Any) -> StepResult:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise Killed
        return real(*args, **kw)

    monkeypatch.setattr(m, "submit", dies_at_the_second_batch)
    with pytest.raises(Killed):
        DropFolder(m, inbox).poll(now=time.time() + 5)
    monkeypatch.setattr(m, "submit", real)
    assert DropFolder(m, inbox).poll(now=time.time() + 5) == 1  # the restarted monitor resumes at line 2
    assert _taken(m, "hr-ok")
    assert (inbox / "rejected" / "feed.jsonl.errors").read_text() == "line 1: unknown event type 'nope' (event bad-1)\n"


def test_the_lines_of_a_batch_whose_mark_a_crash_cut_off_are_listed_once(
    make_monitor: Callable[..., EmbeddedMonitor], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch's reasons are written before its progress mark commits, so a crash between the two loses none; the
    resume takes that batch again and lists its reasons once, not twice."""
    monkeypatch.setattr(dropfolder, "BATCH", 1)
    m = make_monitor()
    inbox = tmp_path / "inbox"
    (inbox).mkdir()
    (inbox / "feed.jsonl").write_bytes(
        b'{"id":"bad-1","type":"nope"}\n{"id":"bad-2","type":"nope"}\n' + _leaver("hr-ok")
    )
    real = Store.commit
    commits = 0

    def dies_at_the_second_commit(store: Store) -> None:
        nonlocal commits
        commits += 1
        if commits == 2:
            raise Killed
        real(store)

    monkeypatch.setattr(m.store, "commit", dies_at_the_second_commit.__get__(m.store))
    with pytest.raises(Killed):
        DropFolder(m, inbox).poll(now=time.time() + 5)
    monkeypatch.setattr(m.store, "commit", real.__get__(m.store))
    assert DropFolder(m, inbox).poll(now=time.time() + 5) == 1
    assert _taken(m, "hr-ok")
    assert (inbox / "rejected" / "feed.jsonl.errors").read_text() == (
        "line 1: unknown event type 'nope' (event bad-1)\nline 2: unknown event type 'nope' (event bad-2)\n"
    )
    assert [r["line"] for r in m.store.rejections()] == [2, 1]  # and the monitor's own list has each once


def test_an_id_with_a_line_break_is_listed_on_one_line(
    make_monitor: Callable[..., EmbeddedMonitor], tmp_path: Path
) -> None:
    """Each entry of NAME.errors is one line: a resume tells them apart by their line number (and an id must not
    write an entry of its own)."""
    m = make_monitor()
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "feed.jsonl").write_bytes(b'{"id":"bad\\nline 9: fine","type":"nope"}\n')
    assert DropFolder(m, inbox).poll(now=time.time() + 5) == 1
    assert (inbox / "rejected" / "feed.jsonl.errors").read_text().splitlines() == [
        "line 1: unknown event type 'nope' (event bad\\nline 9: fine)"
    ]


def test_the_drop_folder_s_folders_are_the_monitor_s_alone(
    make_monitor: Callable[..., EmbeddedMonitor], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """done/ keeps a copy of every event taken (HR's leaver reports among them) and rejected/ the reasons: under
    umask 022 they, and the inbox, were made drwxr-xr-x. Made now 0700; done/ and rejected/ made earlier are
    tightened (only the monitor uses them), an inbox made earlier is warned about (a feed from another account may
    write there)."""
    m = make_monitor()
    old = os.umask(0o022)
    try:
        DropFolder(m, tmp_path / "new")
        earlier = tmp_path / "earlier"
        for d in (earlier, earlier / "done", earlier / "rejected"):
            d.mkdir()
        with caplog.at_level(logging.WARNING, logger="service.store"):
            DropFolder(m, earlier)
    finally:
        os.umask(old)
    modes = {str(p.relative_to(tmp_path)): stat.S_IMODE(p.stat().st_mode) for p in sorted(tmp_path.glob("*/**"))}
    assert {k: v for k, v in modes.items() if k.startswith(("new", "earlier"))} == {
        "new": 0o700, "new/done": 0o700, "new/rejected": 0o700,
        "earlier": 0o755, "earlier/done": 0o700, "earlier/rejected": 0o700,
    }  # fmt: skip
    assert f"{earlier} may be read by other users (mode 755)" in caplog.text
