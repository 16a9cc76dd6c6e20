"""A replay warns when its input cannot give the alerts the user expects: events out of time order, or dated ahead."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from monitor.replay import _buffer_for, _readable
from tests.monitor.test_cli import DIRECTORY, LEAVER, monitor

LATER = {"specversion": "1.0", "id": "po-1", "source": "platform/x-audit", "type": "post.published",
         "time": "2026-11-09T10:00:00Z",
         "data": {"account_id": "acc-1", "actor_id": "p-2", "post_id": "x-1"}}  # fmt: skip


def _replay(tmp_path: Path, events: list[dict[str, object]], *flags: str) -> tuple[bytes, str]:
    (tmp_path / "register.yaml").write_text(DIRECTORY)
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    run = monitor("replay", "--directory", str(tmp_path / "register.yaml"), *flags, str(path))
    assert run.returncode == 0, run.stderr
    return run.stdout, run.stderr.decode()


def test_events_out_of_time_order_are_warned_about_with_the_lateness_that_takes_them_in_order(tmp_path: Path) -> None:
    in_order, err = _replay(tmp_path, [LEAVER, LATER])
    assert "warning" not in err
    late_first, err = _replay(tmp_path, [LATER, LEAVER])
    assert (
        "monitor: warning: 1 event came after the clock had passed its time (one by as much as 7d 1h): each was "
        "judged at its own time"
    ) in err
    assert "sort the input by time, or replay with --lateness 8d or more" in err
    assert late_first != in_order  # the leaver, judged late, misses what the register's checks saw in order
    buffered, err = _replay(tmp_path, [LATER, LEAVER], "--lateness", "8d")
    assert "warning" not in err and buffered == in_order


def test_an_event_dated_ahead_of_the_machines_clock_is_warned_about(tmp_path: Path) -> None:
    _, err = _replay(tmp_path, [LEAVER, dict(LATER, time="2062-11-09T10:00:00Z")])
    assert "monitor: warning: the latest event is dated 2062-11-09T10:00:00+00:00, after now (" in err
    assert "check that event's time (a typo in the year?)" in err


@pytest.mark.parametrize(
    ("behind", "buffer"),
    [
        (timedelta(seconds=0.2), "1s"),
        (timedelta(seconds=60), "60s"),
        (timedelta(seconds=61), "2m"),
        (timedelta(hours=1), "60m"),
        (timedelta(hours=1, seconds=1), "2h"),
        (timedelta(hours=60), "60h"),
        (timedelta(hours=60, seconds=1), "3d"),
        (timedelta(days=3650), "3650d"),
        (timedelta(days=3650, seconds=1), None),
    ],
)
def test_the_lateness_suggested_is_the_shortest_in_one_unit_that_covers_the_gap(
    behind: timedelta, buffer: str | None
) -> None:
    assert _buffer_for(behind) == buffer


def test_a_gap_reads_in_days_hours_minutes_and_seconds() -> None:
    assert _readable(timedelta(days=29, hours=13, minutes=52, seconds=51)) == "29d 13h 52m 51s"
    assert _readable(timedelta(hours=2)) == "2h"
    assert _readable(timedelta(milliseconds=250)) == "0.25s"


@pytest.mark.parametrize(
    ("content", "hint"),
    [
        (json.dumps([LEAVER]).encode(), "the file looks like a JSON array: replay reads JSONL, one event per line"),
        (json.dumps(LEAVER, indent=2).encode(), "the file looks like pretty-printed JSON: replay reads JSONL"),
        (json.dumps(LEAVER).encode("utf-16"), "the file looks UTF-16 encoded: events are read as UTF-8"),
    ],
    ids=["array", "pretty", "utf-16"],
)
def test_a_file_that_is_not_jsonl_is_refused_saying_what_it_looks_like(tmp_path: Path, content: bytes,
                                                                       hint: str) -> None:  # fmt: skip
    path = tmp_path / "events.json"
    path.write_bytes(content + b"\n")
    run = monitor("replay", str(path))
    assert run.returncode == 0, run.stderr
    first = next(line for line in run.stderr.decode().splitlines() if line.startswith(f"rejected {path}:1"))
    assert first.endswith(")") and hint in first
    assert sum(hint in line for line in run.stderr.decode().splitlines()) == 1  # the first line only


def test_the_hint_is_for_a_files_first_line_after_blank_ones_and_not_for_topic_offsets() -> None:
    from monitor.policy import load_profile
    from monitor.replay import build_engine, replay

    array = json.dumps([LEAVER]).encode()
    lines = [("a.json", 3, array), ("a.json", 4, array), ("b.json", 1, array), ("topic", 1, array)]
    result = replay(build_engine(load_profile("default"), None), lines[:3])
    assert ["JSON array" in r.reason for r in result.rejected] == [True, False, True]
    from_topic = replay(build_engine(load_profile("default"), None), lines[3:], files=False)
    assert "JSON array" not in from_topic.rejected[0].reason  # offset 1 of a topic is not a file's first line


def test_a_first_line_refused_for_its_content_gets_no_hint(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text(json.dumps(dict(LEAVER, type="hr.sacked")) + "\n")
    err = monitor("replay", str(path)).stderr.decode()
    assert f"rejected {path}:1 (id hr-1): unknown event type 'hr.sacked'\n" in err
