"""What every `monitor` command shares: its usage error, and reading a profile or settings from the arguments."""

from __future__ import annotations

import argparse
from typing import Any

from monitor.policy import Profile, ProfileError, load_profile

EXIT_BAD_INPUT = 2


class UsageError(Exception):
    """A bad argument, policy or directory: reported on stderr with exit status 2."""


def profile_named(name: str) -> Profile:
    """A built-in profile or a profile file; UsageError naming what is wrong with it."""
    try:
        return load_profile(name)
    except ProfileError as exc:
        raise UsageError(str(exc)) from None


def settings_from(cls: Any, args: argparse.Namespace) -> Any:
    """A settings object from the environment (MONITOR_*), overridden by the flags given; UsageError if bad."""
    from pydantic import ValidationError

    given = {k: v for k, v in vars(args).items() if k in cls.model_fields and v is not None}
    try:
        return cls(**given)
    except ValidationError as err:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in err.errors())
        raise UsageError(f"bad setting: {problems} (flags, or MONITOR_* environment variables)") from None


def stream_settings(args: argparse.Namespace, clients: tuple[str, ...] = ("kafka",)) -> Any:
    """The Kafka runtime's settings; UsageError at once if its extra is not installed (every command on the runtime
    goes on to import `clients`: kafka-python, and for a worker Faust; a traceback otherwise)."""
    from importlib import import_module

    try:
        for name in clients:
            import_module(name)
        from streams.settings import StreamSettings
    except ImportError as exc:
        raise UsageError(f"the Kafka runtime needs the 'kafka' extra: pip install -e '.[kafka]' ({exc})") from None
    return settings_from(StreamSettings, args)


def already_resolved(alert: dict[str, Any], note: str) -> str:
    """The line for `alerts resolve` on an alert resolved before it: the engine keeps the first resolution, so the
    one asked for changed nothing, and `note` was not kept."""
    from datetime import UTC, datetime

    when = datetime.fromisoformat(alert["updated_at"]).astimezone(UTC)
    kept = repr(alert["note"]) if alert.get("note") else "none"
    line = (f"{alert['id']} {alert['control']} resolved already, by {alert.get('resolved_by') or 'an unknown actor'} "
            f"at {when:%Y-%m-%d %H:%M}Z: nothing changed, its note stays {kept}")  # fmt: skip
    return line if alert.get("note") == note.strip() else f"{line} (yours, {note.strip()!r}, was not kept)"
