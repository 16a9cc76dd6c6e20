"""The monitor's SQLite file: its folder and its files are for the monitor's user alone."""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from service.store import Store, connect


@pytest.fixture
def usual_umask() -> Iterator[None]:
    """The umask most systems give (022): what a file or folder made without a mode of its own is open to."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def _modes(folder: Path) -> dict[str, int]:
    return {p.name: stat.S_IMODE(p.stat().st_mode) for p in (folder, *folder.iterdir())}


def test_a_new_database_and_its_folder_are_the_monitor_s_alone(tmp_path: Path, usual_umask: None) -> None:
    """Under umask 022 the database and the -wal and -shm files SQLite makes beside it were -rw-r--r--, and the data
    folder drwxr-xr-x: any local user could read the HR leaver reports, alerts, audit trail and token hashes."""
    db = tmp_path / "data" / "monitor.db"
    store = Store(connect(db))
    store.begin()
    store.set_meta("k", "v")
    store.commit()
    assert _modes(db.parent) == {"data": 0o700, "monitor.db": 0o600, "monitor.db-wal": 0o600, "monitor.db-shm": 0o600}
    store.conn.close()


def test_a_database_open_to_others_is_tightened_and_its_folder_warned_about(
    tmp_path: Path, usual_umask: None, caplog: pytest.LogCaptureFixture
) -> None:
    """A data folder made by an earlier version: its database files are the monitor's alone, so they are made 0600;
    the folder is left as it is, with a warning (an account that feeds the drop folder inside it may need to reach
    it)."""
    data = tmp_path / "data"
    data.mkdir()
    earlier = sqlite3.connect(data / "monitor.db")  # as the earlier version made it, and still open: -wal and -shm
    earlier.execute("PRAGMA journal_mode=WAL")
    earlier.execute("CREATE TABLE t (x)")
    assert set(_modes(data).values()) == {0o755, 0o644}
    with caplog.at_level(logging.WARNING, logger="service.store"):
        conn = connect(data / "monitor.db")
    assert _modes(data) == {"data": 0o755, "monitor.db": 0o600, "monitor.db-wal": 0o600, "monitor.db-shm": 0o600}
    assert f"{data} may be read by other users (mode 755)" in caplog.text
    conn.close()
    earlier.close()
