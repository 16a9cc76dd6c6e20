"""The `monitor` command as a user runs it: output, summary, exit codes."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from monitor.rules import RULES
from tests.shared import REPO

DIRECTORY = """\
organisation: {domains: [uni.example.ac.uk]}
people:
  - {person_id: p-1, email: p1@uni.example.ac.uk}
  - {person_id: p-2, email: p2@uni.example.ac.uk}
accounts:
  - {account_id: acc-1, platform: x, handle: UniNews, registration_email: social@uni.example.ac.uk,
     credential_model: shared_credential, mfa_enabled: true, central: true, approved_by: p-9,
     emergency_access: escrow, admins: [p-1, p-2], manager: p-2}
"""
LEAVER = {"specversion": "1.0", "id": "hr-1", "source": "hr", "type": "hr.leaver", "time": "2026-11-02T09:00:00Z",
          "data": {"person_id": "p-1", "leaving_at": "2026-11-06T17:00:00Z"}}  # fmt: skip


def monitor(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "monitor.cli", *args], input=stdin, capture_output=True, cwd=REPO,
                          timeout=120)  # fmt: skip


def _files(tmp_path: Path) -> tuple[Path, Path]:
    directory = tmp_path / "register.yaml"
    directory.write_text(DIRECTORY)
    events = tmp_path / "events.jsonl"
    bad_type = dict(LEAVER, id="hr-2", type="hr.sacked")
    secret = dict(LEAVER, id="hr-3", data={"person_id": "p-2", "leaving_at": "2026-11-06T17:00:00Z", "pin": "1"})
    events.write_text("\n".join([json.dumps(LEAVER), json.dumps(bad_type), "", "{oops", json.dumps(secret)]) + "\n")
    return directory, events


def test_replay_writes_alerts_and_a_summary_naming_each_rejected_line(tmp_path: Path) -> None:
    directory, events = _files(tmp_path)
    run = monitor("replay", "--directory", str(directory), "--until", "2026-11-08T00:00:00Z", str(events))
    assert run.returncode == 0, run.stderr
    alerts = [json.loads(line) for line in run.stdout.splitlines()]
    # p-1 left: access not removed (LVR-01), not replaced before going (LVR-04), one admin left (DIR-02)
    assert sorted(a["control"] for a in alerts) == ["DIR-02", "LVR-01", "LVR-04"]
    lvr = next(a for a in alerts if a["control"] == "LVR-01")
    assert lvr["person_id"] == "p-1" and lvr["policy"] == "default" and lvr["evidence"] == ["hr-1"]
    err = run.stderr.decode()
    assert "3 rejected" in err
    assert f"rejected {events}:2 (id hr-2): unknown event type 'hr.sacked'" in err
    assert f"rejected {events}:4: not valid JSON" in err
    assert f"rejected {events}:5 (id hr-3): field 'data.pin' looks like it holds a secret" in err
    assert "LVR-01 1" in err


def test_replay_reads_standard_input_and_sorts_by_raised_at_then_id(tmp_path: Path) -> None:
    directory, events = _files(tmp_path)
    run = monitor("replay", "--directory", str(directory), "--until", "2026-12-30T00:00:00Z", stdin=events.read_bytes())
    assert run.returncode == 0
    alerts = [json.loads(line) for line in run.stdout.splitlines()]
    keys = [(a["raised_at"], a["id"]) for a in alerts]
    assert keys == sorted(keys) and len(alerts) >= 1


def test_bad_arguments_policy_or_directory_exit_2_with_the_reason(tmp_path: Path) -> None:
    _, events = _files(tmp_path)
    broken = tmp_path / "broken.yaml"
    broken.write_text(DIRECTORY.replace("mfa_enabled: true", "mfa_enabled: maybe"))
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"a:\xff\n")
    cases = [
        (("replay", "--policy", "nope", str(events)), "no profile named 'nope'"),
        (("replay", "--directory", str(broken), str(events)), f"{broken}:7: accounts.0.mfa_enabled"),
        (("replay", "--until", "tomorrow", str(events)), "should be an RFC 3339 time"),
        (("replay", "--until", "2026-11-08T00:00:00", str(events)), "needs a time zone offset"),
        (("replay", str(tmp_path / "missing.jsonl")), "missing.jsonl: cannot read"),
        (("policy", "validate", str(broken)), "broken.yaml:1:"),
        (("policy", "validate", str(binary)), "binary.yaml: not UTF-8 text (byte 2)"),
        (("run", "--data-dir", str(events), "--web-port", "65000"), "data folder: a file is there, not a folder"),
        (("token", "create", "p-1", "--role", "hr", "--data-dir", str(events / "x")), "data folder: Not a directory"),
    ]
    for args, reason in cases:
        run = monitor(*args)
        assert run.returncode == 2, (args, run.stderr)
        assert reason in run.stderr.decode(), (args, run.stderr)


def test_run_refuses_a_sink_url_it_cannot_use_naming_the_variable_never_the_url(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A URL httpx cannot parse failed every delivery, retried for ever, with only 'request failed (InvalidURL)'
    on /health: the start refuses it, naming the variable (the URL may hold a secret, so it is not shown)."""
    import service.runner
    from monitor import cli

    served: list[object] = []
    monkeypatch.setattr(service.runner, "serve", lambda s, out: served.append(s))
    monkeypatch.setattr(os, "_exit", served.append)  # what `run` ends with once served
    sinks = tmp_path / "sinks.yaml"
    sinks.write_text("sinks:\n  - {name: siem, kind: webhook, url_env: SIEM_WEBHOOK_URL}\n")
    base = ["run", "--sinks", str(sinks), "--data-dir", str(tmp_path / "d"), "--web-port", "65003"]
    deliver = ["deliver", "--sinks", str(sinks), "--outbox", str(tmp_path / "delivery.db")]  # before any broker
    for url in ("https://hooks.example.org:SECRET/x", "https://hooks.example.org/SECRET\nx", "hooks.example/SECRET"):
        monkeypatch.setenv("SIEM_WEBHOOK_URL", url)
        for argv in [base] + ([deliver] if importlib.util.find_spec("kafka") else []):
            assert cli.main(argv) == 2, (argv[0], url)
            err = capsys.readouterr().err
            assert "sink siem: environment variable SIEM_WEBHOOK_URL" in err, err
            assert "SECRET" not in err and "hooks.example" not in err, err
    assert served == []
    assert not (tmp_path / "d").exists() and not (tmp_path / "delivery.db").exists()


# Every option that takes a time, with the arguments its command needs besides.
TIME_OPTIONS = [
    ("--until", ["replay"]),
    ("--until", ["report", "leavers"]),
    ("--leaving-at", ["hr", "leaver", "p-1"]),
    ("--effective-at", ["hr", "mover", "p-1", "--new-role", "lecturer"]),
    ("--time", ["directory", "publish", "register.yaml"]),
    ("--until", ["advance"]),
]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("2026-11-30T00:00Z", "should be an RFC 3339 time with seconds and an offset, e.g. 2026-11-02T09:00:00Z"),
        ("2026-11-30T00:00:00+0100", "should be an RFC 3339 time with seconds and an offset"),
        ("2026-W48-1T00:00:00Z", "should be an RFC 3339 time with seconds and an offset"),
        ("0001-01-01T00:00:00Z", "is out of range: event times must lie in the years 1900 to 8999"),
        ("2026-11-30T00:00:00", "needs a time zone offset (RFC 3339), e.g. 2026-11-02T09:00:00Z"),
    ],
)
def test_time_options_refuse_what_event_times_refuse_naming_the_option(
    text: str, reason: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from monitor import cli

    for option, command in TIME_OPTIONS:
        with pytest.raises(SystemExit) as exited:
            cli.build_parser().parse_args([*command, option, text])
        assert exited.value.code == 2
        assert f"argument {option}: {text!r} {reason}" in capsys.readouterr().err, (option, command)


def test_time_options_take_what_event_times_take_as_the_same_instant_in_utc() -> None:
    from datetime import UTC, datetime

    from monitor import cli

    taken = [
        ("2026-11-30t00:00:00z", datetime(2026, 11, 30, tzinfo=UTC)),
        ("2026-11-30T01:00:00.5+01:00", datetime(2026, 11, 30, 0, 0, 0, 500000, tzinfo=UTC)),
    ]
    for text, utc in taken:
        for option, command in TIME_OPTIONS:
            args = vars(cli.build_parser().parse_args([*command, option, text]))
            assert args[option.lstrip("-").replace("-", "_")] == utc, (option, command)


def test_leaver_report_policy_and_schema_commands(tmp_path: Path) -> None:
    directory, events = _files(tmp_path)
    report = monitor("report", "leavers", "--directory", str(directory), "--until", "2026-11-08T00:00:00Z", str(events))
    assert report.returncode == 0 and b"p-1" in report.stdout and b"acc-1" in report.stdout
    assert b"overdue" in report.stdout
    listing = monitor("policy", "list")
    assert listing.returncode == 0 and all(n.encode() in listing.stdout for n in ("default", "london-met", "bangor"))
    shown = monitor("policy", "show", "london-met")
    assert shown.returncode == 0 and b"LVR-01" in shown.stdout and b"003 \xc2\xa75.4" in shown.stdout
    out = tmp_path / "schemas"
    assert monitor("schema", "export", str(out)).returncode == 0
    assert json.loads((out / "hr.leaver.json").read_text())["properties"]["type"]["const"] == "hr.leaver"
    assert len(list(out.glob("*.json"))) == 31


def test_leaver_report_without_a_register_says_it_found_leavers_but_could_check_no_account(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from monitor import cli

    events = tmp_path / "leaver.jsonl"
    events.write_text(json.dumps(LEAVER) + "\n")
    assert cli.main(["report", "leavers", str(events)]) == 0
    out = capsys.readouterr().out
    assert "No leavers or movers on record" not in out
    assert "1 leaver found (p-1), but no register was given, so no account could be checked" in out
    assert "--directory FILE" in out
    assert re.search(r"\np-1 +leaver +\(none\) .* not in the register ", out), out  # HR's report arrived: its row
    assert cli.main(["report", "leavers", "--json", str(events)]) == 0  # the row, with no account; the note on stderr
    printed = capsys.readouterr()
    [row] = [json.loads(line) for line in printed.out.splitlines()]
    assert (row["person_id"], row["account_id"], row["status"]) == ("p-1", None, "not in the register")
    assert "monitor: note: 1 leaver found (p-1), but no register was given" in printed.err
    directory, _ = _files(tmp_path)
    stranger = dict(LEAVER, data={"person_id": "p-7", "leaving_at": "2026-11-06T17:00:00Z"})
    events.write_text(json.dumps(stranger) + "\n")
    assert cli.main(["report", "leavers", "--directory", str(directory), str(events)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"\np-7 +leaver +\(none\) .* not in the register ", out), out
    assert "1 leaver found (p-7), but no account the monitor knows of gives them a role, seat or credential" in out
    events.write_text("")
    assert cli.main(["report", "leavers", str(events)]) == 0
    assert "No leavers or movers on record." in capsys.readouterr().out


def test_readme_controls_table_matches_the_rules() -> None:
    readme = (REPO / "README.md").read_text()
    for cid, spec in RULES.items():
        row = f"| {cid} | {spec.severity or 'report'} | {spec.title} |"
        assert row in readme, f"README's controls table is out of date for {cid}: want {row!r}"


def test_readme_says_what_scripts_demo_runs() -> None:
    """The quick start's "within about ten seconds" holds for scripts/demo's short lateness and tick only."""
    import re

    script = (REPO / "scripts" / "demo").read_text()
    (line,) = [x for x in script.splitlines() if x.startswith("exec .venv/bin/monitor run --demo")]
    flags = re.sub(r'"\$\{MONITOR_DATA_DIR:-monitor-demo\}"', "monitor-demo", line)
    flags = flags.removeprefix("exec .venv/bin/").removesuffix(' "$@"')
    readme = " ".join((REPO / "README.md").read_text().split())
    assert f"`scripts/demo` runs `{flags}`" in readme, flags


def test_a_broker_that_does_not_answer_is_said_in_words_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("kafka", reason="needs the 'kafka' extra")
    from kafka.errors import KafkaTimeoutError  # type: ignore[import-untyped, unused-ignore]

    import monitor.cli_kafka
    import streams.topics
    from monitor import cli

    def no_broker(*_: object) -> None:
        raise KafkaTimeoutError("Unable to bootstrap from 127.0.0.1:1")

    monkeypatch.setattr(monitor.cli_kafka, "reach_broker", lambda s: None)  # a broker that took the connection

    monkeypatch.setattr(streams.topics, "create_topics", no_broker)
    assert cli.main(["topics", "create", "--broker", "kafka://127.0.0.1:1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("monitor: the broker did not answer: KafkaTimeoutError: Unable to bootstrap from 127.0.0.1:1")
    assert "Traceback" not in err

    def broken(*_: object) -> None:
        raise RuntimeError("a bug, not the broker")

    monkeypatch.setattr(streams.topics, "create_topics", broken)
    with pytest.raises(RuntimeError, match="a bug, not the broker"):  # anything else is not dressed up as the broker
        cli.main(["topics", "create", "--broker", "kafka://127.0.0.1:1"])


def test_schemas_cannot_be_written_where_a_file_is(tmp_path: Path) -> None:
    taken = tmp_path / "taken"
    taken.write_text("")
    run = monitor("schema", "export", str(taken / "schemas"))
    assert run.returncode == 2 and b"cannot write there: Not a directory" in run.stderr


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("notaurl", "'notaurl' is not the monitor's address: write http://HOST:PORT (--url or MONITOR_URL)"),
        ("ftp://host", "'ftp://host' is not the monitor's address"),
        ("http://127.0.0.1:1", "cannot reach the monitor at http://127.0.0.1:1 (ConnectError): is it running there?"),
    ],
    ids=["not-a-url", "not-http", "nothing-there"],
)
def test_a_monitor_address_that_is_wrong_is_said_with_what_to_write(
    url: str, said: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from monitor import cli

    monkeypatch.setenv("MONITOR_TOKEN", "not-a-real-token")
    assert cli.main(["alerts", "list", "--url", url]) == 2
    assert capsys.readouterr().err.startswith(f"monitor: {said}")


def test_a_worker_refuses_a_register_policy_or_data_folder_it_cannot_use_before_it_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("faust", reason="a worker needs the 'kafka' extra")
    from monitor import cli

    broken = tmp_path / "register.yaml"
    broken.write_text("organisation: {domains: [a.org]\n")
    base = ["run", "--broker", "kafka://127.0.0.1:1", "--data-dir", str(tmp_path / "w"), "--web-port", "65001"]
    assert cli.main([*base, "--directory", str(broken)]) == 2  # no broker asked: it would take 30 s to give up
    assert capsys.readouterr().err.startswith(f"monitor: {broken}:2: not valid YAML: expected ',' or '}}'")
    assert cli.main([*base, "--policy", "nope"]) == 2
    assert capsys.readouterr().err.startswith("monitor: no profile named 'nope'")
    taken = tmp_path / "a-file"
    taken.write_text("")
    assert cli.main([*base[:3], "--data-dir", str(taken / "w"), "--web-port", "65001"]) == 2  # not a traceback
    assert capsys.readouterr().err.startswith(f"monitor: cannot use {taken / 'w'} as the data folder: ")


def test_replay_reads_standard_input_even_with_a_broker_in_the_environment() -> None:
    """Only --broker makes replay read the Kafka runtime's topics: MONITOR_BROKER, exported for the other commands,
    never silently replaces the events piped in."""
    import os

    env = {**os.environ, "MONITOR_BROKER": "kafka://127.0.0.1:1"}  # nothing listens there
    out = subprocess.run([sys.executable, "-m", "monitor.cli", "replay"], input=json.dumps(LEAVER).encode() + b"\n",
                         capture_output=True, cwd=REPO, env=env, timeout=120)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert b"1 line, 1 event processed" in out.stderr and b"broker" not in out.stderr


def test_a_retention_check_the_broker_refuses_is_a_warning_not_a_stop(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import streams.topics
    from monitor.cli_kafka import warn_config

    def refused(_: object) -> list[str]:
        raise PermissionError("DescribeConfigs denied")

    monkeypatch.setattr(streams.topics, "config_problems", refused)
    warn_config(object())
    assert capsys.readouterr().err.startswith("monitor: warning: could not read the topics' settings")
    monkeypatch.setattr(streams.topics, "config_problems", lambda _: ["topic t deletes messages"])
    warn_config(object())
    assert capsys.readouterr().err == "monitor: warning: topic t deletes messages\n"


def test_a_lockouts_file_that_cannot_be_written_is_refused_before_the_replay(tmp_path: Path) -> None:
    directory, events = _files(tmp_path)
    run = monitor("replay", "--directory", str(directory), "--lockouts", "/nonexistent/x.jsonl", str(events))
    assert run.returncode == 2, run.stderr
    assert run.stderr.decode() == "monitor: /nonexistent/x.jsonl: cannot write there: no folder /nonexistent\n"
    assert run.stdout == b""  # refused before any work, not after it
    run = monitor("replay", "--lockouts", str(tmp_path), str(events))
    assert run.returncode == 2 and b"a folder is there, not a file" in run.stderr


def test_durations_have_a_maximum_everywhere_they_are_read(tmp_path: Path) -> None:
    _, events = _files(tmp_path)
    too_long = "'99999999w' is too long; at most 3650d (ten years)"
    run = monitor("replay", "--lateness", "99999999w", str(events))
    assert run.returncode == 2 and too_long in run.stderr.decode() and b"Traceback" not in run.stderr
    run = monitor("run", "--lateness", "99999999w", "--data-dir", str(tmp_path / "d"), "--web-port", "65002")
    assert run.returncode == 2, run.stderr
    assert f"monitor: bad setting: lateness: Value error, {too_long}" in run.stderr.decode()
    assert not (tmp_path / "d").exists()
    profile = tmp_path / "p.yaml"
    profile.write_text((REPO / "monitor/policies/default.yaml").read_text().replace("leaver_deadline: 24h",
                       "leaver_deadline: 99999999w"))  # fmt: skip
    run = monitor("policy", "validate", str(profile))
    assert run.returncode == 2 and f"parameters.leaver_deadline: {too_long}" in run.stderr.decode(), run.stderr


@pytest.mark.parametrize("days", ["0", "-3", "367"])
def test_the_demo_needs_a_sensible_number_of_days(days: str) -> None:
    run = monitor("demo", "--days", days)
    assert run.returncode == 2 and b"Traceback" not in run.stderr
    assert b"argument --days: " in run.stderr and b"the demo covers 1 to 366 days" in run.stderr


@pytest.mark.parametrize("command", [("alerts", "list"), ("lockouts", "list")])
@pytest.mark.parametrize("limit", ["0", "1001", "ten"])
def test_a_list_limit_out_of_range_is_refused_before_asking_anybody(command: tuple[str, str], limit: str) -> None:
    """The API refuses such a limit; with --broker nothing did (a broker that cannot be reached: none is asked)."""
    run = monitor(*command, "--limit", limit, "--broker", "kafka://127.0.0.1:1")
    assert run.returncode == 2 and b"argument --limit: " in run.stderr and b"Traceback" not in run.stderr, run.stderr


@pytest.mark.parametrize("limit", ["0", "-3"])
def test_a_dead_letter_limit_below_one_is_refused_before_asking_anybody(limit: str) -> None:
    """-3 was taken and showed nothing, as if there were no refused messages."""
    run = monitor("dead-letters", "--limit", limit, "--broker", "kafka://127.0.0.1:1")
    assert run.returncode == 2 and b"argument --limit: " in run.stderr and b"1 refused message or more" in run.stderr


@pytest.mark.parametrize(
    ("before", "after", "said"),
    [
        ("leaver_deadline: 24h", "leaver_deadline: 24", "parameters.leaver_deadline: 24 has no unit; write a whole "
         "number and a unit s, m, h, d or w, e.g. '24h'"),
        ("emergency_default: 4h", "emergency_default: 48h", "parameters: emergency_default 2d is above "
         "emergency_max 24h"),
    ],
    ids=["no-unit", "default-above-max"],
)  # fmt: skip
def test_a_policy_file_needs_units_and_an_emergency_default_within_the_maximum(
    tmp_path: Path, before: str, after: str, said: str
) -> None:
    text = (REPO / "monitor/policies/default.yaml").read_text()
    assert before in text
    profile = tmp_path / "p.yaml"
    profile.write_text(text.replace(before, after))
    run = monitor("policy", "validate", str(profile))
    assert run.returncode == 2 and said in run.stderr.decode(), run.stderr
    assert b"ok" not in run.stdout


def test_token_commands_refuse_a_folder_with_no_monitor_and_a_token_needs_a_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from monitor import cli

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MONITOR_DATA_DIR", raising=False)
    for argv in (["token", "list"], ["token", "revoke", "p-1"], ["token", "list", "--data-dir", "/nonexistent/x"]):
        assert cli.main(argv) == 2, argv
        folder = argv[-1] if "--data-dir" in argv else "monitor-data"
        assert capsys.readouterr().err == (f"monitor: no monitor in {folder} (no monitor.db there): give the monitor's "
                                           "data folder with --data-dir (or MONITOR_DATA_DIR)\n")  # fmt: skip
    assert list(tmp_path.iterdir()) == []  # nothing made in the wrong place
    for name in ("", "  "):
        assert cli.main(["token", "create", name, "--role", "hr", "--data-dir", "d"]) == 2
        assert capsys.readouterr().err.startswith(f"monitor: {name!r} is not a name")
    assert cli.main(["token", "create", "p-1", "--role", "hr", "--data-dir", "d"]) == 0  # a first setup may make it
    out, err = capsys.readouterr()
    assert out.startswith("smon_") and err.startswith("monitor: no monitor in d yet: starting a new data folder there")
    assert cli.main(["token", "list", "--data-dir", "d"]) == 0
    assert capsys.readouterr().out.startswith("p-1 ")


def test_an_until_before_the_last_event_is_warned_about_not_silently_ignored(tmp_path: Path) -> None:
    directory, events = _files(tmp_path)
    for cmd in (("replay",), ("report", "leavers")):
        run = monitor(*cmd, "--directory", str(directory), "--until", "2026-11-01T00:00:00Z", str(events))
        assert run.returncode == 0, run.stderr
        assert ("monitor: warning: --until 2026-11-01T00:00:00+00:00 is before the last event "
                "(2026-11-02T09:00:00+00:00): every event was taken and the clock ends at the last event") in (
                run.stderr.decode())  # fmt: skip
    later = monitor("replay", "--directory", str(directory), "--until", "2026-11-08T00:00:00Z", str(events))
    assert b"warning" not in later.stderr


def test_replay_takes_the_first_event_after_a_byte_order_mark(tmp_path: Path) -> None:
    events = tmp_path / "bom.jsonl"
    events.write_bytes(b"\xef\xbb\xbf" + json.dumps(LEAVER).encode() + b"\n")
    run = monitor("replay", str(events))
    assert run.returncode == 0 and b"1 line, 1 event processed" in run.stderr and b"0 rejected" in run.stderr


def test_alerts_list_help_says_the_order_of_the_table_and_of_json() -> None:
    import re

    shown = re.sub(r"\s+", " ", monitor("alerts", "list", "--help").stdout.decode())
    assert "within each, most severe first, then oldest first. --json writes them newest first" in shown
    assert "one JSON object per alert, newest first" in shown
    assert "alerts, newest first" not in re.sub(r"\s+", " ", monitor("alerts", "--help").stdout.decode())


def test_the_leaver_report_lists_its_rejected_lines_and_summaries_say_which_events_are_the_registers(
    tmp_path: Path,
) -> None:
    directory, events = _files(tmp_path)
    report = monitor("report", "leavers", "--directory", str(directory), "--until", "2026-11-08T00:00:00Z", str(events))
    err = report.stderr.decode()
    assert report.returncode == 0 and "3 rejected" in err
    assert f"rejected {events}:2 (id hr-2): unknown event type 'hr.sacked'" in err
    assert f"rejected {events}:4: not valid JSON" in err
    run = monitor("replay", "--directory", str(directory), str(events))  # 1 event taken, 6 the register's
    assert "replay: 4 lines, 7 events processed (6 from the register), 0 duplicates" in run.stderr.decode()


def test_replay_and_report_on_empty_standard_input_while_monitor_broker_is_set_say_the_topics_were_not_read() -> None:
    """The Kafka section has MONITOR_BROKER exported, which the people's commands follow but replay and report do
    not: from cron (standard input empty) the report said 'No leavers or movers on record', exit 0, and no more."""
    import os

    env = {**os.environ, "MONITOR_BROKER": "kafka://127.0.0.1:1"}
    note = ("monitor: warning: standard input held no events, and the Kafka runtime's topics were not read: "
            "MONITOR_BROKER is set, but replay and report read them only with --broker")  # fmt: skip
    for argv in (["report", "leavers"], ["replay"]):
        run = subprocess.run([sys.executable, "-m", "monitor.cli", *argv], input=b"", capture_output=True, cwd=REPO,
                             env=env, timeout=120)  # fmt: skip
        assert run.returncode == 0 and note in run.stderr.decode(), (argv, run.stderr)
    env.pop("MONITOR_BROKER")
    quiet = subprocess.run([sys.executable, "-m", "monitor.cli", "replay"], input=b"", capture_output=True, cwd=REPO,
                           env=env, timeout=120)  # fmt: skip
    assert "MONITOR_BROKER" not in quiet.stderr.decode()


def test_kafka_commands_say_which_broker_at_once_and_fail_fast_when_none_answers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    from monitor import cli

    pytest.importorskip("kafka", reason="needs the 'kafka' extra (without it, each says so: the test below)")
    monkeypatch.delenv("MONITOR_BROKER", raising=False)
    directory, events = _files(tmp_path)
    broker = ["--broker", "kafka://127.0.0.1:1"]  # nothing listens there
    sinks = tmp_path / "sinks.yaml"
    sinks.write_text("sinks:\n  - {name: siem, kind: webhook, url_env: SIEM_WEBHOOK_URL}\n")
    monkeypatch.setenv("SIEM_WEBHOOK_URL", "https://hooks.example.org/siem")
    for argv in (["topics", "create"], ["publish", str(events)], ["dead-letters"],
                 ["advance", "--until", "2026-11-08T00:00:00Z"],
                 # the people's commands too, which the Kafka clients kept silent for 30 s before "did not answer"
                 ["alerts", "list"], ["alerts", "ack", "al-1", "--by", "ann"],
                 ["alerts", "resolve", "al-1", "--by", "ann", "--note", "done"], ["lockouts", "list"],
                 ["hr", "leaver", "p-1", "--leaving-at", "2026-11-06T17:00:00Z"],
                 ["hr", "mover", "p-1", "--effective-at", "2026-11-06T17:00:00Z", "--new-role", "Lecturer"],
                 ["emergency", "request", "acc-1", "--reason", "hacked", "--by", "p-1"],
                 ["directory", "publish", str(directory)], ["directory", "import", str(directory)],
                 ["directory", "export"], ["report", "leavers"], ["replay"],
                 ["run", "--data-dir", str(tmp_path / "worker")],  # a worker too, before its topic checks
                 ["deliver", "--sinks", str(sinks), "--outbox", str(tmp_path / "delivery.db")]):  # fmt: skip
        started = time.monotonic()
        assert cli.main([*argv, *broker]) == 2, argv
        assert time.monotonic() - started < 10, argv
        err = capsys.readouterr().err
        said = ("connecting to kafka://127.0.0.1:1 ...\nmonitor: cannot reach the broker at kafka://127.0.0.1:1 "
                "(127.0.0.1:1: Connection refused): check --broker")  # fmt: skip
        assert said in err, (argv, err)  # after any warning about the file itself (directory import)


@pytest.fixture
def published(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """What `monitor publish` sends, to a stand-in producer: no broker is asked."""
    import streams.client
    from monitor import cli_kafka

    pytest.importorskip("kafka", reason="needs the 'kafka' extra")
    sent: list[bytes] = []
    monkeypatch.setattr(cli_kafka, "reach_broker", lambda s: None)
    monkeypatch.setattr(streams.client, "publish", lambda s, lines, topic=None: len(sent.extend(lines) or sent))
    return sent


def test_publish_sends_only_lines_the_router_takes_and_names_each_refused_one_a_secret_never_reaching_a_topic(
    tmp_path: Path, published: list[bytes], capsys: pytest.CaptureFixture[str]
) -> None:
    from monitor import cli

    sent = published
    _, events = _files(tmp_path)  # line 1 a leaver, 2 an unknown type, 3 blank, 4 not JSON, 5 a secret ("pin")
    assert cli.main(["publish", str(events), "--broker", "kafka://127.0.0.1:1"]) == 2  # as a rejected HR report
    assert sent == [json.dumps(LEAVER).encode()]  # the line carrying a PIN stays off the (kept for ever) topic
    err = capsys.readouterr().err.splitlines()
    assert [line.split(": not sent: ")[0] for line in err[:3]] == [f"monitor: {events}:{n}" for n in (2, 4, 5)]
    assert "unknown event type 'hr.sacked'" in err[0] and "not valid JSON" in err[1] and "'data.pin'" in err[2]
    assert err[3:] == [f"{events}: sent 1 event; 3 lines refused, not sent"]


def test_publish_refuses_an_event_stamped_further_ahead_of_now_than_the_workers_take(
    tmp_path: Path, published: list[bytes], capsys: pytest.CaptureFixture[str]
) -> None:
    """The worker would dead-letter it against the message's timestamp (now): said here, with its line."""
    from monitor import cli

    ahead = json.dumps({**LEAVER, "id": "hr-ahead", "time": "2099-11-01T00:00:00Z"})
    events = tmp_path / "ahead.jsonl"
    events.write_text(json.dumps(LEAVER) + "\n" + ahead + "\n")
    assert cli.main(["publish", str(events), "--broker", "kafka://127.0.0.1:1"]) == 2
    assert published == [json.dumps(LEAVER).encode()]
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith(f"monitor: {events}:2: not sent: time 2099-11-01T00:00:00+00:00 is ")
    assert "ahead of its arrival at " in err[0] and "more than the 1h taken (MONITOR_MAX_AHEAD)" in err[0]


def test_directory_publish_refuses_a_time_the_workers_would_refuse_every_event_for(
    tmp_path: Path, published: list[bytes], capsys: pytest.CaptureFixture[str]
) -> None:
    """--time next century: every directory.* event would be dead-lettered, and it said 'sent N directory events'."""
    from monitor import cli

    directory, _ = _files(tmp_path)
    argv = ["directory", "publish", str(directory), "--broker", "kafka://127.0.0.1:1", "--time", "2099-11-01T00:00:00Z"]
    assert cli.main(argv) == 2 and published == []
    err = capsys.readouterr().err
    assert "--time 2099-11-01T00:00:00+00:00 is more than 1h after now (" in err and "nothing was sent" in err


def test_publish_sends_nothing_when_one_of_its_files_cannot_be_read(
    tmp_path: Path, published: list[bytes], capsys: pytest.CaptureFixture[str]
) -> None:
    """It sent the files before the unreadable one, so sending all again once the name was right sent those twice."""
    from monitor import cli

    sent = published
    _, events = _files(tmp_path)
    missing = tmp_path / "missing.jsonl"
    assert cli.main(["publish", str(events), str(missing), "--broker", "kafka://127.0.0.1:1"]) == 2
    assert sent == []
    assert capsys.readouterr().err == f"monitor: {missing}: cannot read: No such file or directory\n"


def test_hr_reports_on_kafka_say_which_registered_accounts_the_person_reaches_or_that_the_register_lacks_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """As against the embedded monitor: a mistyped id was sent in silence, and raised nothing, ever."""
    from datetime import UTC, datetime
    from types import SimpleNamespace

    import streams.client
    from monitor import cli, cli_kafka
    from monitor.directory import directory_events, load_directory

    pytest.importorskip("kafka", reason="needs the 'kafka' extra")
    directory, _ = _files(tmp_path)
    register = [e.model_dump_json().encode() for e in directory_events(load_directory(directory),
                                                                        datetime(2026, 11, 1, tzinfo=UTC))]  # fmt: skip
    sent: list[bytes] = []
    monkeypatch.setattr(cli_kafka, "reach_broker", lambda s: None)  # the clients are stand-ins: no broker is asked
    monkeypatch.setattr(streams.client, "send_one", lambda s, raw: (SimpleNamespace(topic="m.hr"), sent.append(raw)))
    monkeypatch.setattr(streams.client, "input_history", lambda s, topics, progress, ahead: [
        ("m.directory:0", n, raw) for n, raw in enumerate(register)])  # fmt: skip
    broker = ["--broker", "kafka://127.0.0.1:1"]
    for person, told in [
        ("p-1", "p-1 reaches 1 registered account: acc-1; the monitor checks that each loses their access"),
        ("p-9", "monitor: note: the register's directory does not name p-9, so no account of theirs is known"),
    ]:
        assert cli.main(["hr", "leaver", person, "--leaving-at", "2026-11-06T17:00:00Z", *broker]) == 0
        out = capsys.readouterr()
        assert told in out.out + out.err, out
    assert len(sent) == 2  # the report on someone the register lacks is still sent, as the embedded monitor keeps it


def test_advance_does_not_claim_to_have_moved_a_clock_past_it_and_warns_of_a_time_after_the_wall_clock(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """An engine's clock only moves forward (and the wall clock moves it on), so 'advanced to' a past time was untrue;
    a time ahead of the wall clock makes every event late until then, and went without a word; a mistyped year was
    sent with only that warning."""
    from datetime import UTC, datetime, timedelta

    import streams.client
    from monitor import cli, cli_kafka

    pytest.importorskip("kafka", reason="needs the 'kafka' extra")
    monkeypatch.setattr(cli_kafka, "reach_broker", lambda s: None)  # the clients are stand-ins: no broker is asked
    monkeypatch.setattr(streams.client, "wait_routed", lambda s, timeout, report: None)
    monkeypatch.setattr(streams.client, "send_advance", lambda s, until: {0: 5, 1: 7})
    broker = ["--broker", "kafka://127.0.0.1:1"]
    assert cli.main(["advance", "--until", "2026-11-01T00:00:00Z", *broker]) == 0
    err = capsys.readouterr().err
    assert ("sent to 2 work partitions: each moves its event time to 2026-11-01T00:00:00+00:00 unless it is past "
            "that already") in err and "advanced to" not in err and "warning" not in err  # fmt: skip
    soon = (datetime.now(UTC) + timedelta(minutes=30)).isoformat()
    assert cli.main(["advance", "--until", soon, *broker]) == 0
    err = capsys.readouterr().err
    assert "monitor: warning: that is after the wall clock (" in err
    assert "every event the workers take is judged late" in err
    # past MONITOR_MAX_AHEAD (1h) it is refused before anything is sent: a mistyped year cannot be taken back
    monkeypatch.setattr(streams.client, "send_advance", lambda s, until: pytest.fail("sent"))
    assert cli.main(["advance", "--until", "2099-11-01T00:00:00Z", *broker]) == 2
    err = capsys.readouterr().err
    assert err.startswith("monitor: --until 2099-11-01T00:00:00+00:00 is ") and "days ahead of the wall clock (" in err
    assert "more than the 1h taken (MONITOR_MAX_AHEAD): event time only moves forward" in err


def test_an_emergency_request_on_kafka_not_routed_in_time_says_so_in_one_sentence(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import streams.client
    from monitor import cli, cli_kafka

    pytest.importorskip("kafka", reason="needs the 'kafka' extra")

    def not_routed(*args: Any, **kwargs: Any) -> None:
        raise TimeoutError("1 input message still not routed after 10s; is a worker running?")

    monkeypatch.setattr(cli_kafka, "reach_broker", lambda s: None)  # the clients are stand-ins: no broker is asked
    monkeypatch.setattr(streams.client, "request_emergency_access", not_routed)
    argv = ["emergency", "request", "acc-1", "--reason", "hacked", "--by", "p-1", "--broker", "kafka://127.0.0.1:1"]
    assert cli.main(argv) == 1
    err = capsys.readouterr().err
    assert "sent, but not decided (1 input message still not routed after 10s; is a worker running?). EMG-02" in err
    assert "?." not in err.replace("?).", "")


# What an event may carry in an id: a window title set, the screen cleared, a fake all-clear in red.
HOSTILE = "d\x1b]0;owned\x07\x1b[2J\x1b[1;31mFAKE: all clear\x1b[0m"
# Control characters (C0 but newline, DEL, C1) and bidirectional overrides: none may reach the terminal raw.
RAW = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
SHOWN = "d\\u001b]0;owned\\u0007\\u001b[2J\\u001b[1;31mFAKE: all clear\\u001b[0m"


def test_event_text_from_the_kafka_topics_reaches_the_terminal_as_visible_escapes(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """An emergency's grant or refusal and an alert resolved already, as the topics have them: their ids, reasons and
    names are anyone's text, printed raw they could clear the screen and forge lines."""
    import streams.client
    from monitor import cli, cli_kafka

    pytest.importorskip("kafka", reason="needs the 'kafka' extra")
    monkeypatch.setattr(cli_kafka, "reach_broker", lambda s: None)  # the clients are stand-ins: no broker is asked
    lockout = {"id": f"lk-{HOSTILE}", "reason": f"because {HOSTILE}\nforged", "actions": [HOSTILE], "notify": [HOSTILE]}
    refusal = {"id": f"al-{HOSTILE}", "control": "EMG-02", "severity": "high", "summary": f"refused {HOSTILE}"}
    argv = ["emergency", "request", "acc-1", "--reason", "hacked", "--by", "p-1", "--broker", "kafka://127.0.0.1:1"]
    for decision, code in ((streams.client.EmergencyDecision(True, lockout), 0),
                           (streams.client.EmergencyDecision(False, refusal), 2)):  # fmt: skip
        monkeypatch.setattr(streams.client, "request_emergency_access", lambda *a, decision=decision, **kw: decision)
        assert cli.main(argv) == code
        out, err = capsys.readouterr()
        assert not RAW.search(out + err), repr(out + err)
        assert SHOWN in (out if code == 0 else err), (out, err)
    done = {"id": f"al-{HOSTILE}", "control": "LVR-01", "updated_at": "2026-11-03T10:00:00+01:00",
            "resolved_by": HOSTILE, "note": HOSTILE}  # fmt: skip
    monkeypatch.setattr(streams.client, "act_on_alert", lambda *a, **kw: pytest.fail("nothing to send"))
    base = ["--broker", "kafka://127.0.0.1:1", "--by", "bob"]
    for status, act in (("resolved", ["resolve", done["id"], *base, "--note", "again"]),
                        ("acknowledged", ["ack", done["id"], *base])):  # fmt: skip
        monkeypatch.setattr(streams.client, "current_alerts", lambda s, st=status: ([{**done, "status": st}], []))
        assert cli.main(["alerts", *act]) == 0
        out, err = capsys.readouterr()
        assert not RAW.search(out + err), (act[0], repr(out + err))
        assert out.startswith(f"al-{SHOWN} LVR-01 {status}"), (act[0], out, err)


def test_acting_on_kafka_under_the_monitor_s_own_name_is_refused_before_the_broker_is_asked(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from monitor import cli, cli_kafka

    monkeypatch.setattr(cli_kafka, "broker_settings", lambda args: pytest.fail("the broker was asked"))
    argv = ["alerts", "resolve", "al-1", "--broker", "kafka://127.0.0.1:1", "--by", " monitor", "--note", "done"]
    assert cli.main(argv) == 2
    assert "--by monitor is the name the monitor resolves alerts under" in capsys.readouterr().err


def test_resolving_a_resolved_alert_on_kafka_says_by_whom_and_when_and_that_its_note_is_unchanged(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import streams.client
    from monitor import cli, cli_kafka

    resolved = {"id": "al-1", "control": "LVR-01", "status": "resolved", "updated_at": "2026-11-03T10:00:00+01:00",
                "resolved_by": "ann", "note": "done"}  # fmt: skip
    monkeypatch.setattr(streams.client, "current_alerts", lambda s: ([resolved], []))
    monkeypatch.setattr(cli_kafka, "reach_broker", lambda s: None)  # the clients are stand-ins: no broker is asked
    monkeypatch.setattr(streams.client, "act_on_alert", lambda *a, **kw: pytest.fail("nothing to send"))
    argv = ["alerts", "resolve", "al-1", "--broker", "kafka://127.0.0.1:1", "--by", "bob", "--note"]
    assert cli.main([*argv, "again"]) == 0
    assert capsys.readouterr().out == ("al-1 LVR-01 resolved already, by ann at 2026-11-03 09:00Z: nothing changed, "
                                       "its note stays 'done' (yours, 'again', was not kept)\n")  # fmt: skip


def test_resolving_on_kafka_strips_the_note_and_tells_of_a_resolution_by_someone_else_in_between(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import streams.client
    from monitor import cli, cli_kafka

    sent: list[Any] = []
    open_ = {"id": "al-1", "control": "LVR-01", "status": "open", "updated_at": "2026-11-03T09:00:00+00:00"}
    theirs = {**open_, "status": "resolved", "resolved_by": "ann", "note": "done"}
    monkeypatch.setattr(streams.client, "current_alerts", lambda s: ([open_], []))
    monkeypatch.setattr(cli_kafka, "reach_broker", lambda s: None)  # the clients are stand-ins: no broker is asked
    monkeypatch.setattr(streams.client, "act_on_alert", lambda s, action, timeout: sent.append(action) or theirs)
    argv = ["alerts", "resolve", "al-1", "--broker", "kafka://127.0.0.1:1", "--by", "bob", "--note", "  again  "]
    assert cli.main(argv) == 0
    assert sent[0].note == "again"
    assert capsys.readouterr().out == ("al-1 LVR-01 resolved already, by ann at 2026-11-03 09:00Z: nothing changed, "
                                       "its note stays 'done' (yours, 'again', was not kept)\n")  # fmt: skip
    mine = {**theirs, "resolved_by": "bob", "note": "again"}
    monkeypatch.setattr(streams.client, "act_on_alert", lambda s, action, timeout: mine)
    assert cli.main(argv) == 0
    assert capsys.readouterr().out == "al-1 LVR-01 resolved\n"


def test_kafka_commands_without_the_kafka_extra_say_how_to_install_it_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from monitor import cli

    monkeypatch.setitem(sys.modules, "kafka", None)  # as if kafka-python were not installed
    monkeypatch.delitem(sys.modules, "streams.client", raising=False)  # so that it imports kafka again
    monkeypatch.delenv("MONITOR_BROKER", raising=False)
    directory, events = _files(tmp_path)
    broker = ["--broker", "kafka://127.0.0.1:1"]  # nothing listens there: none is asked
    for argv in (["directory", "publish", str(directory)], ["replay"], ["publish", str(events)], ["run"]):
        assert cli.main([*argv, *broker]) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("monitor: the Kafka runtime needs the 'kafka' extra: pip install -e '.[kafka]' ("), argv
        assert len(err.splitlines()) == 1, (argv, err)


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
@pytest.mark.parametrize("buffered", [True, False], ids=["buffered", "unbuffered"])
def test_standard_output_that_cannot_be_written_is_said_in_one_line_and_a_closed_pipe_quietly(buffered: bool) -> None:
    import os

    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    if not buffered:
        env["PYTHONUNBUFFERED"] = "1"
    command = [sys.executable, "-m", "monitor.cli"]
    # a short output, one over a buffer's worth, and help (printed before a command runs)
    for argv in (["policy", "list"], ["policy", "show", "default"], ["--help"]):
        with open("/dev/full", "w") as full:
            run = subprocess.run([*command, *argv], stdout=full, stderr=subprocess.PIPE,
                                 cwd=REPO, env=env, timeout=120)  # fmt: skip
        assert run.stderr.decode() == "monitor: standard output: cannot write there: No space left on device\n", argv
        assert run.returncode == 2, argv
        read, write = os.pipe()
        os.close(read)  # the reader went away, as `| head` does
        try:
            run = subprocess.run([*command, *argv], stdout=write, stderr=subprocess.PIPE, cwd=REPO, env=env,
                                 timeout=120)  # fmt: skip
        finally:
            os.close(write)
        assert (run.returncode, run.stderr) == (0, b""), argv


def test_an_oserror_that_is_not_standard_outputs_is_not_reported_as_one(monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    from monitor import cli

    def failing(_: object) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(cli, "cmd_policy_list", failing)
    with pytest.raises(OSError, match="No space left"):
        cli.main(["policy", "list"])
    assert sys.stdout is not None and not isinstance(sys.stdout, cli._Stdout)  # put back as it was


def test_files_and_folders_that_cannot_be_written_are_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from monitor import cli

    monkeypatch.delenv("MONITOR_BROKER", raising=False)
    monkeypatch.setattr(cli, "_call", lambda args, fn, *_: "people: []\n")  # the monitor's answer to an export
    directory, events = _files(tmp_path)
    posted = dict(LEAVER, id="x-1", source="x", type="post.published", time="2026-11-07T09:00:00Z",
                  data={"account_id": "acc-1", "person_id": "p-1"})  # fmt: skip
    events.write_text(json.dumps(LEAVER) + "\n" + json.dumps(posted) + "\n")  # posted after leaving: a lockout
    taken = tmp_path / "taken"
    taken.write_text("")
    a_file = "cannot write there: a file is there, not a folder"
    a_folder = "cannot write there: a folder is there, not a file"
    full = "/dev/full: cannot write there: No space left on device"
    cases = [
        (["demo", "--days", "1", "--out", str(taken)], f"{taken}: {a_file}"),
        (["schema", "export", str(taken)], f"{taken}: {a_file}"),
        (["directory", "export", "-o", str(tmp_path)], f"{tmp_path}: {a_folder}"),
        (["directory", "export", "-o", "/nonexistent/dir/x.yaml"],
         "/nonexistent/dir/x.yaml: cannot write there: no folder /nonexistent/dir"),
    ]  # fmt: skip
    if Path("/dev/full").exists():  # writable, until written: the disk is full
        cases += [
            (["directory", "export", "-o", "/dev/full"], full),
            (["replay", "--directory", str(directory), "--lockouts", "/dev/full", str(events)], full),
        ]
    for argv, said in cases:
        assert cli.main(argv) == 2, argv
        assert capsys.readouterr().err.splitlines()[-1] == f"monitor: {said}", argv
    assert taken.read_text() == ""


def test_token_create_refuses_a_data_folder_that_is_a_file_without_first_saying_it_starts_one_there(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from monitor import cli

    taken = tmp_path / "taken"
    taken.write_text("")
    assert cli.main(["token", "create", "p-1", "--role", "hr", "--data-dir", str(taken)]) == 2
    assert capsys.readouterr().err == (f"monitor: cannot use {taken} as the data folder: a file is there, not a "
                                       "folder; choose another with --data-dir (or MONITOR_DATA_DIR)\n")  # fmt: skip


@pytest.mark.parametrize("limit", ["0", "-5"])
def test_the_demo_table_shows_at_least_one_alert(limit: str) -> None:
    run = monitor("demo", "--days", "1", "--limit", limit)
    assert run.returncode == 2 and b"Traceback" not in run.stderr, run.stderr
    assert f"argument --limit: {limit}: the table shows 1 alert or more".encode() in run.stderr


@pytest.mark.parametrize("role", ["", "  "])
def test_a_mover_needs_a_new_role_that_is_not_blank(role: str) -> None:
    run = monitor("hr", "mover", "p-1", "--effective-at", "2026-11-02T09:00:00Z", "--new-role", role,
                  "--url", "http://127.0.0.1:1")  # fmt: skip
    assert run.returncode == 2 and f"argument --new-role: {role!r} is blank".encode() in run.stderr, run.stderr


def test_counts_are_singular_for_one_and_an_empty_alert_count_has_no_parentheses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import monitor.replay
    from monitor import cli

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MONITOR_DATA_DIR", raising=False)
    monkeypatch.setattr(monitor.replay, "MAX_KEPT_REJECTIONS", 1)
    one = tmp_path / "one.jsonl"
    one.write_text(json.dumps(LEAVER) + "\n")  # no register: nobody's access to check
    assert cli.main(["replay", str(one)]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("replay: 1 line, 1 event processed, 0 duplicates ignored, 0 rejected, 0 late, in ")
    assert err[2] == "alerts: 0"
    twice = tmp_path / "twice.jsonl"
    twice.write_text(json.dumps(LEAVER) + "\n" + json.dumps(LEAVER) + "\n{oops\n{oops\n")
    assert cli.main(["replay", str(twice)]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("replay: 4 lines, 1 event processed, 1 duplicate ignored, 2 rejected, ")
    assert err[-1] == "... and 1 more rejected line"
    assert cli.main(["token", "create", "p-1", "--role", "hr"]) == 0
    capsys.readouterr()
    assert cli.main(["token", "revoke", "p-1"]) == 0
    assert capsys.readouterr().out == "revoked 1 token of p-1\n"


def test_every_argument_of_every_command_says_what_it_is() -> None:
    import argparse

    from monitor.cli import build_parser

    missing: list[str] = []
    data_dirs: dict[str, str | None] = {}

    def walk(parser: argparse.ArgumentParser, path: str) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    walk(sub, f"{path} {name}")
            elif not isinstance(action, argparse._HelpAction) and not (action.help or "").strip():
                missing.append(f"{path} {'/'.join(action.option_strings) or action.dest}")
            elif "--data-dir" in action.option_strings:
                data_dirs[path] = action.help

    walk(build_parser(), "monitor")
    assert missing == []
    said = "state folder (env MONITOR_DATA_DIR, default monitor-data)"
    assert data_dirs == {f"monitor {c}": said for c in ("run", "token create", "token list", "token revoke")}


def test_an_import_warns_when_the_file_leaves_nobody_who_can_be_granted_emergency_access(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import yaml

    from monitor import cli
    from monitor.demo import build_directory

    monkeypatch.delenv("MONITOR_BROKER", raising=False)
    monkeypatch.setattr(cli, "_call", lambda *a, **kw: {"events": 0, "accepted": 0, "duplicates": 0})
    register = build_directory(7)
    team = [p["person_id"] for p in register["people"] if "comms-team" in p.get("groups", [])]
    path = tmp_path / "register.yaml"

    def imported(groups: dict[str, list[str]]) -> list[str]:
        people = [{**p, "groups": groups.get(p["person_id"], p.get("groups", []))} for p in register["people"]]
        path.write_text(yaml.safe_dump({**register, "people": people}, sort_keys=False))
        assert cli.main(["directory", "import", str(path)]) == 0
        return [line for line in capsys.readouterr().err.splitlines() if "warning" in line]

    assert imported({}) == []
    assert imported({team[0]: ["Comms-Team"], team[1]: ["comms team", "staff"]}) == [
        f"monitor: warning: {path}: the group 'comms-team' is spelt otherwise for {team[0]} ('Comms-Team'), "
        f"{team[1]} ('comms team'): emergency access (EMG-02) goes only to members of 'comms-team', spelt so"
    ]
    assert imported({pid: ["comms_team"] for pid in team})[1] == (
        f"monitor: warning: {path}: nobody in the file is in the group 'comms-team': nobody can be granted emergency "
        "access (EMG-02) during a hack"
    )


def test_an_import_s_counts_are_written_alike(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import yaml

    from monitor import cli
    from monitor.demo import build_directory

    monkeypatch.delenv("MONITOR_BROKER", raising=False)
    answer = {"events": 240000, "accepted": 238500, "duplicates": 1500}
    monkeypatch.setattr(cli, "_call", lambda *a, **kw: answer)
    path = tmp_path / "register.yaml"
    path.write_text(yaml.safe_dump(build_directory(7), sort_keys=False))
    assert cli.main(["directory", "import", str(path)]) == 0
    assert capsys.readouterr().out == "240,000 changes: 238,500 taken, 1,500 already known\n"


def test_the_sent_report_record_survives_damage_is_private_and_shared_by_runs_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CLI's record of the HR reports it sent (so a retry is one event): damaged entries are forgotten, not a
    traceback; the file and its folder are their owner's alone, even as an earlier version left them; a run waits
    while another holds the record, so neither loses the other's entry; a clock set back a little still finds the
    report."""
    import fcntl
    import json
    import os
    import stat
    import time
    from datetime import UTC, datetime, timedelta

    from monitor import cli

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    record = tmp_path / "social-account-monitor" / "sent-reports.json"
    record.parent.mkdir(mode=0o755)
    damaged = {"a": {"id": "x"}, "b": ["cli-1", 5], "c": ["cli-2", "not a time"], "d": 7,
               "e": ["cli-3", "2026-11-02T09:15:00"]}  # fmt: skip
    record.write_text(json.dumps(damaged))
    record.chmod(0o644)
    now = datetime(2026, 11, 2, 9, 15, 0, 500_000, tzinfo=UTC)
    monkeypatch.setattr(cli, "_utcnow", lambda: now)
    first = cli._cli_event("hr.leaver", "hr/monitor-cli", {"person_id": "p-1"})
    assert stat.S_IMODE(record.stat().st_mode) == 0o600 and stat.S_IMODE(record.parent.stat().st_mode) == 0o700
    assert len(json.loads(record.read_text())) == 1  # the damaged entries forgotten
    monkeypatch.setattr(cli, "_utcnow", lambda: now - timedelta(seconds=1))  # across the window's edge, backwards
    assert cli._cli_event("hr.leaver", "hr/monitor-cli", {"person_id": "p-1"}) == first
    code = "from monitor import cli; cli._cli_event('hr.leaver', 'hr/monitor-cli', {'person_id': 'p-2'})"
    lock = os.open(record.with_name(f".{record.name}.lock"), os.O_WRONLY)
    fcntl.flock(lock, fcntl.LOCK_EX)  # another run, between its read and its write
    try:
        run = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, env={**os.environ})
        time.sleep(2)
        assert run.poll() is None, "a run went on while another held the record"
    finally:
        os.close(lock)
    assert run.wait(timeout=60) == 0
    assert len(json.loads(record.read_text())) == 1  # p-2, by its own clock; p-1 was sent weeks before that


def test_an_hr_report_sent_to_the_broker_is_exit_0_even_when_the_register_cannot_be_read_after(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The report went: failing to read the directory topic afterwards (to say whom it reaches) is a note, not the
    exit 2 that tells HR it did not go, so that they send it again."""
    import streams.client
    from monitor import cli, cli_kafka

    pytest.importorskip("kafka", reason="needs the 'kafka' extra")
    sent: list[bytes] = []

    class Sent:
        topic = "monitor.hr"

    def unreadable(s: object) -> None:
        raise TimeoutError("no answer from the directory topic")

    monkeypatch.setattr(cli_kafka, "reach_broker", lambda s: None)
    monkeypatch.setattr(streams.client, "send_one", lambda s, raw: (sent.append(raw) or Sent(), None))
    monkeypatch.setattr(cli_kafka, "register_from_topic", unreadable)
    code = cli.main(["hr", "leaver", "p-1", "--leaving-at", "2026-11-06T17:00:00Z", "--broker", "kafka://x:1"])
    err = capsys.readouterr().err
    assert code == 0 and len(sent) == 1, err
    assert "note: the report was sent, but the register on monitor.directory could not be read" in err


def test_a_data_folder_token_create_starts_is_the_monitor_s_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Under umask 022 the data folder was drwxr-xr-x and the database, with the token hashes, -rw-r--r--."""
    from monitor import cli

    monkeypatch.delenv("MONITOR_DATA_DIR", raising=False)
    old = os.umask(0o022)
    try:
        assert cli.main(["token", "create", "p-1", "--role", "hr", "--data-dir", str(tmp_path / "d")]) == 0
    finally:
        os.umask(old)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "d", *(tmp_path / "d").iterdir())}
    assert "monitor.db" in modes and modes == {"d": 0o700} | {name: 0o600 for name in modes if name != "d"}
