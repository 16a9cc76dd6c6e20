"""Sink configuration, routing by control/severity/status, and the payload each sink kind gets."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from schemas.alerts import Alert, LockoutCommand
from service.sinks import (
    SinkConfig,
    SinkConfigError,
    alert_version,
    check_urls,
    load_sinks,
    lockout_payload,
    matching,
    payload,
    sink_url,
    slack_escape,
    unset_url_warning,
    without_url,
)

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def make_alert(**over: Any) -> Alert:
    """A valid alert with overridable fields."""
    base: dict[str, Any] = {
        "id": "alr-0001",
        "control": "LVR-01",
        "severity": "high",
        "status": "open",
        "account_id": "acc-x-main",
        "person_id": "p-42",
        "raised_at": T0,
        "updated_at": T0 + timedelta(minutes=5),
        "policy": "london-met",
        "sources": ["leavers-policy §3"],
        "evidence": ["e-1", "e-2"],
        "summary": "Leaver p-42 still administers acc-x-main",
        "next_step": "Remove p-42 from acc-x-main and rotate the password",
    }
    return Alert(**{**base, **over})


def write(tmp_path: Path, text: str) -> Path:
    """A sinks.yaml in tmp_path holding text."""
    p = tmp_path / "sinks.yaml"
    p.write_text(text)
    return p


GOOD = """\
sinks:
  - name: secops-slack
    kind: slack
    url_env: SLACK_SECOPS_URL
    controls: ["LVR-*", "MFA-01"]
    min_severity: medium
  - name: pager
    kind: teams
    url_env: TEAMS_PAGER_URL
    min_severity: critical
    statuses: [open]
  - name: siem
    kind: webhook
    url_env: SIEM_WEBHOOK_URL
"""


def test_load_good_file_with_defaults(tmp_path: Path) -> None:
    sinks = load_sinks(write(tmp_path, GOOD))
    assert [s.name for s in sinks] == ["secops-slack", "pager", "siem"]
    siem = sinks[2]
    assert (siem.kind, siem.url_env, siem.controls, siem.min_severity) == ("webhook", "SIEM_WEBHOOK_URL", ["*"], "low")
    assert siem.statuses == ["open", "acknowledged", "resolved"]
    assert sinks[0].controls == ["LVR-*", "MFA-01"]
    assert load_sinks(write(tmp_path, "sinks: []\n")) == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "sinks:\n  - {name: a, kind: slack, url_env: A}\n"
            "  - {name: pager, kind: teams, url_env: B, min_severity: urgent}\n",
            "sinks[1] (pager): min_severity: Input should be 'low', 'medium', 'high' or 'critical'",
        ),
        (
            "sinks:\n  - {name: a, kind: email, url_env: A}\n",
            "sinks[0] (a): kind: Input should be 'webhook', 'slack' or 'teams'",
        ),
        (
            "sinks:\n  - {name: Bad Name, kind: slack, url_env: A}\n",
            "sinks[0] (Bad Name): name: String should match pattern",
        ),
        ("sinks:\n  - {kind: slack, url_env: A}\n", "sinks[0]: name: Field required"),
        ("sinks:\n  - {name: a, kind: slack}\n", "sinks[0] (a): url_env: Field required"),
        (
            "sinks:\n  - {name: a, kind: slack, url_env: A, colour: red}\n",
            "sinks[0] (a): colour: Extra inputs are not permitted",
        ),
        (
            "sinks:\n  - {name: a, kind: slack, url_env: A, statuses: [open, closed]}\n",
            "sinks[0] (a): statuses[1]: Input should be 'open', 'acknowledged' or 'resolved'",
        ),
        (
            "sinks:\n  - {name: a, kind: slack, url_env: A, controls: []}\n",
            "sinks[0] (a): controls: List should have at least 1",
        ),
        (
            "sinks:\n  - {name: a, kind: slack, url_env: A}\n  - {name: b, kind: teams, url_env: B}\n"
            "  - {name: a, kind: webhook, url_env: C}\n",
            "sinks[2] (a): name: duplicate of sinks[0]",
        ),
        ("sinks:\n  - just-a-string\n", "sinks[0]: expected a mapping"),
        ("sinks: {name: a}\n", "sinks: expected a list of sinks"),
        ("- {name: a}\n", "expected a mapping with a 'sinks' list"),
        ("sinks: []\nextra: 1\n", "unknown key 'extra'"),
        ("sinks: [\n", "not valid YAML at line"),
        (
            "sinks:\n  - {name: a, kind: slack, url_env: A,\n     controls: [LVR-*], controls: [CRD-*]}\n",
            "not valid YAML at line 3: key 'controls' appears twice in one mapping (first at line 3); remove one",
        ),
        (
            "sinks:\n  - {name: pager, kind: teams, url_env: A, controls: [LVR-*, XYZ-*]}\n",
            "sinks[0] (pager): controls[1]: 'XYZ-*' matches no control, so routes nothing",
        ),
        (
            "sinks:\n  - {name: a, kind: slack, url_env: A}\n"
            "  - {name: hr, kind: slack, url_env: B, controls: [lvr-01]}\n",
            "sinks[1] (hr): controls[0]: 'lvr-01' matches no control",
        ),
    ],
)
def test_bad_files_name_file_sink_and_field(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(SinkConfigError) as info:
        load_sinks(path)
    assert str(info.value).startswith(f"{path}: ")
    assert message in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SinkConfigError, match=r"nope\.yaml: cannot read"):
        load_sinks(tmp_path / "nope.yaml")


@pytest.mark.parametrize("key", ["url", "webhook_url", "token", "password", "secret", "api_key", "webhookUrl"])
def test_secret_looking_keys_refused_with_url_env_hint(tmp_path: Path, key: str) -> None:
    value = "https://hooks.slack.com/services/T000/B000/SECRETVALUE"
    path = write(tmp_path, f"sinks:\n  - {{name: s, kind: slack, url_env: A, {key}: '{value}'}}\n")
    with pytest.raises(SinkConfigError) as info:
        load_sinks(path)
    msg = str(info.value)
    assert f"{path}: sinks[0] (s): {key}: looks like it holds a URL or secret" in msg
    assert "url_env" in msg
    assert "SECRETVALUE" not in msg


def test_url_in_url_env_is_refused_without_echoing_it(tmp_path: Path) -> None:
    path = write(tmp_path, "sinks:\n  - {name: s, kind: slack, url_env: 'https://hooks.slack.com/T000/SECRETVALUE'}\n")
    with pytest.raises(SinkConfigError) as info:
        load_sinks(path)
    assert "sinks[0] (s): url_env: must be the name of an environment variable" in str(info.value)
    assert "SECRETVALUE" not in str(info.value)


def test_routing_by_control_severity_and_status(tmp_path: Path) -> None:
    sinks = load_sinks(write(tmp_path, GOOD))

    def names(**over: Any) -> list[str]:
        return [s.name for s in matching(sinks, make_alert(**over))]

    assert names(control="LVR-01", severity="high") == ["secops-slack", "siem"]
    assert names(control="LVR-03", severity="low") == ["siem"]  # below the Slack floor
    assert names(control="MFA-01", severity="medium") == ["secops-slack", "siem"]
    assert names(control="MFA-02", severity="critical") == ["pager", "siem"]  # not a Slack control
    assert names(control="LVR-01", severity="critical", status="resolved") == [
        "secops-slack",
        "siem",
    ]  # pager: open only
    assert names(control="LVR-01", severity="critical", status="open") == ["secops-slack", "pager", "siem"]
    # Patterns are case-sensitive, whole-id matches.
    only = [SinkConfig(name="x", kind="webhook", url_env="X", controls=["lvr-*", "LVR-0"])]
    assert matching(only, make_alert(control="LVR-01")) == []


def test_webhook_payload_carries_alert_and_delivery_id() -> None:
    a = make_alert(updated_at=datetime(2026, 11, 2, 10, 5, tzinfo=timezone(timedelta(hours=1))))
    body = payload("webhook", a, console_url="https://monitor.example")
    assert body["alert"] == json.loads(a.model_dump_json())
    assert body["alert"]["id"] == "alr-0001"
    assert body["delivery_id"] == f"{a.id}:{alert_version(a)}"
    assert body["delivery_id"].startswith("alr-0001:2026-11-02T09:05:00+00:00~")  # updated_at, normalised to UTC
    json.dumps(body)  # JSON-ready


def test_alert_version_differs_for_every_distinct_version_and_not_for_the_same_one_again() -> None:
    """Two versions stamped the same time (a resolve of an alert stamped ahead of the clock) get different
    versions, so neither is taken for a copy of the other; the same version read back keeps its version."""
    opened = make_alert()
    resolved = make_alert(status="resolved", resolved_by="sec", note="called them")
    assert opened.updated_at == resolved.updated_at
    assert alert_version(opened) != alert_version(resolved)
    assert alert_version(make_alert(evidence=["e-1", "e-2", "e-3"])) != alert_version(opened)
    assert alert_version(Alert.model_validate_json(resolved.model_dump_json())) == alert_version(resolved)
    shifted = make_alert(updated_at=opened.updated_at.astimezone(timezone(timedelta(hours=1))))
    assert alert_version(shifted).split("~")[0] == alert_version(opened).split("~")[0] == "2026-11-02T09:05:00+00:00"


def test_slack_payload_blocks_and_escaping() -> None:
    a = make_alert(
        summary="Leaver <@U123> & <!channel> kept access > 24h", next_step="Revoke <https://x|here> & rotate"
    )
    body = payload("slack", a, console_url="https://monitor.example/")
    text = json.dumps(body)
    assert "<@U123>" not in text and "<!channel>" not in text and "<https://x|here>" not in text
    assert body["text"] == "[HIGH] LVR-01 open: Leaver &lt;@U123&gt; &amp; &lt;!channel&gt; kept access &gt; 24h"
    blocks = body["blocks"]
    assert blocks[0] == {"type": "header", "text": {"type": "plain_text", "text": "HIGH LVR-01 (open)"}}
    assert blocks[1]["text"] == {
        "type": "mrkdwn",
        "text": "Leaver &lt;@U123&gt; &amp; &lt;!channel&gt; kept access &gt; 24h",
    }
    fields = [f["text"] for f in blocks[2]["fields"]]
    assert fields == ["*Severity:*\nHIGH", "*Control:*\nLVR-01", "*Status:*\nopen", "*Account:*\nacc-x-main",
                      "*Person:*\np-42"]  # fmt: skip
    assert blocks[3]["text"]["text"] == "*Next step:* Revoke &lt;https://x|here&gt; &amp; rotate"
    assert blocks[4]["text"]["text"] == "<https://monitor.example/console/alerts/alr-0001|Open in the console>"
    assert "alr-0001" in blocks[5]["elements"][0]["text"]
    assert slack_escape("a&b<c>d") == "a&amp;b&lt;c&gt;d"
    # No console URL: no link block.
    assert not any("Open in the console" in json.dumps(b) for b in payload("slack", a)["blocks"])


def test_slack_long_summary_is_clipped_within_limits() -> None:
    body = payload("slack", make_alert(summary="x" * 5000))
    assert len(body["blocks"][1]["text"]["text"]) <= 3000
    assert len(body["text"]) <= 3000


def test_teams_message_card_fields() -> None:
    a = make_alert(severity="critical", summary="Account <acc> & hijack suspected", person_id=None)
    card = payload("teams", a, console_url="https://monitor.example")
    assert card["@type"] == "MessageCard"
    assert card["@context"] == "https://schema.org/extensions"
    assert card["themeColor"] == "C62828"
    assert card["title"] == "CRITICAL LVR-01 (open)"
    assert card["summary"] == "CRITICAL LVR-01: Account <acc> & hijack suspected"  # no HTML escaping
    facts = {f["name"]: f["value"] for f in card["sections"][0]["facts"]}
    assert facts["Severity"] == "CRITICAL"
    assert facts["Control"] == "LVR-01"
    assert facts["Status"] == "open"
    assert facts["Account"] == "acc-x-main"
    assert facts["Person"] == "-"
    assert facts["Alert id"] == "alr-0001"
    assert facts["Next step"] == a.next_step
    (action,) = card["potentialAction"]
    assert action["@type"] == "OpenUri"
    assert action["targets"] == [{"os": "default", "uri": "https://monitor.example/console/alerts/alr-0001"}]
    assert "potentialAction" not in payload("teams", a)
    colours = {sev: payload("teams", make_alert(severity=sev))["themeColor"] for sev in ("low", "medium", "high")}
    assert len(set(colours.values()) | {"C62828"}) == 4


def test_unknown_kind() -> None:
    with pytest.raises(ValueError, match="unknown sink kind 'email'"):
        payload("email", make_alert())


def _lockout(alert_id: str = "al-0123") -> LockoutCommand:
    return LockoutCommand(
        id="lk-0123-0",
        account_id="acc-7",
        alert_id=alert_id,
        issued_at=T0,
        reason="p-1 signed in <after> leaving & changed the password",
        actions=["end_all_sessions", "rotate_credential", "remove_unregistered_admins"],
        notify=["account_manager", "it_security", "comms_team"],
    )


def test_lockout_payloads_say_what_to_do_and_who_to_tell() -> None:
    hook = lockout_payload("webhook", _lockout())
    assert hook["lockout"]["actions"] == ["end_all_sessions", "rotate_credential", "remove_unregistered_admins"]
    assert hook["delivery_id"] == "lk-0123-0:lockout"
    slack = lockout_payload("slack", _lockout(), "https://monitor.example")
    text = json.dumps(slack)
    assert "&lt;after&gt; leaving &amp; changed" in text and "<after>" not in text
    assert "https://monitor.example/console/alerts/al-0123" in text
    teams = lockout_payload("teams", _lockout("gr-77"), "https://monitor.example")
    assert teams["title"] == "EMERGENCY LOCKOUT of acc-7"
    facts = {f["name"]: f["value"] for f in teams["sections"][0]["facts"]}
    assert facts["Notify"] == "account_manager, it_security, comms_team"
    assert teams["potentialAction"][0]["targets"][0]["uri"] == "https://monitor.example/console/emergency"
    with pytest.raises(ValueError, match="unknown sink kind"):
        lockout_payload("pager", _lockout())


def test_a_sink_without_its_url_is_named_with_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    sinks = [
        SinkConfig(name="a", kind="slack", url_env="SET_URL"),
        SinkConfig(name="b", kind="teams", url_env="NOT_SET"),
    ]
    monkeypatch.setenv("SET_URL", "https://hooks.example/x")
    monkeypatch.delenv("NOT_SET", raising=False)
    assert [k.name for k in without_url(sinks)] == ["b"]
    assert unset_url_warning(sinks) == "no URL in the environment for b (NOT_SET): their deliveries wait"
    monkeypatch.setenv("NOT_SET", "https://hooks.example/y")
    assert unset_url_warning(sinks) is None


def test_a_sink_url_is_read_stripped_and_one_that_cannot_be_used_is_refused_naming_its_variable() -> None:
    """A URL ending in a newline (a Kubernetes Secret made from a file) is used without it; one httpx cannot parse,
    or not http(s), is refused at the start, naming the sink and the variable, never the value (a secret)."""
    sink = SinkConfig(name="siem", kind="webhook", url_env="SIEM_URL")
    assert sink_url(sink, {"SIEM_URL": " https://hooks.example/T0/SECRET\n"}) == (
        "https://hooks.example/T0/SECRET",
        None,
    )
    assert sink_url(sink, {"SIEM_URL": " \n"}) == (None, "environment variable SIEM_URL is not set")
    assert without_url([sink], {"SIEM_URL": "\n"}) == [sink]
    check_urls([sink], {})  # unset: warned of at the start, not refused
    check_urls([sink], {"SIEM_URL": "https://hooks.example/T0/SECRET\n"})
    for bad, why in [
        ("https://hooks.example/T0/SECRET\nx", "does not hold a URL that can be parsed"),
        ("https://hooks.example:SECRET/x", "does not hold a URL that can be parsed"),
        ("hooks.example/T0/SECRET", "does not hold an http(s) URL"),
        ("ftp://hooks.example/SECRET", "does not hold an http(s) URL"),
        ("https:///SECRET", "does not hold an http(s) URL"),
    ]:
        assert sink_url(sink, {"SIEM_URL": bad}) == (None, f"environment variable SIEM_URL {why}"), bad
        with pytest.raises(SinkConfigError) as err:
            check_urls([sink], {"SIEM_URL": bad})
        assert str(err.value).startswith(f"sink siem: environment variable SIEM_URL {why}"), bad
        assert "SECRET" not in str(err.value) and "hooks.example" not in str(err.value)
