"""The demo university, generated once per test session, and embedded monitors over it."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.demo import write_demo
from monitor.policy import load_profile
from service.embedded import EmbeddedMonitor

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)  # the demo month is October 2026


@pytest.fixture(scope="session")
def demo_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(directory.yaml, events.jsonl) of the demo university's month."""
    return write_demo(tmp_path_factory.mktemp("demo"))


def demo_lines(events: Path) -> list[tuple[str, int | None, bytes]]:
    with events.open("rb") as fh:
        return [(events.name, n, line.strip()) for n, line in enumerate(fh, 1) if line.strip()]


@pytest.fixture
def make_monitor(tmp_path: Path, demo_files: tuple[Path, Path]) -> Iterator[Callable[..., EmbeddedMonitor]]:
    """A factory of embedded monitors on the demo register in this test's folder (closed at the end)."""
    opened: list[EmbeddedMonitor] = []

    def make(name: str = "monitor.db", **kw: object) -> EmbeddedMonitor:
        kw.setdefault("clock", lambda: NOW)
        m = EmbeddedMonitor(tmp_path / name, load_profile("default"), demo_files[0].read_text(), **kw)  # type: ignore[arg-type]
        opened.append(m)
        return m

    yield make
    for m in opened:
        with contextlib.suppress(Exception):  # already closed by the test
            m.close()
