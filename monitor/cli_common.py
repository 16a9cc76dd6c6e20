"""What every `monitor` command shares: its usage error, and reading a profile or settings from the arguments."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from monitor.policy import Profile, ProfileError, load_profile
from monitor.visible import visible
from monitor.wording import counted

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
    # the id, who resolved it and the note are anyone's text: shown as visible escapes, on one line
    return visible(line if alert.get("note") == note.strip() else f"{line} (yours, {note.strip()!r}, was not kept)")


def tell_reach(person: str, accounts: list[str] | None, register_only: bool = False) -> None:
    """After HR's report is sent: the accounts the person reaches, which the monitor now checks, or (None) a note
    that the register does not name them (a mistyped id would otherwise look like a leaver with nothing to revoke).
    `register_only`: the accounts are the register's alone (the Kafka runtime's directory topic), not the seats and
    credentials the platforms reported."""
    import sys

    from monitor.wording import counted

    person = visible(person)  # ids are anyone's text: shown as visible escapes
    if accounts is None:
        print(f"monitor: note: the register's directory does not name {person}, so no account of theirs is "
              "known and nothing is checked now; the report is kept and counts if they turn up on an account. "
              "If the id is mistyped, report the right one", file=sys.stderr)  # fmt: skip
    elif accounts:
        print(f"{person} reaches {counted(len(accounts), 'registered account')}: "
              f"{visible(', '.join(accounts))}; the monitor checks that each loses their access "
              f"(`monitor alerts list --person {person}` shows what is still open)")  # fmt: skip
    elif register_only:
        print(f"{person} has no role on an account in the register: nothing there to revoke (the workers still "
              "check any seat or credential of theirs the platforms report)")  # fmt: skip
    else:
        print(f"{person} holds no role, seat or credential on an account the monitor knows: nothing to revoke")


def say_changes(lines: list[str], total: int) -> None:
    """A dry run's changes in words, one a line (`lines`: the first of `total`), for the comms team to review."""
    for line in lines:
        print(f"  {visible(line)}")  # they name the register's ids
    if total > len(lines):
        print(f"  and {total - len(lines):,} more")


def say_unlisted(missing: int, first: list[str], retire: bool, dry_run: bool) -> None:
    """After a register import: the registered accounts its file leaves out (`first`: the first of them by id),
    retired (on stdout) or kept (a note)."""
    if not missing:
        return
    ids = visible(", ".join(first)) + (f" and {missing - len(first):,} more" if missing > len(first) else "")
    if retire:
        done = "would retire" if dry_run else "retired"
        print(f"{done} {counted(missing, 'registered account')} the file does not list: {ids}")
    else:
        print(f"monitor: note: the file does not list {counted(missing, 'registered account')} ({ids}), which "
              f"{'stays' if missing == 1 else 'stay'} registered: --retire-missing retires what the file leaves "
              "out", file=sys.stderr)  # fmt: skip
