"""Where alerts are delivered: sink configuration, routing, and the payload each kind of sink expects.

Pure apart from `load_sinks` reading its file. A sink's URL is a secret (a Slack or Teams incoming
webhook URL is enough to post into the channel), so the configuration only names the environment
variable that holds it (`url_env`); the URL itself is read at delivery time and never stored or logged.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import re
from collections.abc import Mapping, Sequence
from datetime import UTC
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

import httpx
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from monitor.yamlfile import load_yaml
from schemas.alerts import Alert, LockoutCommand, Severity, Status
from schemas.events import secret_field_name

SinkKind = Literal["webhook", "slack", "teams"]

ALL_STATUSES: tuple[Status, ...] = ("open", "acknowledged", "resolved")
SEVERITY_RANK: dict[str, int] = {"low": 0, "medium": 1, "high": 2, "critical": 3}

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Words that, in a configuration key, say the value is a URL or other secret (besides secret_field_name's).
_URL_WORDS = frozenset({"url", "uri", "href", "webhook", "endpoint", "key", "credential", "credentials", "auth"})
_KEY_SPLIT = re.compile(r"[^a-zA-Z0-9]+|(?<=[a-z0-9])(?=[A-Z])")

# Teams MessageCard colours (hex, no '#') by severity.
_TEAMS_COLOUR = {"low": "2E7D32", "medium": "F9A825", "high": "EF6C00", "critical": "C62828"}
_SLACK_TEXT_LIMIT = 2900  # a section's text may hold 3000 characters
_SLACK_FIELD_LIMIT = 1900  # a field's text may hold 2000


class SinkConfigError(ValueError):
    """A sinks file that cannot be used, with a message naming the file, the sink and the field."""


class SinkConfig(BaseModel):
    """One delivery target and which alerts it wants; the URL lives in the environment variable `url_env`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    kind: SinkKind
    url_env: str
    controls: list[str] = Field(default_factory=lambda: ["*"], min_length=1)
    min_severity: Severity = "low"
    statuses: list[Status] = Field(default_factory=lambda: list(ALL_STATUSES), min_length=1)
    lockouts: bool = True  # also the emergency lockout commands (EMG-01 lockouts, EMG-02 grants)

    @field_validator("url_env")
    @classmethod
    def _env_name(cls, v: str) -> str:
        """Refuse anything but a variable name, so a URL pasted here is never accepted (or echoed)."""
        if not _ENV_NAME.match(v):
            raise ValueError("must be the name of an environment variable holding the URL (e.g. SLACK_SECOPS_URL)")
        return v

    def wants(self, alert: Alert) -> bool:
        """True when this sink routes the alert: control pattern, severity floor and status all match."""
        return (
            any(fnmatch.fnmatchcase(alert.control, p) for p in self.controls)
            and SEVERITY_RANK[alert.severity] >= SEVERITY_RANK[self.min_severity]
            and alert.status in self.statuses
        )


def _secret_key(key: str) -> bool:
    """True when a configuration key looks like it holds a URL or secret rather than naming one."""
    if key == "url_env":
        return False
    words = {w.lower() for w in _KEY_SPLIT.split(key) if w}
    return secret_field_name(key) or bool(words & _URL_WORDS)


def _where(index: int, item: Any) -> str:
    """`sinks[1] (pager)`: the sink's index, and its name when it has a usable one."""
    name = item.get("name") if isinstance(item, dict) else None
    return f"sinks[{index}] ({name})" if isinstance(name, str) and name else f"sinks[{index}]"


def _field_errors(err: ValidationError) -> str:
    """Each bad field as `field: reason`, without the offending value (it might be a secret)."""
    parts = []
    for e in err.errors(include_url=False, include_input=False):
        loc = ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in e["loc"]).replace(".[", "[")
        msg = e["msg"].removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(parts)


def load_sinks(path: str | Path) -> list[SinkConfig]:
    """Read a `sinks: [...]` YAML file; any problem raises SinkConfigError naming file, sink and field."""
    src = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise SinkConfigError(f"{src}: cannot read: {e.strerror or e}") from None
    try:
        doc = load_yaml(text)  # as profiles and registers are read: a key given twice is refused, not overwritten
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None)
        raise SinkConfigError(f"{src}: not valid YAML{where}{f': {problem}' if problem else ''}") from None
    if not isinstance(doc, dict) or "sinks" not in doc:
        raise SinkConfigError(f"{src}: expected a mapping with a 'sinks' list")
    extra = sorted(str(k) for k in doc if k != "sinks")
    if extra:
        raise SinkConfigError(f"{src}: unknown key {extra[0]!r} (only 'sinks' is allowed)")
    items = doc["sinks"]
    if items is None:
        return []
    if not isinstance(items, list):
        raise SinkConfigError(f"{src}: sinks: expected a list of sinks")
    sinks: list[SinkConfig] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(items):
        where = _where(i, item)
        if not isinstance(item, dict):
            raise SinkConfigError(f"{src}: {where}: expected a mapping with name, kind and url_env")
        for key in item:
            if _secret_key(str(key)):
                raise SinkConfigError(
                    f"{src}: {where}: {key}: looks like it holds a URL or secret; never put it in a file: "
                    "set it in an environment variable and name that variable in url_env"
                )
        try:
            sink = SinkConfig.model_validate(item)
        except ValidationError as e:
            raise SinkConfigError(f"{src}: {where}: {_field_errors(e)}") from None
        if sink.name in seen:
            raise SinkConfigError(f"{src}: {where}: name: duplicate of sinks[{seen[sink.name]}]")
        for i_pattern, pattern in enumerate(sink.controls):
            if not any(fnmatch.fnmatchcase(c, pattern) for c in _control_ids()):
                raise SinkConfigError(
                    f"{src}: {where}: controls[{i_pattern}]: {pattern!r} matches no control, so routes nothing "
                    "(control ids are upper case, e.g. LVR-01, LVR-* or * for all; README lists them)"
                )
        seen[sink.name] = i
        sinks.append(sink)
    return sinks


def _control_ids() -> list[str]:
    """The controls the monitor implements (what a sink's control patterns are matched against)."""
    from monitor.rules import RULES

    return sorted(RULES)


def _env_url(sink: SinkConfig, environ: Mapping[str, str] | None) -> str:
    """The value of the sink's `url_env`, surrounding whitespace stripped ("" when unset): the one place a URL is
    read. A Kubernetes Secret made from a file usually ends in a newline, which httpx refuses in a URL."""
    env = os.environ if environ is None else environ
    return env.get(sink.url_env, "").strip()


def sink_url(sink: SinkConfig, environ: Mapping[str, str] | None = None) -> tuple[str | None, str | None]:
    """(the sink's URL, None), or (None, why it has none usable), naming the variable and never the value."""
    url = _env_url(sink, environ)
    if not url:
        return None, f"environment variable {sink.url_env} is not set"
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError, TypeError):  # its message can quote part of the URL: not kept
        return None, f"environment variable {sink.url_env} does not hold a URL that can be parsed"
    if parsed.scheme not in ("http", "https") or not parsed.host:
        return None, f"environment variable {sink.url_env} does not hold an http(s) URL"
    return url, None


def without_url(sinks: Sequence[SinkConfig], environ: Mapping[str, str] | None = None) -> list[SinkConfig]:
    """The sinks whose `url_env` is unset or empty: their deliveries fail, and wait, until it is set and the
    monitor restarted."""
    return [s for s in sinks if not _env_url(s, environ)]


def check_urls(sinks: Sequence[SinkConfig], environ: Mapping[str, str] | None = None) -> None:
    """Raise SinkConfigError, naming the sink and its variable (never the value), for a URL that is set but
    cannot be used: every delivery to it would fail and be retried for ever. An unset one is only warned of."""
    for s in sinks:
        if not _env_url(s, environ):
            continue
        _, problem = sink_url(s, environ)
        if problem:
            raise SinkConfigError(f"sink {s.name}: {problem}: set it to the sink's http(s) URL")


def unset_url_warning(sinks: Sequence[SinkConfig]) -> str | None:
    """One line for the start and /health naming each sink without a URL (and its variable), or None."""
    unset = without_url(sinks)
    if not unset:
        return None
    names = ", ".join(f"{s.name} ({s.url_env})" for s in unset)
    return f"no URL in the environment for {names}: their deliveries wait"


def matching(sinks: Sequence[SinkConfig], alert: Alert) -> list[SinkConfig]:
    """The sinks that want this alert version, in configuration order."""
    return [s for s in sinks if s.wants(alert)]


def _updated(alert: Alert) -> str:
    """The alert's `updated_at` in UTC, ISO 8601, as shown in a message."""
    return alert.updated_at.astimezone(UTC).isoformat()


def alert_version(alert: Alert) -> str:
    """The version of an alert (with the id, what the outbox and a receiver de-duplicate on): `updated_at` in UTC,
    `~`, and a digest of the version's JSON.

    `updated_at` alone does not tell versions apart: the engine keeps it when a change comes at or before it (an
    alert stamped ahead of the wall clock then resolved, new evidence within the lateness after an acknowledge),
    and such a version was taken for a copy and never sent. The digest differs for every distinct version and is
    the same for the same version queued again (a replay after a restart), which is still one delivery.
    """
    digest = hashlib.sha256(alert.model_dump_json().encode("utf-8")).hexdigest()[:16]
    return f"{_updated(alert)}~{digest}"


def console_link(console_url: str, alert: Alert) -> str:
    """The console page of one alert."""
    return f"{console_url.rstrip('/')}/console/alerts/{quote(alert.id, safe='')}"


def slack_escape(text: str) -> str:
    """Escape Slack mrkdwn control characters (&, <, >) as Slack documents, so text cannot forge links or mentions."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clip(text: str, limit: int) -> str:
    """Text cut to a platform's length limit, marked when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _webhook(alert: Alert) -> dict[str, Any]:
    """The generic webhook body: the alert as on the wire, and a delivery id to de-duplicate on."""
    return {"alert": alert.model_dump(mode="json"), "delivery_id": f"{alert.id}:{alert_version(alert)}"}


def _slack(alert: Alert, console_url: str | None) -> dict[str, Any]:
    """A Slack incoming-webhook message: fallback text plus header, facts, next step and console link blocks."""
    e = slack_escape
    sev = alert.severity.upper()
    fields = [
        f"*Severity:*\n{sev}",
        f"*Control:*\n{e(alert.control)}",
        f"*Status:*\n{alert.status}",
        f"*Account:*\n{e(alert.account_id) if alert.account_id else '-'}",
        f"*Person:*\n{e(alert.person_id) if alert.person_id else '-'}",
    ]
    header = f"{sev} {alert.control} ({alert.status})"  # plain_text: shown as is, nothing to escape
    next_step = f"*Next step:* {e(alert.next_step)}"
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _clip(header, 150)}},
        {"type": "section", "text": {"type": "mrkdwn", "text": _clip(e(alert.summary), _SLACK_TEXT_LIMIT)}},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": _clip(f, _SLACK_FIELD_LIMIT)} for f in fields]},
        {"type": "section", "text": {"type": "mrkdwn", "text": _clip(next_step, _SLACK_TEXT_LIMIT)}},
    ]
    if console_url:
        link = console_link(console_url, alert)
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": f"<{link}|Open in the console>"}})
    blocks.append(
        {"type": "context", "elements": [{"type": "mrkdwn", "text": e(f"alert {alert.id} · {_updated(alert)}")}]}
    )
    text = _clip(f"[{sev}] {e(alert.control)} {alert.status}: {e(alert.summary)}", _SLACK_TEXT_LIMIT)
    return {"text": text, "blocks": blocks}


def _teams(alert: Alert, console_url: str | None) -> dict[str, Any]:
    """A Microsoft Teams incoming-webhook MessageCard: colour by severity, facts, and an OpenUri action."""
    facts = [
        {"name": "Severity", "value": alert.severity.upper()},
        {"name": "Control", "value": alert.control},
        {"name": "Status", "value": alert.status},
        {"name": "Account", "value": alert.account_id or "-"},
        {"name": "Person", "value": alert.person_id or "-"},
        {"name": "Next step", "value": alert.next_step},
        {"name": "Alert id", "value": alert.id},
        {"name": "Updated", "value": _updated(alert)},
    ]
    card: dict[str, Any] = {
        "@type": "MessageCard",
        "@context": "https://schema.org/extensions",
        "themeColor": _TEAMS_COLOUR[alert.severity],
        "summary": _clip(f"{alert.severity.upper()} {alert.control}: {alert.summary}", 200),
        "title": f"{alert.severity.upper()} {alert.control} ({alert.status})",
        "sections": [{"activityTitle": alert.summary, "facts": facts, "markdown": False}],
    }
    if console_url:
        card["potentialAction"] = [
            {
                "@type": "OpenUri",
                "name": "Open in the console",
                "targets": [{"os": "default", "uri": console_link(console_url, alert)}],
            }
        ]
    return card


def payload(kind: str, alert: Alert, console_url: str | None = None) -> dict[str, Any]:
    """The JSON body a sink of this kind expects for one alert version."""
    if kind == "webhook":
        return _webhook(alert)
    if kind == "slack":
        return _slack(alert, console_url)
    if kind == "teams":
        return _teams(alert, console_url)
    raise ValueError(f"unknown sink kind {kind!r}")


def _lockout_link(console_url: str, cmd: LockoutCommand) -> str:
    """The console page behind a lockout: its alert, or the emergency page for a grant."""
    base = console_url.rstrip("/")
    if cmd.alert_id.startswith("al-"):
        return f"{base}/console/alerts/{quote(cmd.alert_id, safe='')}"
    return f"{base}/console/emergency"


def lockout_payload(kind: str, cmd: LockoutCommand, console_url: str | None = None) -> dict[str, Any]:
    """The JSON body a sink of this kind expects for an emergency lockout command (who must act, on what)."""
    actions, notify = ", ".join(cmd.actions), ", ".join(cmd.notify)
    title = f"EMERGENCY LOCKOUT of {cmd.account_id}"
    if kind == "webhook":
        return {"lockout": cmd.model_dump(mode="json"), "delivery_id": f"{cmd.id}:lockout"}
    if kind == "slack":
        e = slack_escape
        blocks: list[dict[str, Any]] = [
            {"type": "header", "text": {"type": "plain_text", "text": _clip(title, 150)}},
            {"type": "section", "text": {"type": "mrkdwn", "text": _clip(e(cmd.reason), _SLACK_TEXT_LIMIT)}},
            {
                "type": "section",
                "fields": [
                    {"type": "mrkdwn", "text": _clip(f"*Actions:*\n{e(actions)}", _SLACK_FIELD_LIMIT)},
                    {"type": "mrkdwn", "text": _clip(f"*Notify:*\n{e(notify)}", _SLACK_FIELD_LIMIT)},
                ],
            },
        ]
        if console_url:
            link = _lockout_link(console_url, cmd)
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": f"<{link}|Open in the console>"}})
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": e(f"{cmd.id} · {cmd.alert_id}")}]})
        return {"text": _clip(f"{e(title)}: {e(cmd.reason)}", _SLACK_TEXT_LIMIT), "blocks": blocks}
    if kind == "teams":
        card: dict[str, Any] = {
            "@type": "MessageCard",
            "@context": "https://schema.org/extensions",
            "themeColor": _TEAMS_COLOUR["critical"],
            "summary": _clip(f"{title}: {cmd.reason}", 200),
            "title": title,
            "sections": [
                {
                    "activityTitle": cmd.reason,
                    "facts": [
                        {"name": "Actions", "value": actions},
                        {"name": "Notify", "value": notify},
                        {"name": "Because of", "value": cmd.alert_id},
                        {"name": "Command id", "value": cmd.id},
                        {"name": "Issued", "value": cmd.issued_at.astimezone(UTC).isoformat()},
                    ],
                    "markdown": False,
                }
            ],
        }
        if console_url:
            target = {"os": "default", "uri": _lockout_link(console_url, cmd)}
            card["potentialAction"] = [{"@type": "OpenUri", "name": "Open in the console", "targets": [target]}]
        return card
    raise ValueError(f"unknown sink kind {kind!r}")
