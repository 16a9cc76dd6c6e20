"""The input history's sort for `monitor replay --broker`: runs sorted into temporary files and merged."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import IO

import pytest

from streams import client
from streams.client import HistoryRecord, sorted_in_runs


def _records(n: int, seed: int = 3) -> list[HistoryRecord]:
    """Out-of-order records as the topics give them, with ties on time broken by partition and offset."""
    rng = random.Random(seed)
    times = [f"2026-11-{rng.randint(1, 3):02d}T00:00:{rng.randint(0, 9):02d}+00:00" for _ in range(n)]
    return [(t, f"signins:{i % 4}", i, b"x" * rng.randint(0, 40)) for i, t in enumerate(times)]


@pytest.fixture
def spills(monkeypatch: pytest.MonkeyPatch) -> list[IO[bytes]]:
    """The temporary files written, watched (not replaced) so a test sees that it spilled and that each was closed."""
    files: list[IO[bytes]] = []
    spill = client._spill

    def watched(held: list[HistoryRecord]) -> IO[bytes]:
        files.append(spill(held))
        return files[-1]

    monkeypatch.setattr(client, "_spill", watched)
    return files


def test_a_history_larger_than_its_runs_is_sorted_through_temporary_files_as_one_sort_would(
    spills: list[IO[bytes]],
) -> None:
    records = _records(2_000)
    merged = list(sorted_in_runs(iter(records), run_bytes=20_000))
    assert merged == sorted(records)
    assert len(spills) > 10
    assert all(fh.closed for fh in spills), "a run's file is closed once it has been merged"


def test_a_history_within_one_run_is_sorted_in_memory(spills: list[IO[bytes]]) -> None:
    records = _records(500)
    assert list(sorted_in_runs(iter(records), run_bytes=10**9)) == sorted(records)
    assert spills == []


def test_an_error_reading_the_history_is_raised_before_the_merge_and_closes_the_runs(spills: list[IO[bytes]]) -> None:
    def failing() -> Iterator[HistoryRecord]:
        yield from _records(1_000)
        raise TimeoutError("signins not read to the end")

    with pytest.raises(TimeoutError, match="not read to the end"):
        sorted_in_runs(failing(), run_bytes=20_000)
    assert spills and all(fh.closed for fh in spills)
