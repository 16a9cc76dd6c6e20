"""Session-wide check: no token or secret is ever logged, by this process or by the monitors the tests start.

Every log record of the test process (INFO and up) is checked as it is emitted, and at the end every
`*.log` file the tests wrote under pytest's temporary folder (the logs of `monitor run` and the Kafka
workers). A token (`smon_` and 43 characters) or one of the canary secrets the tests send in is a
failure of the whole run, reported with where it was seen.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

SECRET = re.compile(r"smon_[A-Za-z0-9_-]{40,}|s3cr3t-canary-value|hunter2|SECRETVALUE")
_seen: list[str] = []


class _SecretScan(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:
            return
        if record.exc_info and record.exc_info[1] is not None:
            text += f" {record.exc_info[1]}"
        m = SECRET.search(text)
        if m:
            _seen.append(f"log record {record.name}:{record.lineno}: ...{text[max(0, m.start() - 40) : m.end()]}")


_handler = _SecretScan(level=logging.INFO)


def pytest_sessionstart(session: pytest.Session) -> None:
    root = logging.getLogger()
    root.addHandler(_handler)
    if root.level > logging.INFO or root.level == logging.NOTSET:
        root.setLevel(logging.INFO)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    logging.getLogger().removeHandler(_handler)
    factory = getattr(session.config, "_tmp_path_factory", None)
    if factory is not None:
        base = Path(factory.getbasetemp())
        for path in sorted(base.rglob("*.log")):
            text = path.read_text(errors="replace")
            for m in SECRET.finditer(text):
                _seen.append(f"{path}: ...{text[max(0, m.start() - 60) : m.end()]}")
    if _seen:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        lines = ["SECRETS IN LOGS (the run fails):", *_seen[:50]]
        if reporter is not None:
            reporter.write_line("\n".join(lines), red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(autouse=True)
def _own_cli_record(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test's `monitor hr` runs remember what they sent in a folder of their own, never the user's home."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("state")))
