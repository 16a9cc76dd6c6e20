"""Policy profiles: which controls an organisation enforces, with what parameters and citations."""

from __future__ import annotations

import re
from datetime import timedelta
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    field_validator,
    model_validator,
)

from monitor.durations import duration_value, format_duration
from monitor.yamlfile import compose_yaml, load_yaml, node_line

CONTROL_IDS: tuple[str, ...] = (
    "DIR-01", "DIR-02", "DIR-03", "DIR-04", "DIR-05", "DIR-06", "DIR-07",
    "LVR-01", "LVR-02", "LVR-03", "LVR-04", "LVR-05",
    "CRD-01", "CRD-02", "CRD-03", "CRD-04", "CRD-05", "CRD-06",
    "MFA-01", "MFA-02", "MFA-03", "MFA-04",
    "SIG-01", "SIG-02", "SIG-03", "SIG-04", "SIG-05",
    "EMG-01", "EMG-02", "EMG-03",
)  # fmt: skip

Severity = Literal["low", "medium", "high", "critical"]
SEVERITIES: tuple[Severity, ...] = ("low", "medium", "high", "critical")
# A citation: a seed number and a section, e.g. '003 §5.4', '001 "Account security"', '004 Section 3'.
# Or a recognised practice no seed states: 'practice: push bombing'.
CITATION = re.compile(r'^((00[0-4]) (§\d+(\.\d+)*|"[^"]+"|Section \d+)|practice: .+)$')


Duration = Annotated[
    timedelta,
    BeforeValidator(duration_value),
    PlainSerializer(format_duration, return_type=str),
]


class Params(BaseModel):
    """A profile's parameters; the defaults are the `default` profile's (CONTROLS.md)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    leaver_deadline: Duration = timedelta(hours=24)
    leaver_escalation: Duration = timedelta(hours=48)
    leaver_warning_window: Duration = timedelta(days=14)
    credential_max_age: Duration = timedelta(days=90)
    takeover_grace: Duration = timedelta(hours=24)
    device_reapproval: Duration = timedelta(days=180)
    admin_session: Duration = timedelta(hours=12)  # how long after an unmanaged sign-in an admin action is put to it
    mfa_fatigue_count: int = Field(5, ge=1)
    mfa_fatigue_window: Duration = timedelta(minutes=10)
    travel_max_kmh: float = Field(900.0, gt=0)
    guessing_count: int = Field(5, ge=1)
    guessing_window: Duration = timedelta(minutes=15)
    dormant_after: Duration = timedelta(days=90)
    emergency_default: Duration = timedelta(hours=4)
    emergency_max: Duration = timedelta(hours=24)
    min_admins: int = Field(2, ge=1)
    registration_grace: Duration = timedelta(hours=1)
    password_sharing: Literal["forbidden", "logged"] = "forbidden"
    handle_prefix: str | None = None
    forbidden_abbreviations: tuple[str, ...] = ()
    org_domains: tuple[str, ...] = ()
    service_actors: tuple[str, ...] = ()  # e.g. the lockout executor: may rotate the credential and remove admins
    # EMG-01: a hijack sign this long after the episode's last lockout shows that lockout did not hold
    relock_after: Duration = timedelta(hours=1)

    @model_validator(mode="after")
    def _emergency_within_max(self) -> Params:
        if self.emergency_default > self.emergency_max:
            raise ValueError(
                f"emergency_default {format_duration(self.emergency_default)} is above emergency_max "
                f"{format_duration(self.emergency_max)}: a request without minutes would be granted more than the "
                "maximum"
            )
        return self


class ControlSetting(BaseModel):
    """How one profile applies one control."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    mode: Literal["enforce", "advisory", "off"]
    severity: Severity | None = None
    sources: tuple[str, ...] = ()
    note: str | None = None

    @field_validator("mode", mode="before")
    @classmethod
    def _bare_off(cls, v: Any) -> Any:
        return "off" if v is False else v  # YAML reads a bare `off` as false

    @model_validator(mode="after")
    def _cited(self) -> ControlSetting:
        if self.mode != "off" and not self.sources:
            raise ValueError(f"mode is {self.mode} but sources cites no seed section")
        return self

    @field_validator("sources")
    @classmethod
    def _citations(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for s in v:
            if not CITATION.match(s):
                raise ValueError(
                    f"citation {s!r} is not of the form '003 §5.4', '001 \"Account security\"', '004 Section 3' "
                    "or 'practice: ...'"
                )
        return v


class Profile(BaseModel):
    """One organisation's policy: every control with its mode, plus parameters."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]*$")]
    title: str
    seed: str | None = None
    description: str = ""
    parameters: Params = Params()
    controls: dict[str, ControlSetting]

    @field_validator("controls")
    @classmethod
    def _every_control(cls, v: dict[str, ControlSetting]) -> dict[str, ControlSetting]:
        unknown = sorted(set(v) - set(CONTROL_IDS))
        if unknown:
            raise ValueError(f"unknown control {', '.join(unknown)}; known: {', '.join(CONTROL_IDS)}")
        missing = [c for c in CONTROL_IDS if c not in v]
        if missing:
            raise ValueError(
                f"every control must be listed (mode enforce, advisory or off); missing {', '.join(missing)}"
            )
        return v

    def enabled(self) -> list[str]:
        return [c for c in CONTROL_IDS if self.controls[c].mode != "off"]

    def severity(self, control: str, default: Severity) -> Severity:
        """The severity this profile gives a control's alerts: advisory controls are `low`."""
        setting = self.controls[control]
        if setting.mode == "advisory":
            return "low"
        return setting.severity or default


class ProfileError(ValueError):
    """A profile file that cannot be used, with where and why."""


def parse_profile(text: str, origin: str = "<profile>") -> Profile:
    """Parse and check a profile; ProfileError names the file, the line and the problem."""
    try:
        data = load_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{origin}:{mark.line + 1}" if mark else origin
        raise ProfileError(f"{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(data, dict):
        raise ProfileError(f"{origin}:1: a profile is a mapping with name, title, parameters and controls")
    try:
        return Profile.model_validate(data)
    except ValidationError as err:
        lines = []
        node = compose_yaml(text)
        for e in err.errors(include_url=False):
            loc = tuple(p for p in e["loc"] if not (isinstance(p, str) and p.startswith("function-")))
            line = node_line(node, loc)
            field = ".".join(str(p) for p in loc) or "profile"
            msg = e["msg"].removeprefix("Value error, ")
            lines.append(f"{origin}:{line or 1}: {field}: {msg}")
        raise ProfileError("\n".join(lines)) from None


def builtin_names() -> list[str]:
    files = resources.files("monitor") / "policies"
    return sorted(p.name.removesuffix(".yaml") for p in files.iterdir() if p.name.endswith(".yaml"))


def load_profile(name_or_path: str) -> Profile:
    """A built-in profile by name, or a profile file by path."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ProfileError(f"{name_or_path}: cannot read: {exc.strerror}") from None
        except UnicodeDecodeError as exc:
            raise ProfileError(f"{name_or_path}: not UTF-8 text (byte {exc.start})") from None
        return parse_profile(text, str(path))
    if name_or_path not in builtin_names():
        raise ProfileError(f"no profile named {name_or_path!r}; built in: {', '.join(builtin_names())}")
    res = resources.files("monitor") / "policies" / f"{name_or_path}.yaml"
    return parse_profile(res.read_text(encoding="utf-8"), f"{name_or_path}.yaml")
