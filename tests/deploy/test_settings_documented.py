"""Every MONITOR_* setting a runtime reads is documented where its operators look: the deploy guide's settings table
(the Kafka workers and the deliverer), the README (the embedded monitor) and `monitor run --help` (both)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from service.settings import ServiceSettings
from streams.settings import StreamSettings
from tests.shared import REPO


def _env_names(model: Any) -> list[str]:
    prefix = model.model_config["env_prefix"]
    return [f"{prefix}{name}".upper() for name in model.model_fields]


def _help(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    from monitor import cli

    with pytest.raises(SystemExit):
        cli.main([*argv, "--help"])
    return " ".join(capsys.readouterr().out.split())  # argparse wraps lines wherever a name falls


def test_every_worker_setting_is_a_row_of_the_deploy_guide_s_settings_table() -> None:
    table = (REPO / "deploy" / "README.md").read_text().split("## Settings", 1)[1].split("\n## ", 1)[0]
    rows = set(re.findall(r"^\| `(MONITOR_[A-Z_]+)` \|", table, re.M))
    missing = [name for name in _env_names(StreamSettings) if name not in rows]
    assert not missing, f"deploy/README.md's settings table lacks {missing}"
    assert "MONITOR_SINKS" in rows  # `monitor deliver` reads it beside the settings


def test_every_embedded_setting_is_in_the_readme() -> None:
    readme = " ".join((REPO / "README.md").read_text().split())
    embedded = readme.split("Settings (flags or `MONITOR_*`):", 1)[1].split("## ", 1)[0]
    missing = [name for name in _env_names(ServiceSettings) if f"`{name}`" not in embedded]
    assert not missing, f"README's settings of the embedded monitor lack {missing}"


def test_monitor_run_help_names_every_setting_of_both_runtimes(capsys: pytest.CaptureFixture[str]) -> None:
    text = _help(capsys, "run")
    missing = sorted({n for m in (StreamSettings, ServiceSettings) for n in _env_names(m)} - set(re.findall(
        r"MONITOR_[A-Z_]+[A-Z]", text)))  # fmt: skip
    assert not missing, f"monitor run --help does not name {missing}"


@pytest.mark.parametrize("argv", [("advance",), ("deliver",), ("emergency", "request"), ("topics", "create")])
def test_kafka_commands_that_read_the_workers_group_or_make_topics_say_which_settings(
    capsys: pytest.CaptureFixture[str], argv: tuple[str, ...]
) -> None:
    """advance and emergency request wait for the workers' consumer group (MONITOR_APP_ID) to route the input, and
    deliver's group is named after it: run with another id than the workers', they would wait for a group that
    never commits. topics create reads MONITOR_REPLICATION."""
    text = _help(capsys, *argv)
    assert ("MONITOR_REPLICATION" if argv == ("topics", "create") else "MONITOR_APP_ID") in text, text
