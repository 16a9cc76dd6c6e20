"""bench/run_all.py judges the issue's targets from the results JSON: the verdicts must follow the figures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bench import run_all


def _write(folder: Path, name: str, data: dict[str, Any]) -> None:
    (folder / f"{name}.json").write_text(json.dumps(data))


def _latency(p99s: list[float], stalls: list[int]) -> dict[str, Any]:
    runs = [{"p50": 0.2, "p99": p, "max": p + 0.1, "producer_stalls": n} for p, n in zip(p99s, stalls, strict=True)]
    mid = sorted(p99s)[len(p99s) // 2]
    return {
        "lateness": "0s",
        "target_rate": 1000,
        "achieved_rate": 1000.0,
        "producer_stalls": {"over_s": 0.01, "count": 0, "max": 0.0},
        "alerts_topic_end_to_end": {"alert_versions": 3000, "p50": 0.2, "p99": mid, "max": mid + 0.1},
        "runs": runs,
    }


def _kafka(worker_vs_passthrough: float, p99s: list[float], stalls: list[int]) -> dict[str, Any]:
    return {
        "machine": {"cores": 2},
        "broker": "local KRaft broker",
        "events": 50_000,
        "runs": 3,
        "lateness": "5m",
        "worker_vs_passthrough": worker_vs_passthrough,
        "faust_vs_passthrough": 0.15,
        "worker_vs_faust_passthrough": 0.4,
        "latency": _latency(p99s, stalls),
    }


@pytest.fixture
def results(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(run_all, "RESULTS", tmp_path)
    monkeypatch.setattr(run_all, "README", tmp_path / "README.md")  # none: nothing kept from an earlier run
    return tmp_path


@pytest.mark.parametrize(
    ("values", "verdict"),
    [
        ([4.0, 3.0], "met"),
        ([6.0, 5.5], "missed"),
        ([4.0, 5.5], "1 of 2 met"),
        ([5.0], "met"),  # the bound itself passes a "≤" target
        ([None, 4.0], "met"),  # a figure not measured does not count either way
        ([None], "not measured"),
        ([], "not measured"),
    ],
)
def test_a_verdict_counts_the_figures_that_pass(values: list[float | None], verdict: str) -> None:
    assert run_all._verdict(values, lambda v: v <= 5) == verdict


def _row(lines: list[str], target: str) -> list[str]:
    found = [line for line in lines if line.startswith(f"| {target}")]
    assert len(found) == 1, (target, lines)
    return [cell.strip() for cell in found[0].strip("|").split("|")]


def test_the_latency_target_is_judged_from_the_median_p99(results: Path) -> None:
    _write(results, "kafka", _kafka(0.06, [0.43, 0.44, 0.45], [0, 0, 0]))
    lines = run_all._render_targets()
    assert _row(lines, "Event to alert p99")[1:] == ["0.44 s", "met"]
    assert _row(lines, "One Kafka worker")[2] == "missed"

    _write(results, "kafka", _kafka(0.6, [0.76, 1.05, 1.20], [0, 0, 0]))
    lines = run_all._render_targets()
    assert _row(lines, "Event to alert p99")[1:] == ["1.05 s", "missed"]
    assert _row(lines, "One Kafka worker")[2] == "met"


def test_no_results_give_no_targets_table_and_a_part_missing_gives_no_row(results: Path) -> None:
    assert run_all._render_targets() == []
    _write(results, "kafka", _kafka(0.06, [0.5, 0.5, 0.5], [0, 0, 0]))
    lines = run_all._render_targets()
    assert not any(line.startswith("| Replay") for line in lines)
    assert not any("Smoke runs" in line for line in lines)


def test_a_part_not_rerun_keeps_its_target_rows_as_the_readme_showed_them_marked_kept(results: Path) -> None:
    """Results are not committed, so a run of some parts on another day had no JSON for the rest: their rows went."""
    (results / "README.md").write_text("\n".join([
        "# Benchmarks", run_all.START, "### Targets at a glance", "", "| target | figures | |", "|---|---|---|",
        "| Replay ≤ 5 × the cost of parsing (`json.loads`) | demo month: 4.80; mix 1,000,000: 6.41 | 1 of 2 met |",
        "| One Kafka worker ≥ 0.5 of the aiokafka passthrough | 0.060 (Faust alone, forwarding only: 0.126) | missed |",
        "| ≤ 2 KB per account on disk (the state's snapshots) | engine snapshot at 10,000: 456 B; Kafka worker's "
        "snapshots at 100,000: 1,193 B | met |",
        "| A restarted Kafka worker recovers 100,000 accounts in < 30 s | from its snapshots 12.7 s | met (kept) |",
        "", run_all.END, "",
    ]))  # fmt: skip
    _write(results, "kafka", _kafka(0.07, [0.5, 0.5, 0.5], [0, 0, 0]))
    _write(results, "state", {"sizes": [{"accounts": 10_000, "engine_bytes_per_account": 7_900.0,
                                          "engine_snapshot_bytes_per_account": 404.0}]})  # fmt: skip
    lines = run_all._render_targets()
    assert _row(lines, "Replay ≤ 5")[1:] == ["demo month: 4.80; mix 1,000,000: 6.41", "1 of 2 met (kept)"]
    assert _row(lines, "One Kafka worker")[1:] == ["0.070 (Faust alone, forwarding only: 0.150)", "missed"]  # rerun
    assert _row(lines, "A restarted Kafka worker")[2] == "met (kept)"  # marked once, however often kept
    assert _row(lines, "≤ 2 KB per account on disk")[1:] == [
        "engine snapshot at 10,000: 404 B; Kafka worker's snapshots at 100,000 (kept): 1,193 B",
        "met",
    ]


def test_a_smoke_run_is_flagged_above_the_verdicts(results: Path) -> None:
    _write(results, "kafka", {**_kafka(0.06, [0.5, 0.5, 0.5], [0, 0, 0]), "quick": True})
    assert any(line.startswith("**Smoke runs (kafka)") for line in run_all._render_targets())


def test_the_latency_paragraph_gives_each_run_s_producer_stalls(results: Path) -> None:
    _write(results, "kafka", _kafka(0.06, [0.5, 0.7, 0.6], [2, 0, 1]))
    text = run_all.render()
    assert "p99 per run: 0.50s, 0.70s, 0.60s" in text
    assert "Sends that blocked the paced producer over 0.01 s, per run: 2, 0, 1." in text


def test_the_scaling_line_says_how_busy_the_cores_were_when_the_results_say(results: Path) -> None:
    scaling = {"events": 50_000, "runs": 3, "one_events_per_s": 1900.0, "two_events_per_s": 3260.0, "two_vs_one": 1.72}
    _write(results, "kafka", {**_kafka(0.06, [0.5, 0.5, 0.5], [0, 0, 0]), "scaling": scaling})
    assert "Cores kept busy" not in run_all.render()  # results from before the cores were measured

    cores = {"one_workers": 0.97, "one_machine": 1.31, "two_workers": 1.67, "two_machine": 1.98}
    _write(results, "kafka", {**_kafka(0.06, [0.5, 0.5, 0.5], [0, 0, 0]), "scaling": {**scaling, "cores_used": cores}})
    text = run_all.render()
    assert "one worker 0.97 (the whole machine 1.31); two workers 1.67 (the whole machine 1.98 of 2)." in text
    assert "**× 1.72** (target ≥ 1.8)." in text
