"""The `monitor` command line: its parser, and the commands on files and on the embedded monitor (replay,
policies, schemas, reports, the demo, `run`, the API clients); those on the Kafka runtime are in cli_kafka.py."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager, suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any, TextIO, cast

from monitor.cli_common import (
    EXIT_BAD_INPUT,
    UsageError,
    profile_named,
    say_changes,
    say_unlisted,
    settings_from,
    stream_settings,
    tell_reach,
)
from monitor.cli_kafka import (
    act_on_topic,
    alerts_from_topic,
    cmd_advance,
    cmd_dead_letters,
    cmd_deliver,
    cmd_publish,
    cmd_publish_directory,
    cmd_topics_create,
    emergency_on_topics,
    export_from_topic,
    import_on_topics,
    lockouts_from_topic,
    on_broker,
    publish_one,
    reach_broker,
    replay_topics,
    warn_config,
)
from monitor.directory import DirectoryError, comms_team_notes, load_directory
from monitor.durations import parse_duration
from monitor.engine import Engine
from monitor.policy import CONTROL_IDS, ProfileError, builtin_names, load_profile
from monitor.replay import ReplayResult, build_engine, read_lines, rejected_lines, replay, summary, write_alerts
from monitor.visible import visible
from monitor.wording import counted
from schemas.directory import MAX_REGISTER_BYTES

DATA_DIR_HELP = "state folder (env MONITOR_DATA_DIR, default monitor-data)"
REGISTER_TIMEOUT_S = 600.0  # importing or exporting a large register takes a while: not the usual 30 s
MAX_DEMO_DAYS = 366
FUTURE_WARNING = timedelta(days=1)  # a replay warns when its latest event is this far after the machine's clock


def _time(text: str) -> datetime:
    """A time option, taken exactly as event times are (EVENTS.md), as the same instant in UTC."""
    from schemas.events import parse_time

    try:
        return parse_time(text)
    except ValueError as exc:  # argparse puts "argument --until: " before it
        raise argparse.ArgumentTypeError(f"{text!r} {exc}") from None


def _duration(text: str) -> timedelta:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


MAX_LIST = 1000  # the most one list shows: the API's own limit for alerts


def _whole(low: int, high: int, too_far: str) -> Callable[[str], int]:
    """An argparse type: a whole number from low to high; `too_far` says what the range is, after the number."""

    def check(text: str) -> int:
        try:
            n = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not low <= n <= high:
            raise argparse.ArgumentTypeError(f"{n}{too_far}")
        return n

    return check


_days = _whole(1, MAX_DEMO_DAYS, f" days: the demo covers 1 to {MAX_DEMO_DAYS} days")
_limit = _whole(1, MAX_LIST, f": a list shows 1 to {MAX_LIST} at a time")
_rows = _whole(1, sys.maxsize, ": the table shows 1 alert or more")


def _given(text: str) -> str:
    """An argparse type: text that is not empty or only blanks."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is blank")
    return text


def _id(text: str) -> str:
    """An argparse type: an id or a reason typed or pasted, without the blanks around it (never part of an id:
    " p-0002" was reported as a person of its own, the register naming no such one); a blank one is refused before
    anything is sent."""
    return _given(text).strip()


def _writable_file(path: str) -> None:
    """UsageError now, before a long replay, if `path` cannot be written."""
    p = Path(path)
    problem: str | None
    if p.is_dir():
        problem = "a folder is there, not a file"
    elif p.exists():
        problem = None if os.access(p, os.W_OK) else "not writable"
    elif not p.parent.is_dir():
        problem = f"no folder {p.parent}"
    else:
        problem = None if os.access(p.parent, os.W_OK | os.X_OK) else f"cannot create files in {p.parent}"
    if problem:
        raise UsageError(f"{path}: cannot write there: {problem}")


def _writable_dir(path: str) -> Path:
    """The folder at `path`, made if missing; UsageError, in _writable_file's words, if it cannot be written."""
    p = Path(path)
    problem = _folder_problem(p)
    if problem:
        raise UsageError(f"{path}: cannot write there: {problem}")
    return p


@contextmanager
def _writing(path: str | Path) -> Iterator[None]:
    """Writing to `path`: an OSError on the way (a full disk, say) is a UsageError in _writable_file's words."""
    try:
        yield
    except OSError as exc:
        raise UsageError(f"{path}: cannot write there: {exc.strerror or exc}") from None


def _folder_problem(path: Path) -> str | None:
    """Make the folder if missing; why it cannot be made or written, or None."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        return None if os.access(path, os.W_OK | os.X_OK) else "not writable"
    except FileExistsError:
        return "a file is there, not a folder"
    except OSError as exc:
        return exc.strerror or str(exc)


def _engine(args: argparse.Namespace) -> Engine:
    profile = profile_named(args.policy or "default")
    try:
        directory = load_directory(args.directory) if args.directory else None
    except DirectoryError as exc:
        raise UsageError(str(exc)) from None
    return build_engine(profile, directory, lateness=args.lateness or timedelta(0))


def _run_replay(args: argparse.Namespace) -> ReplayResult:
    result = _replay_input(args)
    last, now = result.engine.last_event_time, datetime.now(UTC)
    if last is not None and last > now + FUTURE_WARNING:
        result.warnings.append(
            f"the latest event is dated {last.isoformat()}, after now ({now.isoformat(timespec='seconds')}): the "
            "clock moved on to it, so every deadline up to then has passed; check that event's time (a typo in the "
            "year?)"
        )
    return result


def _replay_input(args: argparse.Namespace) -> ReplayResult:
    if args.broker:  # never implied by MONITOR_BROKER: files, else standard input, stay the default input
        return replay_topics(args)
    engine = _engine(args)
    with ExitStack() as stack:
        streams: list[tuple[str, IO[bytes]]] = []
        for name in args.events:
            try:
                streams.append((name, stack.enter_context(open(name, "rb"))))
            except OSError as exc:
                raise UsageError(f"{name}: cannot read: {exc.strerror}") from None
        stdin = not streams
        if stdin:
            if sys.stdin.isatty():
                running = " (the running monitor's report instead: --url)" if args.func is cmd_report_leavers else ""
                print(f"reading events from standard input (JSONL); end with Ctrl-D{running}", file=sys.stderr)
            streams.append(("<stdin>", sys.stdin.buffer))
        progress = sys.stderr if sys.stderr.isatty() else None
        result = replay(engine, read_lines(streams), until=args.until, progress=progress)
    if stdin and not result.lines and os.environ.get("MONITOR_BROKER"):  # e.g. from cron, as the people's commands run
        result.warnings.append("standard input held no events, and the Kafka runtime's topics were not read: "
                               "MONITOR_BROKER is set, but replay and report read them only with --broker")  # fmt: skip
    return result


def cmd_replay(args: argparse.Namespace) -> int:
    if args.lockouts:
        _writable_file(args.lockouts)  # before the replay, not after all its work
    result = _run_replay(args)
    write_alerts(result.engine, sys.stdout)
    if args.lockouts:
        with _writing(args.lockouts), open(args.lockouts, "w", encoding="utf-8") as fh:  # checked, yet a disk fills
            for cmd in result.engine.lockouts:
                fh.write(cmd.model_dump_json() + "\n")
    print(visible(summary(result), lines=True), file=sys.stderr)  # rejected lines name events' ids
    _warn(result)
    return 0


def _warn(result: ReplayResult) -> None:
    for w in result.warnings:
        print(f"monitor: warning: {w}", file=sys.stderr)


def cmd_report_leavers(args: argparse.Namespace) -> int:
    from monitor.report import leaver_report, why_no_rows

    if args.url is not None:
        return _report_leavers_from_monitor(args)
    result = _run_replay(args)
    rows = leaver_report(result.engine)
    # with no row on an account, say why (no register given?), beside the rows that say HR's reports arrived
    no_duty = all(r.account_id is None for r in rows)
    _print_leaver_rows(args, rows, why_no_rows(result.engine) if no_duty else None)
    print(summary(result).splitlines()[0], file=sys.stderr)
    for line in map(visible, rejected_lines(result)):  # as replay lists them: the count alone says nothing of which
        print(line, file=sys.stderr)
    _warn(result)
    return 0


def _report_leavers_from_monitor(args: argparse.Namespace) -> int:
    """The running embedded monitor's leaver report, as its console's Leavers page and GET /api/leavers have it."""
    from monitor.report import LeaverRow

    given = [flag for flag, value in (("event files", args.events), ("--broker", args.broker),
             ("--policy", args.policy), ("--directory", args.directory), ("--until", args.until),
             ("--lateness", args.lateness)) if value]  # fmt: skip
    if given:
        raise UsageError(f"--url reads the running monitor's report, which replays nothing: leave out "
                         f"{', '.join(given)}")  # fmt: skip
    rows = [LeaverRow.model_validate(r) for r in _call(args, lambda c: c.call("GET", "/api/leavers"), None)]
    _print_leaver_rows(args, rows)
    return 0


def _print_leaver_rows(args: argparse.Namespace, rows: list[Any], note: str | None = None) -> None:
    """The leaver report, as JSON lines (--json, with `note`, why no row is on an account, on standard error) or as
    a table followed by the note."""
    from monitor.report import format_report

    if args.json:
        for row in rows:
            print(row.model_dump_json())
        if note:
            print(f"monitor: note: {note}", file=sys.stderr)
        return
    # People's and accounts' ids are events' text: shown as visible escapes, each in its own cell
    rows = [row.model_copy(update={k: visible(v) for k, v in row if isinstance(v, str)}) for row in rows]
    if rows and note:
        print(f"{format_report(rows)}\n\n{note}")
    else:
        print(note or format_report(rows))


def cmd_policy_list(args: argparse.Namespace) -> int:
    for name in builtin_names():
        p = load_profile(name)
        print(f"{name:16} {len(p.enabled()):2} controls on   {p.title}")
    return 0


def cmd_policy_show(args: argparse.Namespace) -> int:
    from monitor.rules import RULES

    p = profile_named(args.name)
    print(f"{p.name}: {p.title}" + (f" (seed {p.seed})" if p.seed else ""))
    if p.description:
        print(p.description)
    print("\nparameters:")
    for key, value in p.parameters.model_dump(mode="json").items():
        print(f"  {key:22} {value}")
    print("\ncontrols:")
    for cid in CONTROL_IDS:
        s = p.controls[cid]
        spec = RULES.get(cid)
        sev = "-" if spec is None or spec.severity is None else p.severity(cid, spec.severity)
        title = spec.title if spec else "(not implemented)"
        print(f"  {cid}  {s.mode:8} {sev:8} {title}")
        if s.sources:
            print(f"          cites {'; '.join(s.sources)}")
        if s.note:
            print(f"          note: {s.note}")
    return 0


def cmd_policy_validate(args: argparse.Namespace) -> int:
    p = profile_named(args.file)
    print(f"{args.file}: ok ({p.name}, {len(p.enabled())} of {len(CONTROL_IDS)} controls on)")
    return 0


def cmd_schema_export(args: argparse.Namespace) -> int:
    from monitor.schema_export import export_schemas

    with _writing(args.dir):
        written = export_schemas(_writable_dir(args.dir))
    print(f"wrote {len(written)} JSON Schema files to {args.dir}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from monitor.demo import write_demo
    from monitor.demo_table import alert_table

    out = _writable_dir(args.out) if args.out else Path(tempfile.mkdtemp(prefix="monitor-demo-"))
    print(f"generating the demo organisation (seed {args.seed}, {args.days} days) in {out}", file=sys.stderr)
    with _writing(out):
        directory_path, events_path = write_demo(out, seed=args.seed, days=args.days)
    engine = build_engine(profile_named(args.policy), load_directory(directory_path))
    with open(events_path, "rb") as fh:
        result = replay(
            engine, read_lines([(str(events_path), fh)]), progress=sys.stderr if sys.stderr.isatty() else None
        )
    print(alert_table(engine.final_alerts(), limit=args.limit))
    print()
    print(visible(summary(result), lines=True))
    print(
        f"\nfiles: {directory_path} and {events_path}\n"
        f"replay them yourself: monitor replay --policy {args.policy} --directory {directory_path} {events_path}"
    )
    return 0


def _client(args: argparse.Namespace) -> Any:
    from service.client import Client, ClientError, token_from

    try:
        return Client(args.url, token_from(args.token_file))
    except ClientError as exc:
        raise UsageError(str(exc)) from None


class _Interrupted(Exception):
    """Ctrl-C while the monitor was being asked: main says what may have happened, with exit status 130."""


EXIT_INTERRUPTED = 130  # as a shell reports a command stopped by SIGINT
SENT_ALREADY = "check what it did before sending it again"


def _call(args: argparse.Namespace, fn: Any, if_interrupted: str | None = SENT_ALREADY) -> Any:
    """Run an API call, turning refusals and network errors into a clear message and exit status 2, and Ctrl-C into
    one line saying that the monitor may still carry out what it was sent (`if_interrupted`: what to do; None for a
    call that changes nothing, which main reports as interrupted and no more)."""
    from service.client import ClientError

    client = _client(args)
    try:
        return fn(client)
    except ClientError as exc:
        raise UsageError(str(exc)) from None
    except KeyboardInterrupt:
        if if_interrupted is None:
            raise
        raise _Interrupted(f"interrupted while waiting for the monitor at {client.url}: what was sent may still be "
                           f"carried out there, as it cannot be called back; {if_interrupted}") from None  # fmt: skip
    finally:
        client.close()


# A command run again within this window (a retry after a timeout, or not sure it went) is the same event; after
# it, or with --again, a report is an event of its own, so a correction back to an earlier value is taken.
RETRY_WINDOW = timedelta(minutes=15)
RETRIED = (f"the same command run again within {int(RETRY_WINDOW.total_seconds() // 60)} minutes of its first run is "
           "taken as a retry of it, not a second report")  # fmt: skip


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _sent_record() -> Path:
    """Where this machine's CLI remembers the reports it sent in the last RETRY_WINDOW: content digests, event ids
    and times only, so a retry straddling a window's edge is still the same event."""
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(base) / "social-account-monitor" / "sent-reports.json"


def _recall_sent(key: str, id_: str, stamp: str, now: datetime) -> tuple[str, str]:
    """The (id, time) of the same report sent from here within RETRY_WINDOW, else (id_, stamp), now remembered.
    An unreadable or unwritable record is no error: the window's id still makes most retries one event. The record
    is its owner's alone (0600), and two runs at once take turns (a lock), so neither loses the other's entry."""
    import fcntl
    import json

    path = _sent_record()
    lock: int | None = None
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        path.parent.chmod(0o700)  # made by an earlier version, open to all
        lock = os.open(path.with_name(f".{path.name}.lock"), os.O_CREAT | os.O_WRONLY, 0o600)
        fcntl.flock(lock, fcntl.LOCK_EX)  # may fail (no locks on some network homes): then not kept
    except OSError:
        if lock is not None:
            os.close(lock)
        lock = None
    try:
        try:
            kept = json.loads(path.read_text())
        except (OSError, ValueError):
            kept = {}
        with suppress(OSError):
            path.chmod(0o600)  # written by an earlier version, readable by all
        recent: dict[str, tuple[str, str]] = {}
        for k, v in kept.items() if isinstance(kept, dict) else ():
            if isinstance(v, list) and len(v) == 2 and all(isinstance(x, str) for x in v):
                try:
                    if abs(now - _parse_stamp(v[1])) < RETRY_WINDOW:  # abs: a clock set back a little still matches
                        recent[k] = (v[0], v[1])
                except (TypeError, ValueError):
                    pass  # a damaged entry (not a time, or one without its zone) is forgotten, not fatal
        if key in recent:
            return recent[key]
        recent[key] = (id_, stamp)
        if lock is not None:
            tmp = path.with_name(f".{path.name}.{os.getpid()}")
            with suppress(OSError):
                fd = os.open(tmp, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "w") as fh:
                    json.dump(recent, fh)
                os.replace(tmp, path)
        return id_, stamp
    finally:
        if lock is not None:
            os.close(lock)  # and with it the lock


def _parse_stamp(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def _cli_event(type_: str, source: str, data: dict[str, Any], once: bool = True) -> dict[str, Any]:
    """An event typed at the command line. With `once`, a retry is one event: the same report sent from here in
    the last RETRY_WINDOW is sent again as it was (id and time), and otherwise its id derives from its content and
    the RETRY_WINDOW it is sent in (so a retry from another machine is mostly one event too); a report sent again
    later (such as a correction back to what an earlier report said, after another one) is taken. With `once`
    off, its id derives from its content and time: each run is an event of its own."""
    import hashlib
    import json

    def digest(facts: list[Any]) -> str:
        return hashlib.blake2b(json.dumps(facts, sort_keys=True).encode(), digest_size=8).hexdigest()

    now = _utcnow()
    stamp = now.isoformat().replace("+00:00", "Z")
    if once:
        window = int(now.timestamp() // RETRY_WINDOW.total_seconds())
        id_, stamp = _recall_sent(digest([type_, source, data]), f"cli-{digest([type_, data, window])}", stamp, now)
    else:
        id_ = f"cli-{digest([type_, data, now.isoformat()])}"
    return {"specversion": "1.0", "id": id_, "source": source, "type": type_, "time": stamp, "data": data}


def _print_submit(out: Any, args: argparse.Namespace | None = None, person: str | None = None) -> int:
    print(f"accepted {out['accepted']}, duplicates {out['duplicates']}, alert versions made {len(out['alerts'])}")
    if out["duplicates"] and not out["accepted"]:
        minutes = int(RETRY_WINDOW.total_seconds() // 60)
        print(f"monitor: note: the same report was taken already, sent within the last {minutes} minutes: nothing "
              "changed. If it corrects a report made since then back to this, send it again with --again",
              file=sys.stderr)  # fmt: skip
    for r in out["rejected"]:
        print(f"rejected: {r['reason']}", file=sys.stderr)
    if args is not None and person is not None and out["accepted"]:
        _print_reach(args, person)
    return EXIT_BAD_INPUT if out["rejected"] else 0


def _print_reach(args: argparse.Namespace, person: str) -> None:
    """After HR's report is taken: the accounts the person reaches, which the monitor now checks, or a note that
    the register does not name them (a mistyped id would otherwise look like a leaver with nothing to revoke)."""
    from urllib.parse import quote

    from service.client import ClientError

    client = _client(args)
    try:
        view = client.call("GET", f"/api/register/people/{quote(person, safe='')}")
    except ClientError as exc:
        if exc.status == 404:
            tell_reach(person, None)
        return  # a token that may not read the register (403) gets what it had before
    finally:
        client.close()
    tell_reach(person, view["accounts"])


FAR_OFF = timedelta(days=180)  # an HR date this far from now is said to be so, as a mistyped year looks


def _warn_far_off(option: str, when: datetime, past: str) -> None:
    """A warning, before the report is sent, when its date is FAR_OFF or more from now: a year typed wrong is taken
    as given, and a past one has effects that a corrected report does not undo (`past` says which)."""
    away = when - _utcnow()
    if abs(away) < FAR_OFF:
        return
    stamp = when.isoformat().replace("+00:00", "Z")
    said = f"{counted(abs(away).days, 'day')} {'after' if away > timedelta(0) else 'before'} now"
    effect = past if away < timedelta(0) else "nothing falls due until then"
    print(f"monitor: warning: {option} {stamp} is {said}: {effect}. If the year is mistyped, report the right date at "
          "once", file=sys.stderr)  # fmt: skip


def _send_hr_report(args: argparse.Namespace, ev: dict[str, Any]) -> int:
    """HR's report on args.person, to the Kafka runtime's topics or the embedded monitor, then whom it reaches."""
    if on_broker(args):
        return publish_one(args, ev, f"`monitor alerts list --person {args.person}` shows what it raises", args.person)
    return _print_submit(
        _call(args, lambda c: c.submit([ev]), SENT_ALREADY if args.again else RETRIED), args, args.person
    )


def cmd_hr_leaver(args: argparse.Namespace) -> int:
    _warn_far_off("--leaving-at", args.leaving_at, "their access was due to go long ago, and what they did on their "
                  "accounts since counts as acting after leaving (LVR-03: critical alerts and emergency lockouts, "
                  "which a corrected report does not withdraw)")  # fmt: skip
    data: dict[str, Any] = {"person_id": args.person, "leaving_at": args.leaving_at.isoformat()}
    if args.reason:
        data["reason"] = args.reason
    ev = _cli_event("hr.leaver", "hr/monitor-cli", data, once=not args.again)
    return _send_hr_report(args, ev)


def cmd_hr_mover(args: argparse.Namespace) -> int:
    _warn_far_off("--effective-at", args.effective_at, "the access of their old role was due to go long ago, so "
                  "its removal is overdue at once (LVR-02)")  # fmt: skip
    data: dict[str, Any] = {
        "person_id": args.person,
        "effective_at": args.effective_at.isoformat(),
        "new_role": args.new_role,
    }
    if args.new_unit:
        data["new_unit"] = args.new_unit
    ev = _cli_event("hr.role_changed", "hr/monitor-cli", data, once=not args.again)
    return _send_hr_report(args, ev)


WITHDRAWN = "{}: the leaving HR reported, if any, is withdrawn and its duties cancelled; a move HR reported stands"


def cmd_hr_cancel(args: argparse.Namespace) -> int:
    """HR withdraws a leaving (a rehire, or notice withdrawn): hr.leaver_cancelled. A move HR gave notice of stands."""
    ev = _cli_event("hr.leaver_cancelled", "hr/monitor-cli", {"person_id": args.person}, once=not args.again)
    if on_broker(args):
        then = f"`monitor alerts list --person {args.person}` shows what stays open"
        return publish_one(args, ev, then)
    out = _call(args, lambda c: c.submit([ev]), SENT_ALREADY if args.again else RETRIED)
    code = _print_submit(out)
    if out["accepted"]:
        print(visible(WITHDRAWN.format(args.person)))
    return code


def cmd_emergency_request(args: argparse.Namespace) -> int:
    from urllib.parse import quote

    body: dict[str, Any] = {"account_id": args.account, "reason": args.reason}
    if args.minutes is not None:  # 0 is sent as given, and refused: it is not "the default"
        body["minutes"] = args.minutes
    if on_broker(args):
        if not args.by or not args.by.strip():
            raise UsageError("say who is asking with --by PERSON_ID: the Kafka runtime has no tokens, and EMG-02 "
                             "grants only to the comms team")  # fmt: skip
        # each request is its own event, even in the same words as one before
        ev = _cli_event("emergency.access_requested", "comms/monitor-cli", {**body, "requester_id": args.by.strip()},
                        once=False)  # fmt: skip
        return emergency_on_topics(args, ev)
    url, out = _call(
        args,
        lambda c: (c.url, c.call("POST", "/api/emergency-requests", json=body)),
        "the console's Emergency access page lists the requests and how each went, before you ask again",
    )
    g = out["grant"]
    print(visible(f"request {out['request_id']}: {out['status']}"))
    if g:
        print(visible(f"  access to {g['account_id']} for {g['requester_id']} until {g['expires_at']}"))
        granted = _parse_stamp(g["expires_at"]) - _parse_stamp(g["granted_at"])
        if args.minutes is not None and granted < timedelta(minutes=args.minutes):  # the policy's most, not asked
            print(f"  that is {counted(int(granted.total_seconds() // 60), 'minute')}, the most the policy grants, "
                  f"not the {args.minutes} asked for")  # fmt: skip
    for cmd in out["lockouts"]:
        print(visible(f"  lockout {cmd['id']}: {', '.join(cmd['actions'])}; notify {', '.join(cmd['notify'])}"))
    print(f"  follow it: {url}/console/emergency/{quote(out['request_id'], safe='')} (the lockout, the access "
          "ending and the credential's rotation after it)")  # fmt: skip
    return 0


def _known_controls(given: list[str]) -> list[str]:
    """--control values as control IDs, in any case; UsageError listing the controls if one is not a control (the
    API refuses a badly shaped one in its own terms, and a well shaped unknown one matches nothing, silently)."""
    from monitor.rules import RULES

    ids = [c.strip().upper() for c in given]
    unknown = [g for g, c in zip(given, ids, strict=True) if c not in RULES]
    alerting = [c for c, spec in RULES.items() if spec.kind == "alert"]
    if unknown:
        raise UsageError(f"no control {', '.join(map(repr, unknown))} (--control); the controls that raise "
                         f"alerts are {', '.join(alerting)}")  # fmt: skip
    reports = [c for c in ids if c not in alerting]
    if reports:
        raise UsageError(f"{', '.join(reports)} is a report, not an alert: `monitor report leavers` or GET "
                         "/api/leavers shows it")  # fmt: skip
    return ids


def cmd_alerts_list(args: argparse.Namespace) -> int:
    import json

    from schemas.alerts import Alert

    if args.control:
        args.control = _known_controls(args.control)
    params: dict[str, Any] = {"limit": args.limit}
    for name in ("status", "control", "severity"):
        if getattr(args, name):
            params[name] = getattr(args, name)
    if args.account:
        params["account_id"] = args.account
    if args.person:
        params["person_id"] = args.person
    if on_broker(args):
        total, page = alerts_from_topic(args, params)
    else:
        out = _call(args, lambda c: c.call("GET", "/api/alerts", params=params), None)
        total, page = out["total"], [Alert.model_validate(a) for a in out["alerts"]]
    if args.json:
        for a in page:
            print(json.dumps(a.model_dump(mode="json"), separators=(",", ":")))
        return 0
    from monitor.demo_table import alert_table

    print(alert_table(page, limit=args.limit, width=210, ids=True))
    print(f"\nthe newest {len(page)} of {total} alerts: open first, most severe first, then oldest first")
    return 0


def cmd_lockouts_list(args: argparse.Namespace) -> int:
    import json

    from schemas.alerts import LockoutCommand

    if on_broker(args):
        found = [c for c in lockouts_from_topic(args) if not args.account or c.account_id == args.account]
    else:
        params = {"account_id": args.account} if args.account else {}
        out = _call(args, lambda c: c.call("GET", "/api/lockouts", params=params), None)
        found = [LockoutCommand.model_validate(c) for c in out]
    found.sort(key=lambda c: (c.issued_at, c.id), reverse=True)
    shown = found[: args.limit]  # --limit is 1 or more (_limit)
    if args.json:
        for c in shown:
            print(json.dumps(c.model_dump(mode="json"), separators=(",", ":")))
        return 0
    v = visible  # ids and the reason are events' text (an alert's summary): never sent raw to the terminal
    for c in shown:
        print(f"{c.issued_at.astimezone(UTC):%Y-%m-%d %H:%M}Z  {v(c.id)}  {v(c.account_id)}  for {v(c.alert_id)}\n"
              f"  do:     {v(', '.join(c.actions))}\n  notify: {v(', '.join(c.notify))}\n"
              f"  why:    {v(c.reason)}")  # fmt: skip
    print(f"\n{len(shown)} of {len(found)} lockout commands, newest first")
    return 0


def _alert_path(alert_id: str, action: str = "") -> str:
    """The alert's API path, or its action's; an id with '?' or '/' is still one path segment."""
    from urllib.parse import quote

    return f"/api/alerts/{quote(alert_id, safe='')}" + (f"/{action}" if action else "")


def cmd_alerts_ack(args: argparse.Namespace) -> int:
    if on_broker(args):
        return act_on_topic(args, "ack")
    body = {"note": args.note} if args.note else None
    out = _call(args, lambda c: c.call("POST", _alert_path(args.id, "acknowledge"), json=body))
    print(visible(f"{out['id']} {out['control']} {out['status']}"))
    return 0


def cmd_alerts_resolve(args: argparse.Namespace) -> int:
    from monitor.cli_common import already_resolved

    if not args.note.strip():
        raise UsageError("say what was done with --note: a resolved alert keeps it (it is blank)")
    if on_broker(args):
        return act_on_topic(args, "resolve")

    def resolve(c: Any) -> tuple[dict[str, Any], bool]:
        """The alert after, and whether it was resolved before (the engine then keeps its note, by and time)."""
        before = c.call("GET", _alert_path(args.id))["alert"]
        if before["status"] == "resolved":
            return before, True
        after = c.call("POST", _alert_path(args.id, "resolve"), json={"note": args.note})
        return after, after["note"] != args.note.strip()  # resolved by someone else in between

    out, already = _call(args, resolve)
    print(already_resolved(out, args.note) if already else visible(f"{out['id']} {out['control']} {out['status']}"))
    return 0


def cmd_directory_import(args: argparse.Namespace) -> int:
    try:
        text = Path(args.file).read_bytes()
        if len(text) > MAX_REGISTER_BYTES:
            raise UsageError(
                f"{args.file}: {len(text):,} bytes, over the monitor's limit of {MAX_REGISTER_BYTES:,} for a register"
            )
        started = time.perf_counter()
        d = load_directory(args.file)  # a bad file fails here, with its line, before anything is sent
    except OSError as exc:
        raise UsageError(f"{args.file}: cannot read: {exc.strerror}") from None
    except DirectoryError as exc:
        raise UsageError(str(exc)) from None
    from service.register import check_retire_missing

    try:
        check_retire_missing(d, args.retire_missing)  # on either runtime, before anything is sent
    except DirectoryError as exc:
        raise UsageError(f"{args.file}: {exc}") from None
    for note in comms_team_notes(d):
        print(f"monitor: warning: {args.file}: {note}", file=sys.stderr)
    if on_broker(args):
        return import_on_topics(args, d, text.decode("utf-8"))
    print(
        f"{args.file}: {counted(len(d.accounts), 'account')} and {counted(len(d.people), 'person', 'people')}, "
        f"checked in {time.perf_counter() - started:.1f} s; sending it to the monitor, which takes the differences ...",
        file=sys.stderr,
        flush=True,
    )
    params = {"retire_missing": "true"} if args.retire_missing else {}
    if args.dry_run:
        params["dry_run"] = "true"
    out = _call(
        args,
        lambda c: c.call("POST", "/api/register/import", content=text, params=params, timeout=REGISTER_TIMEOUT_S),
        "`monitor directory export` shows the register as the monitor has it, and importing the file again takes "
        "only what still differs",
    )
    from service.register import changes_in_words

    what = f" ({changes_in_words(out['changes'])})" if out.get("changes") else ""  # none from an older monitor
    if args.dry_run:
        if not out.get("dry_run"):  # a monitor from before dry runs took the import: say so, not "nothing changed"
            raise UsageError("the monitor does not know --dry-run and has taken the import: "
                             f"{counted(out['events'], 'change')}, {out['accepted']:,} taken")  # fmt: skip
        print(f"would make {counted(out['events'], 'change')}{what}; nothing was changed (--dry-run)")
        say_changes(out.get("described", []), out.get("described_total", 0))  # none from an older monitor
    else:
        print(f"{counted(out['events'], 'change')}{what}: {out['accepted']:,} taken, "
              f"{out['duplicates']:,} already known")  # fmt: skip
    # a monitor from before the field: nothing said, as before
    say_unlisted(out.get("unlisted", 0), out.get("unlisted_first", []), args.retire_missing, args.dry_run)
    return 0


def cmd_directory_export(args: argparse.Namespace) -> int:
    if args.output:
        _writable_file(args.output)  # before the export, not after all its work
    if on_broker(args):
        text = export_from_topic(args)
    else:
        text = _call(args, lambda c: c.call("GET", "/api/register/export", timeout=REGISTER_TIMEOUT_S), None)
    if args.output:
        with _writing(args.output):
            Path(args.output).write_text(text, encoding="utf-8")
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    if args.broker or "MONITOR_BROKER" in os.environ:
        if args.demo:
            raise UsageError("--demo runs the embedded monitor; leave out --broker (and MONITOR_BROKER)")
        s = stream_settings(args, clients=("kafka", "faust"))  # a worker runs on Faust
        from monitor.directory import load_organisation
        from streams.app import run_worker
        from streams.topics import topic_problems

        try:  # what the worker reads at its start, checked before it joins the group
            load_profile(s.policy)
            if s.directory is not None:
                load_organisation(s.directory)
        except (DirectoryError, ProfileError) as exc:
            raise UsageError(str(exc)) from None
        _usable_data_dir(s.data_dir)  # its snapshots go there
        reach_broker(s)  # an address that takes no connection: in seconds, not the admin client's 30 s of silence
        try:
            problems = topic_problems(s)
        except Exception as exc:  # no broker answering: say so now rather than retry in silence
            raise UsageError(f"cannot reach the broker at {s.broker}: {exc}") from None
        if problems:
            raise UsageError("; ".join(problems) + " (monitor topics create makes them, with the same settings)")
        warn_config(s)  # the worker runs as exactly; replays and reports would miss history
        print(f"worker {s.app_id} on {s.broker}, topics {s.topic_prefix}.*, health and metrics on "
              f"http://{s.web_host}:{s.web_port}/health and /metrics", file=sys.stderr)  # fmt: skip
        run_worker(s)
        return 0
    return _run_embedded(args)


def _service_settings(args: argparse.Namespace) -> Any:
    """The embedded monitor's settings."""
    from service.settings import ServiceSettings

    return settings_from(ServiceSettings, args)


def _run_embedded(args: argparse.Namespace) -> int:
    import logging

    from service.embedded import StateMismatch
    from service.runner import CannotListen, check_listen, prepare_demo, serve
    from service.sinks import SinkConfigError, check_urls, load_sinks

    s = _service_settings(args)
    logging.basicConfig(level=s.loglevel.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        _check_host(s.web_host, s.web_port)
        check_listen(s.web_host, s.web_port)  # before the demo prints tokens it would then not use
        if s.sinks:
            check_urls(load_sinks(s.sinks))  # a URL that cannot be used, before anything is made or shown
        _usable_data_dir(s.data_dir)  # after: a port that is taken leaves nothing made
        s = _as_first_started(s, args)
        if args.demo:
            s = prepare_demo(s, sys.stdout)  # the tokens, once, on standard output; logs go to standard error
        serve(s, sys.stderr)
    except (StateMismatch, SinkConfigError, DirectoryError, ProfileError, CannotListen) as exc:
        raise UsageError(str(exc)) from None
    # Everything is committed and the database closed. Leave without freeing the engine object by object: with
    # 100,000 accounts that took 10 s, and a service manager's stop timeout counts it.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _check_host(host: str, port: int) -> None:
    """UsageError when --web-host is not an address or not this machine's (check_listen would blame the port)."""
    import errno
    import socket

    try:
        socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UsageError(f"--web-host {host!r} is not a valid address or host name ({exc}): give one of this "
                         "machine's addresses, e.g. 127.0.0.1 or 0.0.0.0 (or MONITOR_WEB_HOST)") from None  # fmt: skip
    try:
        with socket.create_server((host, port)):
            pass
    except OSError as exc:
        if exc.errno == errno.EADDRNOTAVAIL:
            raise UsageError(f"--web-host {host!r} is not an address of this machine: give one of its addresses, "
                             "e.g. 127.0.0.1 or 0.0.0.0 (or MONITOR_WEB_HOST)") from None  # fmt: skip
        # anything else (the port in use) is for check_listen to say


def _as_first_started(s: Any, args: argparse.Namespace) -> Any:
    """On a restart, the policy and lateness the data folder was first started with, where neither the flag nor
    its MONITOR_* variable gives one (the defaults are not a choice); one given and different is refused, saying
    both in words (the monitor's own check would show the lateness in raw seconds)."""
    import sqlite3

    from monitor.durations import format_duration

    if not s.db_path.exists():
        return s
    try:
        conn = sqlite3.connect(f"file:{s.db_path}?mode=ro", uri=True, timeout=30)
        try:
            rows = dict(conn.execute("SELECT key, value FROM meta WHERE key IN ('policy', 'lateness')").fetchall())
        finally:
            conn.close()
    except sqlite3.Error:
        return s  # not a monitor's database, or an old one: the monitor's own opening says what is wrong
    update: dict[str, Any] = {}
    if rows.get("lateness") is not None:
        was = timedelta(seconds=float(rows["lateness"]))
        if args.lateness is None and "MONITOR_LATENESS" not in os.environ:
            update["lateness"] = was
        elif s.lateness != was:
            raise UsageError(f"{s.db_path} was started with lateness {format_duration(was)}, not "
                             f"{format_duration(s.lateness)}: leave out --lateness (and MONITOR_LATENESS) to keep "
                             "it, or use a new --data-dir for a new monitor")  # fmt: skip
    policy = rows.get("policy")
    if policy is not None and args.policy is None and "MONITOR_POLICY" not in os.environ:
        if policy not in builtin_names():
            raise UsageError(f"{s.db_path} was started with a policy file whose profile is {policy!r}: give that "
                             "file again with --policy FILE (or MONITOR_POLICY)")  # fmt: skip
        update["policy"] = policy
    return s.model_copy(update=update)


def _usable_data_dir(path: Path) -> None:
    """The data folder, made if missing (for the monitor's user alone); UsageError saying why when it cannot be made
    or written."""
    with suppress(OSError):  # _folder_problem says what is wrong
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    problem = _folder_problem(path)
    if problem:
        raise UsageError(f"cannot use {path} as the data folder: {problem}; choose another with --data-dir "
                         "(or MONITOR_DATA_DIR)")  # fmt: skip


def _token_store(args: argparse.Namespace, first_setup: bool = False) -> Any:
    """The data folder's store. Only `token create` may start a new data folder (before the first `monitor run`);
    the other token commands refuse a folder that holds no monitor, rather than list nothing from the wrong one."""
    from service.store import Store, connect

    s = _service_settings(args)
    new = not s.db_path.exists()
    if new and not first_setup:
        raise UsageError(f"no monitor in {s.data_dir} (no {s.db_path.name} there): give the monitor's data "
                         "folder with --data-dir (or MONITOR_DATA_DIR)")  # fmt: skip
    _usable_data_dir(s.data_dir)  # before saying it starts one there
    if new:
        print(f"monitor: no monitor in {s.data_dir} yet: starting a new data folder there (`monitor run --data-dir "
              f"{s.data_dir}` uses it)", file=sys.stderr)  # fmt: skip
    return Store(connect(s.db_path)), s


def cmd_token_create(args: argparse.Namespace) -> int:
    from service.auth import create_token

    if not args.name.strip() or args.name != args.name.strip():
        raise UsageError(f"{args.name!r} is not a name: give the person id in the register (or a system's name)")
    store, s = _token_store(args, first_setup=True)
    try:
        token = create_token(store, args.name, args.role, datetime.now(UTC))
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    print(token)
    print(f"token for {args.name} ({args.role}) in {s.db_path}: shown once, stored only as a hash", file=sys.stderr)
    return 0


def cmd_token_list(args: argparse.Namespace) -> int:
    from service.auth import list_tokens

    store, _ = _token_store(args)
    for t in list_tokens(store):
        state = f"revoked {t['revoked_at']}" if t["revoked_at"] else "live"
        print(f"{t['name']:24} {t['role']:10} created {t['created_at']}  {state}")
    return 0


def cmd_token_revoke(args: argparse.Namespace) -> int:
    from service.auth import revoke_tokens

    store, _ = _token_store(args)
    n = revoke_tokens(store, args.name, datetime.now(UTC))
    if not n:
        raise UsageError(f"{args.name} has no live token")
    print(f"revoked {counted(n, 'token')} of {args.name}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="monitor",
        description="Security monitor for an organisation's corporate social media accounts.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def replay_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("--policy", help="profile name or file (default: default; with --broker, env MONITOR_POLICY)")
        p.add_argument("--directory", metavar="FILE", help="the register as a YAML file (with --broker: only its "
                       "organisation section, env MONITOR_DIRECTORY)")  # fmt: skip
        p.add_argument("--until", type=_time, help="after the events, advance the clock to this time so that "
                       "deadlines up to it fall due (default: the last event's time); it does not cut events off: "
                       "a time before the last event is warned about and has no effect")  # fmt: skip
        p.add_argument(
            "--lateness",
            type=_duration,
            metavar="DUR",
            help="reorder buffer for out-of-order input, e.g. 10m (default: 0s; with --broker, MONITOR_LATENESS)",
        )
        p.add_argument("events", nargs="*", metavar="EVENTS.jsonl", help="event files (default: standard input)")
        p.add_argument("--broker", help="kafka://HOST:PORT: read the Kafka runtime's input topics instead of files "
                       "(the reorder buffer is then MONITOR_LATENESS)")  # fmt: skip
        p.add_argument("--topic-prefix", dest="topic_prefix", help="topic name prefix (env MONITOR_TOPIC_PREFIX)")

    p = sub.add_parser("replay", help="run events through the engine; final alerts as JSONL on stdout")
    replay_args(p)
    p.add_argument("--lockouts", metavar="FILE", help="also write the emergency lockout commands here (JSONL)")
    p.set_defaults(func=cmd_replay)

    p = sub.add_parser("report", help="reports for HR and auditors")
    rsub = p.add_subparsers(dest="report", required=True, metavar="REPORT")
    pl = rsub.add_parser("leavers", help="LVR-05: per leaver and mover, every account, what was done and when")
    replay_args(pl)
    pl.add_argument("--json", action="store_true", help="one JSON object per row")
    pl.add_argument("--url", nargs="?", const="", metavar="URL", help="the running embedded monitor's report "
                    "instead of replaying events (GET /api/leavers, as HR, security or admin): at URL, or without "
                    "one at env MONITOR_URL, default http://127.0.0.1:8080")  # fmt: skip
    pl.add_argument("--token-file", dest="token_file", help="with --url: file holding your token (default: env "
                    "MONITOR_TOKEN)")  # fmt: skip
    pl.set_defaults(func=cmd_report_leavers)

    p = sub.add_parser("policy", help="list, show and validate policy profiles")
    psub = p.add_subparsers(dest="policy_cmd", required=True, metavar="ACTION")
    psub.add_parser("list", help="the built-in profiles").set_defaults(func=cmd_policy_list)
    ps = psub.add_parser("show", help="a profile's controls, parameters and citations")
    ps.add_argument("name", help="profile name or file")
    ps.set_defaults(func=cmd_policy_show)
    pv = psub.add_parser("validate", help="check a profile file; errors name the line")
    pv.add_argument("file", help="the profile file (YAML) to check")
    pv.set_defaults(func=cmd_policy_validate)

    p = sub.add_parser("schema", help="the wire contract as JSON Schema")
    ssub = p.add_subparsers(dest="schema_cmd", required=True, metavar="ACTION")
    se = ssub.add_parser("export", help="write one JSON Schema file per event type, plus the alert")
    se.add_argument("dir", help="the folder to write them in (made if missing)")
    se.set_defaults(func=cmd_schema_export)

    def kafka_args(p: argparse.ArgumentParser, partitions: bool = True) -> None:
        p.add_argument("--broker", help="kafka://HOST:PORT (env MONITOR_BROKER)")
        p.add_argument("--topic-prefix", dest="topic_prefix", help="topic name prefix (env MONITOR_TOPIC_PREFIX)")
        if partitions:  # for the commands that create topics or write to every work partition
            p.add_argument("--partitions", type=int, help="work partitions (env MONITOR_PARTITIONS, default 8)")

    p = sub.add_parser(
        "run",
        help="run the live monitor: embedded (API, console, drop folder) or, with --broker, a Kafka worker",
        description="Without --broker: the embedded monitor in this process, state in DATA_DIR/monitor.db, "
        "events from the API and the drop folder DATA_DIR/inbox, the console on http://HOST:PORT/console. "
        "With --broker (or MONITOR_BROKER): a worker of the Kafka runtime.",
        epilog="Settings taken from the environment only. Embedded: MONITOR_DELIVERY_MAX_BACKOFF (the most seconds "
        "between a failing sink's retries, default 300), MONITOR_CONSOLE_URL (the console's public address, for "
        "links in delivered alerts), MONITOR_LOGLEVEL (default info). Kafka worker: MONITOR_REPLICATION (replication "
        "factor of the topics `monitor topics create` makes, default 1), MONITOR_SNAPSHOT_EVERY (events folded "
        "between snapshots of a partition engine, default 50000, 0 = off), MONITOR_INSTANCE_ID (static membership: "
        "unique per worker), MONITOR_SESSION_TIMEOUT (seconds, default 30), MONITOR_LINGER_MS (default 5), "
        "MONITOR_LOGLEVEL (default info). Workers with the same MONITOR_APP_ID share the partitions; give the "
        "commands that follow them (advance, emergency request, deliver) the same. deploy/README.md, Settings.",
    )
    kafka_args(p)
    p.add_argument("--demo", action="store_true", help="embedded, with the demo university and its last month")
    p.add_argument("--policy", help="profile name or file (env MONITOR_POLICY)")
    p.add_argument(
        "--directory", type=Path, help="the register as a YAML file, first start only (env MONITOR_DIRECTORY)"
    )
    p.add_argument("--web-host", dest="web_host", help="address to listen on (env MONITOR_WEB_HOST, default 127.0.0.1)")
    p.add_argument("--web-port", dest="web_port", type=int,
                   help="API/console port, embedded default 8080; health and metrics port of a worker, default 6066 "
                   "(env MONITOR_WEB_PORT)")  # fmt: skip
    p.add_argument("--data-dir", dest="data_dir", help=DATA_DIR_HELP)
    p.add_argument("--inbox", type=Path, help="drop folder of JSONL files (env MONITOR_INBOX, default DATA_DIR/inbox)")
    p.add_argument("--sinks", type=Path, help="alert delivery routes, YAML (env MONITOR_SINKS)")
    p.add_argument("--app-id", dest="app_id",
                   help="Kafka: consumer group and app name (env MONITOR_APP_ID, default social-monitor)")  # fmt: skip
    p.add_argument("--lateness", help="reorder buffer, e.g. 30s or 5m (env MONITOR_LATENESS, default 30s; on Kafka 5m)")
    p.add_argument("--max-ahead", dest="max_ahead", help="an event stamped further ahead of its arrival is refused, "
                   "e.g. 1h (env MONITOR_MAX_AHEAD, default 1h)")  # fmt: skip
    p.add_argument("--tick-seconds", dest="tick_seconds", type=float,
                   help="wall-clock tick for deadlines, 0 = off; on Kafka, how often an idle router's watermark "
                   "follows the wall clock (env MONITOR_TICK_SECONDS, default 5; on Kafka 30)")  # fmt: skip
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("token", help="API tokens of the embedded monitor (per person, one role each)")
    tsub = p.add_subparsers(dest="token_cmd", required=True, metavar="ACTION")
    tc = tsub.add_parser("create", help="make a token and print it once (it is stored only as a hash)")
    tc.add_argument("name", help="the person id in the register (or a system's name)")
    tc.add_argument("--role", required=True, choices=["security", "hr", "comms", "registrar", "admin"],
                    help="what the token may do (README: Tokens and roles)")  # fmt: skip
    tc.add_argument("--data-dir", dest="data_dir", help=DATA_DIR_HELP)
    tc.set_defaults(func=cmd_token_create)
    tl = tsub.add_parser("list", help="who has tokens, with which role; never the tokens")
    tl.add_argument("--data-dir", dest="data_dir", help=DATA_DIR_HELP)
    tl.set_defaults(func=cmd_token_list)
    tr = tsub.add_parser("revoke", help="revoke every token of a person")
    tr.add_argument("name", help="the person id (or system's name) the tokens were made for")
    tr.add_argument("--data-dir", dest="data_dir", help=DATA_DIR_HELP)
    tr.set_defaults(func=cmd_token_revoke)

    p = sub.add_parser("topics", help="Kafka topics of the live monitor")
    tsub = p.add_subparsers(dest="topics_cmd", required=True, metavar="ACTION")
    tc = tsub.add_parser("create", help="create the topics that do not exist yet",
                         description="Create the Kafka runtime's topics that do not exist yet, each with the "
                         "partitions given and the replication factor of MONITOR_REPLICATION (default 1).")  # fmt: skip
    kafka_args(tc)
    tc.set_defaults(func=cmd_topics_create)

    p = sub.add_parser("publish", help="send events (JSONL files) to the input topics, each by its type")
    kafka_args(p)
    p.add_argument("--topic", help="send every line to this input topic instead (hr, signins, ...)")
    p.add_argument("events", nargs="+", metavar="EVENTS.jsonl", help="event files, one JSON event a line")
    p.set_defaults(func=cmd_publish)

    def api_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("--url", help="the monitor's address (env MONITOR_URL, default http://127.0.0.1:8080)")
        p.add_argument("--token-file", dest="token_file", help="file holding your token (default: env MONITOR_TOKEN)")

    def again_arg(p: argparse.ArgumentParser) -> None:
        p.add_argument("--again", action="store_true", help="a new report even if the same one was sent in the last "
                       f"{int(RETRY_WINDOW.total_seconds() // 60)} minutes (which is otherwise taken for a retry and "
                       "ignored): e.g. to correct a report made since back to this")  # fmt: skip

    def broker_args(p: argparse.ArgumentParser, acting: bool = False) -> None:
        p.add_argument("--broker", help="the Kafka runtime's topics instead of the embedded monitor's API "
                       "(env MONITOR_BROKER, used when --url is not given)")  # fmt: skip
        p.add_argument("--topic-prefix", dest="topic_prefix", help="topic name prefix (env MONITOR_TOPIC_PREFIX)")
        if acting:
            p.add_argument("--by", help="with --broker: who is acting (the Kafka runtime has no tokens)")
            p.add_argument("--wait", type=float, default=30.0,
                           help="with --broker: seconds to wait for the alert's new version (default 30)")  # fmt: skip

    p = sub.add_parser("hr", help="HR: report leavers and movers to the running monitor")
    hsub = p.add_subparsers(dest="hr_cmd", required=True, metavar="ACTION")
    hl = hsub.add_parser("leaver", help="someone leaves (hr.leaver): their access must go by the deadline")
    hl.add_argument("person", type=_id, help="person id in the register")
    hl.add_argument("--leaving-at", dest="leaving_at", type=_time, required=True, help="RFC 3339, may be future")
    hl.add_argument("--reason", help="why they leave (kept with the event)")
    again_arg(hl)
    api_args(hl)
    broker_args(hl)
    hl.set_defaults(func=cmd_hr_leaver)
    hm = hsub.add_parser("mover", help="someone changes role (hr.role_changed)")
    hm.add_argument("person", type=_id, help="person id in the register")
    hm.add_argument("--effective-at", dest="effective_at", type=_time, required=True,
                    help="when the move takes effect: RFC 3339, may be future")  # fmt: skip
    hm.add_argument("--new-role", dest="new_role", type=_given, required=True, help="their new role")
    hm.add_argument("--new-unit", dest="new_unit", help="their new unit or department")
    again_arg(hm)
    api_args(hm)
    broker_args(hm)
    hm.set_defaults(func=cmd_hr_mover)
    hc = hsub.add_parser("cancel", help="a leaving is withdrawn, e.g. a rehire (hr.leaver_cancelled): its duties "
                         "are cancelled; a move stands")  # fmt: skip
    hc.add_argument("person", type=_id, help="person id in the register")
    again_arg(hc)
    api_args(hc)
    broker_args(hc)
    hc.set_defaults(func=cmd_hr_cancel)

    p = sub.add_parser("emergency", help="comms: emergency access during a hack (EMG-02)")
    esub = p.add_subparsers(dest="emergency_cmd", required=True, metavar="ACTION")
    er = esub.add_parser("request", help="ask for time-boxed access to an account, as your token's person")
    er.add_argument("account", type=_id, help="the account's id in the register, e.g. acc-001")
    er.add_argument("--reason", required=True, type=_id,
                    help="what is happening (kept with the request and on the grant)")  # fmt: skip
    er.add_argument("--minutes", type=int, help="how long (default and maximum: the policy's)")
    api_args(er)
    broker_args(er)
    er.add_argument("--by", help="with --broker: the person asking (the Kafka runtime has no tokens)")
    er.add_argument("--wait", type=float, default=60.0,
                    help="with --broker: seconds to wait for the workers to route the request and decide (default "
                    "60); the workers' consumer group is MONITOR_APP_ID (default social-monitor): set it as the "
                    "workers have it, or this waits for a group that never routes it")  # fmt: skip
    er.set_defaults(func=cmd_emergency_request)

    p = sub.add_parser("lockouts", help="IT security: the emergency lockout commands issued, to carry out")
    lsub = p.add_subparsers(dest="lockouts_cmd", required=True, metavar="ACTION")
    ll = lsub.add_parser("list", help="lockout commands, newest first: what to do to which account, and who to tell")
    ll.add_argument("--account", help="only this account's")
    ll.add_argument("--limit", type=_limit, default=50, help=f"at most this many (1 to {MAX_LIST}, default 50)")
    ll.add_argument("--json", action="store_true", help="one JSON object per command")
    api_args(ll)
    broker_args(ll)
    ll.set_defaults(func=cmd_lockouts_list)

    p = sub.add_parser("alerts", help="IT security: list, acknowledge and resolve alerts on the running monitor")
    asub = p.add_subparsers(dest="alerts_cmd", required=True, metavar="ACTION")
    al = asub.add_parser(
        "list",
        help="the newest alerts (--limit of them); the table shows them open first, most severe first, then oldest "
        "first; --json newest first",
        description="Takes the newest --limit alerts matching the filters. The table shows them open, then "
        "acknowledged, then resolved; within each, most severe first, then oldest first. --json writes them newest "
        "first (raised_at, then id, descending).",
    )
    al.add_argument("--status", action="append", choices=["open", "acknowledged", "resolved"],
                    help="only alerts in this state (repeatable)")  # fmt: skip
    al.add_argument("--control", action="append", help="e.g. LVR-01 (repeatable)")
    al.add_argument("--severity", action="append", choices=["low", "medium", "high", "critical"],
                    help="only alerts of this severity (repeatable)")  # fmt: skip
    al.add_argument("--account", help="only this account's alerts (its id in the register)")
    al.add_argument("--person", help="only this person's alerts (their id in the register)")
    al.add_argument("--limit", type=_limit, default=50, help=f"at most this many (1 to {MAX_LIST}, default 50)")
    al.add_argument("--json", action="store_true", help="one JSON object per alert, newest first")
    api_args(al)
    broker_args(al)
    al.set_defaults(func=cmd_alerts_list)
    aa = asub.add_parser("ack", help="acknowledge: someone is on it")
    aa.add_argument("id", help="the alert's id, as `monitor alerts list` shows it")
    aa.add_argument("--note", help="for the audit trail, e.g. who is on it")
    api_args(aa)
    broker_args(aa, acting=True)
    aa.set_defaults(func=cmd_alerts_ack)
    ar = asub.add_parser("resolve", help="resolve, saying what was done")
    ar.add_argument("id", help="the alert's id, as `monitor alerts list` shows it")
    ar.add_argument("--note", required=True, help="what was done (kept on the alert)")
    api_args(ar)
    broker_args(ar, acting=True)
    ar.set_defaults(func=cmd_alerts_resolve)

    p = sub.add_parser("directory", help="the register")
    dsub = p.add_subparsers(dest="directory_cmd", required=True, metavar="ACTION")
    di = dsub.add_parser("import", help="make the running monitor's register match a directory file")
    di.add_argument("file", help="the directory file (YAML)")
    di.add_argument("--retire-missing", dest="retire_missing", action="store_true",
                    help="retire registered accounts the file does not list")  # fmt: skip
    di.add_argument("--dry-run", dest="dry_run", action="store_true",
                    help="say what the import would change, and change nothing")  # fmt: skip
    api_args(di)
    broker_args(di)
    di.set_defaults(func=cmd_directory_import)
    dx = dsub.add_parser("export", help="the running monitor's register as a directory file")
    dx.add_argument("-o", "--output", help="write here (default: standard output)")
    api_args(dx)
    broker_args(dx)
    dx.set_defaults(func=cmd_directory_export)
    dp = dsub.add_parser("publish", help="send the directory file as directory.* events")
    kafka_args(dp)
    dp.add_argument("file", help="the directory file (YAML)")
    dp.add_argument("--time", type=_time, help="the events' time (default: now; for history, a time before the "
                    "events the register governs)")  # fmt: skip
    dp.set_defaults(func=cmd_publish_directory)

    p = sub.add_parser("deliver", help="the Kafka runtime's alert delivery: the alerts and lockouts topics to the "
                       "sinks (webhook, Slack, Teams), each version at least once",
                       description="Read the alerts and lockouts topics in the consumer group MONITOR_APP_ID-delivery "
                       "(MONITOR_APP_ID as the workers have it, default social-monitor), queue each alert version "
                       "and lockout command in a durable outbox, and deliver it to the sinks.")  # fmt: skip
    kafka_args(p, partitions=False)
    p.add_argument("--sinks", help="alert delivery routes, YAML (env MONITOR_SINKS; README: Alert delivery)")
    p.add_argument("--outbox", help="the delivery queue's SQLite file (default: MONITOR_DATA_DIR/delivery.db)")
    p.add_argument("--from-now", dest="from_now", action="store_true",
                   help="on the first start, skip what the topics hold already (default: deliver it all)")  # fmt: skip
    p.add_argument("--metrics-port", dest="metrics_port", type=int,
                   help="serve /metrics (delivered, failed, pending by sink) here, on MONITOR_WEB_HOST")  # fmt: skip
    p.set_defaults(func=cmd_deliver)

    p = sub.add_parser("dead-letters", help="the Kafka runtime's refused input: why each was refused and where from")
    kafka_args(p, partitions=False)
    p.add_argument("--limit", type=_whole(1, sys.maxsize, ": it shows 1 refused message or more"), default=20,
                   help="the newest this many (default 20)")  # fmt: skip
    p.add_argument("--json", action="store_true", help="one JSON object per message")
    p.set_defaults(func=cmd_dead_letters)

    p = sub.add_parser("advance", help="move the live monitor's event time on, so deadlines up to it fall due")
    kafka_args(p)
    p.add_argument("--until", type=_time, required=True, help="the event time to move to, RFC 3339")
    p.add_argument("--wait", type=float, default=300,
                   help="seconds to wait for the input to be routed first (default 300) by the workers' consumer "
                   "group, MONITOR_APP_ID (default social-monitor): set it as the workers have it")  # fmt: skip
    p.set_defaults(func=cmd_advance)

    p = sub.add_parser("demo", help="generate a month of a sample university and replay it")
    p.add_argument("--seed", type=int, default=7,
                   help="the same seed makes the same organisation and events (default: %(default)s)")  # fmt: skip
    p.add_argument("--days", type=_days, default=30, help=f"days of events, 1 to {MAX_DEMO_DAYS} (default: 30)")
    p.add_argument("--policy", default="default", help="profile name or file to replay with (default: default)")
    p.add_argument("--out", metavar="DIR", help="keep the generated files here (default: a temporary folder)")
    p.add_argument("--limit", type=_rows, default=60, help="alerts shown in the table (default: %(default)s)")
    p.set_defaults(func=cmd_demo)
    return parser


class _StdoutUnwritable(Exception):
    """Standard output could not be written (a full disk, say): one line on stderr, not a traceback."""


class _Stdout:
    """Standard output, whose write errors (bar a reader gone away) are _StdoutUnwritable, so that main says so
    without taking any other OSError for one."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        return int(self._guarded(self.stream.write, text))

    def flush(self) -> None:
        self._guarded(self.stream.flush)

    @staticmethod
    def _guarded(fn: Callable[..., Any], *args: Any) -> Any:
        try:
            return fn(*args)
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise _StdoutUnwritable(exc.strerror or str(exc)) from exc

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


def _drop_stdout(stream: IO[str]) -> None:
    """Point standard output at /dev/null, so that Python, flushing what it still holds as it exits, does not fail
    again with a traceback of its own (as Python's documentation advises for a broken pipe)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass  # not a file descriptor (a test's capture): nothing is left to flush at exit


def main(argv: Sequence[str] | None = None) -> int:
    stdout = sys.stdout
    sys.stdout = cast(TextIO, _Stdout(stdout))
    try:
        try:
            args = build_parser().parse_args(argv)
        except SystemExit as done:  # --help printed (or a usage error said on stderr): flushed and checked too
            sys.stdout.flush()
            raise done from None
        code = int(args.func(args))
        sys.stdout.flush()  # what is still buffered fails here, said in words, rather than as Python exits
        return code
    except UsageError as exc:  # it may quote an id, or the API's answer quoting an event: escapes made visible
        print(f"monitor: {visible(str(exc), lines=True)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except _Interrupted as exc:
        print(f"monitor: {exc}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:  # Ctrl-C: one line, not a traceback
        print("monitor: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # the reader went away (`| head`): quietly, as is usual
        _drop_stdout(stdout)
        return 0
    except _StdoutUnwritable as exc:
        _drop_stdout(stdout)
        print(f"monitor: standard output: cannot write there: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Exception as exc:
        kafka_errors = sys.modules.get("kafka.errors")  # loaded if a Kafka client raised; the extra may be absent
        if kafka_errors is None or not isinstance(exc, kafka_errors.KafkaError):
            raise
        # a command that talks to the broker (topics create, publish, advance): say so rather than a traceback
        print(f"monitor: the broker did not answer: {exc}; check --broker (or MONITOR_BROKER) and that it runs",
              file=sys.stderr)  # fmt: skip
        return EXIT_BAD_INPUT
    finally:
        sys.stdout = stdout


if __name__ == "__main__":
    sys.exit(main())
