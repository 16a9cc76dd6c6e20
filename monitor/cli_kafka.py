"""The `monitor` commands on the Kafka runtime, through its topics: publishing, the people's commands with
`--broker` (alerts, HR, emergency access, the register, reports), alert delivery and the dead letters."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from monitor.arrival import advance_too_far
from monitor.cli_common import (
    EXIT_BAD_INPUT,
    UsageError,
    already_resolved,
    profile_named,
    say_changes,
    say_unlisted,
    stream_settings,
    tell_reach,
)
from monitor.directory import DirectoryError, load_directory
from monitor.durations import format_duration
from monitor.engine import BY_MONITOR, Engine
from monitor.replay import ReplayResult, replay
from monitor.visible import visible
from monitor.wording import counted


def replay_topics(args: argparse.Namespace) -> ReplayResult:
    """Replay the Kafka runtime's whole input history, read from its topics in event-time order.

    The register is in that history (the directory topic), so only the organisation section of MONITOR_DIRECTORY
    (or --directory) is read, as the workers read it.
    """
    if args.events:
        raise UsageError("give event files or --broker, not both")
    s = broker_settings(args)
    from monitor.directory import load_organisation
    from streams.topics import INPUTS

    try:
        organisation = load_organisation(s.directory) if s.directory else None
    except DirectoryError as exc:
        raise UsageError(str(exc)) from None
    return fold_topics(s, INPUTS, f"the input topics ({s.topic_prefix}.*)", organisation, s.lateness, args.until)


def fold_topics(s: Any, topics: Sequence[str], what: str, organisation: Any = None,
                lateness: timedelta = timedelta(0), until: datetime | None = None) -> ReplayResult:  # fmt: skip
    """A fresh engine of the settings' policy, with what the topics hold replayed into it in event-time order, less
    what the workers' routers refused as stamped too far ahead of its message (counted as rejected)."""
    from monitor.replay import MAX_KEPT_REJECTIONS, Rejection, prepared_engine
    from streams.client import TopicUnreadable, input_history
    from streams.routing import DeadLetter, route

    engine = prepared_engine(profile_named(s.policy), organisation, None, lateness)
    refused: list[Rejection] = []

    def ahead(origin: str, offset: int, raw: bytes, arrived: datetime) -> bool:
        verdict = route(raw, s.partitions, arrived, s.max_ahead)  # the router's own judgement
        if not isinstance(verdict, DeadLetter):
            return False
        refused.append(Rejection(origin, offset, verdict.event_id, verdict.reason))
        return True

    print(f"reading {what} on {s.bootstrap} ...", file=sys.stderr, flush=True)
    try:
        lines = input_history(s, topics=topics, progress=lambda n: print(f"  {n:,} messages read", file=sys.stderr),
                              ahead=ahead)  # fmt: skip
    except TopicUnreadable as exc:
        raise UsageError(str(exc)) from None
    result = replay(engine, lines, until=until, progress=sys.stderr if sys.stderr.isatty() else None, files=False)
    result.lines += len(refused)
    result.rejected_total += len(refused)
    result.rejected += refused[: max(0, MAX_KEPT_REJECTIONS - len(result.rejected))]
    return result


def _checked(ev: dict[str, Any]) -> bytes:
    """An event typed at the command line as the bytes to send, or UsageError with the reason the router would
    dead-letter it for."""
    import json

    from schemas.events import Rejected, parse_event

    raw = json.dumps(ev).encode()
    try:
        parse_event(raw)
    except Rejected as rej:
        raise UsageError(f"{ev['type']} not sent: {rej.reason}") from None
    return raw


def publish_one(args: argparse.Namespace, ev: dict[str, Any], then: str, person: str | None = None) -> int:
    """Check an event typed at the command line and send it to the Kafka runtime's input topic for its type; for HR's
    report on `person`, then say which accounts the register (its directory topic) gives them, as the embedded
    monitor does, or that it does not name them."""
    raw = _checked(ev)
    s = broker_settings(args)
    from service.register import person as person_view
    from streams.client import send_one

    sent, _ = send_one(s, raw)
    print(f"sent {ev['type']} {ev['id']} to {sent.topic}; the workers judge it once their event time passes it "
          f"(within MONITOR_LATENESS, {format_duration(s.lateness)}); then {then}")  # fmt: skip
    if person is not None:
        try:
            view = person_view(register_from_topic(s), person)
        except Exception as exc:  # the report went: a failure to read the register after is a note, not exit 2
            print(f"monitor: note: the report was sent, but the register on {s.topic('directory')} could not be read "
                  f"to say which accounts {person} reaches: {exc or type(exc).__name__}", file=sys.stderr)  # fmt: skip
            return 0
        tell_reach(person, None if view is None else view.accounts, register_only=True)
    return 0


def emergency_on_topics(args: argparse.Namespace, ev: dict[str, Any]) -> int:
    """An emergency request on the Kafka runtime, decided at once (streams.client.request_emergency_access) and its
    decision told as the embedded monitor's is: 0 granted, 2 refused, 1 if no decision came in --wait."""
    raw = _checked(ev)
    s = broker_settings(args)
    from streams.client import TopicUnreadable, request_emergency_access

    d = ev["data"]
    print(f"sending {ev['id']}; waiting for the workers to route it and EMG-02 to decide (--wait {args.wait:.0f}) ...",
          file=sys.stderr)  # fmt: skip
    try:
        out = request_emergency_access(
            s, raw, d["account_id"], d["requester_id"], ev["id"], datetime.fromisoformat(ev["time"]),
            timeout=args.wait, report=lambda what: print(f"  {what}", file=sys.stderr),
        )  # fmt: skip
    except TopicUnreadable as exc:
        raise UsageError(str(exc)) from None
    except TimeoutError as exc:
        print(f"monitor: request {ev['id']} sent, but not decided ({exc}). EMG-02 decides once the workers' event time "
              f"passes it; then `monitor alerts list --account {d['account_id']} --control EMG-02` shows a refusal, "
              "and the lockouts topic a grant", file=sys.stderr)  # fmt: skip
        return 1
    if out is None:
        print(f"monitor: request {ev['id']} routed and the workers' event time moved to it, but no decision reached "
              f"the topics in {args.wait:.0f}s: is every work partition held by a running worker (their /health)?",
              file=sys.stderr)  # fmt: skip
        return 1
    m = out.message
    if out.granted:
        print(f"request {ev['id']}: granted")  # the topics' text (the reason quotes events) as visible escapes
        print(f"  {visible(m['reason'])}")
        print(visible(f"  lockout {m['id']}: {', '.join(m['actions'])}; notify {', '.join(m['notify'])}"))
        return 0
    # EMG-02's words say why: the requester is not in the comms team, or the account is not in the register
    print(visible(f"monitor: {m.get('summary') or 'refused'}; request {ev['id']} was recorded and IT security "
                  f"alerted ({m['control']} {m['severity']} alert {m['id']})"), file=sys.stderr)  # fmt: skip
    return EXIT_BAD_INPUT


def _from_topic(args: argparse.Namespace, name: str, model: Any, what: str) -> list[Any]:
    """The last message of each id on one of the Kafka runtime's topics, as `model`s; the rest skipped, said so."""
    from pydantic import ValidationError

    s = broker_settings(args)
    from streams.client import TopicUnreadable, latest_by_id

    print(f"reading {s.topic(name)} on {s.bootstrap} ...", file=sys.stderr)
    try:
        found, bad = latest_by_id(s, name, progress=lambda n: print(f"  {n:,} messages read", file=sys.stderr))
    except TopicUnreadable as exc:
        raise UsageError(str(exc)) from None
    out = []
    for m in found:
        try:
            out.append(model.model_validate(m))
        except ValidationError:
            bad.append(f"id {m.get('id')!r}")
    if bad:
        print(f"monitor: skipped {counted(len(bad), 'message')} on the {name} topic, not {what}: "
              f"{', '.join(bad[:5])}{' ...' if len(bad) > 5 else ''}", file=sys.stderr)  # fmt: skip
    return out


def lockouts_from_topic(args: argparse.Namespace) -> list[Any]:
    """The Kafka runtime's lockout commands, as the lockouts topic has them."""
    from schemas.alerts import LockoutCommand

    return _from_topic(args, "lockouts", LockoutCommand, "lockout commands")


def alerts_from_topic(args: argparse.Namespace, query: dict[str, Any]) -> tuple[int, list[Any]]:
    """The Kafka runtime's alerts: the latest version of each on the alerts topic, filtered as the API does."""
    from monitor.alertquery import select_alerts
    from schemas.alerts import Alert

    return select_alerts(_from_topic(args, "alerts", Alert, "alerts"), **query)


def on_broker(args: argparse.Namespace) -> bool:
    """The Kafka runtime's topics rather than the embedded monitor's API: --broker, or MONITOR_BROKER without --url."""
    return bool(args.broker or ("MONITOR_BROKER" in os.environ and not args.url))


def act_on_topic(args: argparse.Namespace, kind: str) -> int:
    """Acknowledge or resolve an alert of the Kafka runtime: checked against the alerts topic, sent to the work
    partitions, confirmed by the alert's new version."""
    if not args.by or not args.by.strip() or len(args.by) > 256:
        raise UsageError("say who is acting with --by NAME (up to 256 characters): the Kafka runtime has no "
                         "tokens, so the name given goes on the alert and into the work log")  # fmt: skip
    if args.by.strip() == BY_MONITOR:
        raise UsageError(f"--by {BY_MONITOR} is the name the monitor resolves alerts under: give your own name")
    s = broker_settings(args)
    from streams.client import TopicUnreadable, act_on_alert, current_alerts
    from streams.routing import AlertAction

    try:
        found, _ = current_alerts(s)
    except TopicUnreadable as exc:
        raise UsageError(str(exc)) from None
    current = next((a for a in found if a.get("id") == args.id), None)
    if current is None:
        raise UsageError(f"no alert with id {args.id} on {s.topic('alerts')} (`monitor alerts list` lists them)")
    want = "acknowledged" if kind == "ack" else "resolved"
    if kind == "ack" and current.get("status") == "resolved":
        raise UsageError(f"alert {args.id} is resolved; it cannot be acknowledged")
    if current.get("status") == want:
        if kind == "resolve":
            print(already_resolved(current, args.note))
        else:
            print(visible(f"{current['id']} {current['control']} {current['status']} (already)"))
        return 0
    note = args.note.strip() if args.note else args.note  # as the API keeps it
    action = AlertAction(kind, args.id, args.by.strip(), datetime.now(UTC), note)
    out = act_on_alert(s, action, timeout=args.wait)
    if out is None:
        print(f"monitor: sent to the work partitions, but no {want} version of {args.id} reached the alerts topic in "
              f"{args.wait:.0f}s: is a worker running (its /health)? It acts when it reads the message.",
              file=sys.stderr)  # fmt: skip
        return 1
    if kind == "resolve" and (out.get("note") != note or out.get("resolved_by") != action.by):
        print(already_resolved(out, args.note))  # resolved by someone else after the alerts topic was read
        return 0
    print(visible(f"{out['id']} {out['control']} {out['status']}"))
    return 0


def import_on_topics(args: argparse.Namespace, d: Any, text: str) -> int:
    """Make the Kafka runtime's register match the file: the register as its directory topic has it, folded here,
    and the directory.* events that differ from it sent there (as the embedded monitor's import computes them)."""
    s = broker_settings(args)
    from service.register import SAID_SHOWN, UNLISTED_SHOWN, change_counts, changes_in_words, import_events, unlisted
    from streams.client import publish

    engine = register_from_topic(s)
    said: list[str] = []
    events = import_events(engine, d, text, datetime.now(UTC), retire_missing=args.retire_missing, said=said)
    counts = change_counts(events)
    what = f" ({changes_in_words(counts)})" if counts else ""
    had = (f"the register there had {counted(len(engine.accounts), 'account')} and "
           f"{counted(len(engine.people), 'person', 'people')}")  # fmt: skip
    if args.dry_run:
        print(f"would send {counted(len(events), 'change')}{what} to {s.topic('directory')} ({had}); nothing was "
              "sent (--dry-run)")  # fmt: skip
        say_changes(said[:SAID_SHOWN], len(said))
    else:
        sent = publish(s, [e.model_dump_json().encode() for e in events], topic="directory") if events else 0
        print(f"{counted(sent, 'change')} sent{what} to {s.topic('directory')} ({had})")
    missing = unlisted(engine, d)
    say_unlisted(len(missing), missing[:UNLISTED_SHOWN], args.retire_missing, args.dry_run)
    return 0


def register_from_topic(s: Any) -> Engine:
    """An engine holding the register as the Kafka runtime's directory topic has it (its events folded here)."""
    known = fold_topics(s, ["directory"], f"the register from {s.topic('directory')}")
    if known.rejected_total:
        n = known.rejected_total
        were = "was" if n == 1 else "were"
        print(f"monitor: {counted(n, 'message')} on the directory topic {were} refused (not an event, or stamped too "
              f"far ahead of its arrival), as the workers refuse them; left out", file=sys.stderr)  # fmt: skip
    return known.engine


BROKER_CONNECT_S = 5.0  # for a TCP connection only: a broker slow to answer requests is still given the clients' time


def reach_broker(s: Any) -> None:
    """Say at once which broker is being contacted, and fail in seconds, in words, if none of its addresses takes a
    connection (the Kafka clients would retry in silence for a minute before giving up)."""
    import socket

    print(f"connecting to {s.broker} ...", file=sys.stderr, flush=True)
    problems = []
    for address in s.bootstrap.split(","):
        host, _, port = address.strip().rpartition(":")
        try:
            with socket.create_connection((host.strip("[]"), int(port)), timeout=BROKER_CONNECT_S):
                return
        except (OSError, ValueError) as exc:
            problems.append(f"{address}: {getattr(exc, 'strerror', None) or exc}")
    raise UsageError(f"cannot reach the broker at {s.broker} ({'; '.join(problems)}): check --broker (or "
                     "MONITOR_BROKER) and that it runs")  # fmt: skip


def broker_settings(args: argparse.Namespace) -> Any:
    """The settings of a command that talks to the broker, once it is known to take connections (reach_broker): a
    wrong address fails in seconds, in words, rather than after the Kafka clients' 30 s of silence."""
    s = stream_settings(args)
    reach_broker(s)
    return s


def cmd_topics_create(args: argparse.Namespace) -> int:
    s = broker_settings(args)
    from streams.topics import create_topics, partition_problems

    made = create_topics(s)
    for name, state in made:
        print(f"{name:32} {state}")
    warn_config(s)
    # topics that were there already keep their partitions: say so rather than 'exists' as if they were as asked
    mismatched = partition_problems(s, {name for name, state in made if state == "exists"})
    for problem in mismatched:
        print(f"monitor: {problem}", file=sys.stderr)
    if mismatched:
        print(f"monitor: topics are only created, never changed, and a worker with MONITOR_PARTITIONS={s.partitions} "
              "will not start on these: give the count they have, or another --topic-prefix",
              file=sys.stderr)  # fmt: skip
        return EXIT_BAD_INPUT
    return 0


def warn_config(s: Any) -> None:
    """Say which topics would let history age out or take producers' timestamps (streams.topics.config_problems); a
    warning, never a stop."""
    from streams.topics import config_problems

    try:
        problems = config_problems(s)
    except Exception as exc:  # a broker that refuses DescribeConfigs to this client: the topics still work
        problems = [f"could not read the topics' settings ({exc!r}); check they keep their history and take the "
                    "broker's timestamps (deploy/README.md)"]  # fmt: skip
    for problem in problems:
        print(f"monitor: warning: {problem}", file=sys.stderr)


REFUSED_SHOWN = 20  # refused lines named one by one per file; the rest are counted


def cmd_publish(args: argparse.Namespace) -> int:
    """Send event files to the input topics, each line checked as the router would check it first: a line it would
    dead-letter is not sent but named, with its number and reason (a line carrying a secret would otherwise stay on
    an input topic, which is kept for ever, and the rest would only show as dead letters with no line number)."""
    from contextlib import ExitStack

    with ExitStack() as stack:
        files = []
        for name in args.events:  # every file opened first: one that cannot be read stops it before anything is sent
            try:
                files.append((name, stack.enter_context(open(name, "rb"))))
            except OSError as exc:
                raise UsageError(f"{name}: cannot read: {exc.strerror}") from None
        s = broker_settings(args)
        from streams.client import PublishError, publish

        refused_any = False
        for name, fh in files:
            refused: list[str] = []
            try:
                n = publish(s, _routable(fh, name, s.partitions, s.max_ahead, refused), topic=args.topic)
            except OSError as exc:
                raise UsageError(f"{name}: cannot read: {exc.strerror}") from None
            except PublishError as exc:
                raise UsageError(f"{name}: {exc}") from None
            for line in refused[:REFUSED_SHOWN]:
                print(f"monitor: {line}", file=sys.stderr)
            if len(refused) > REFUSED_SHOWN:
                print(f"monitor: {name}: and {len(refused) - REFUSED_SHOWN:,} more lines not sent", file=sys.stderr)
            not_sent = f"; {counted(len(refused), 'line')} refused, not sent" if refused else ""
            print(f"{name}: sent {counted(n, 'event')}{not_sent}", file=sys.stderr)
            refused_any = refused_any or bool(refused)
    return EXIT_BAD_INPUT if refused_any else 0


def _routable(
    lines: Iterable[bytes], name: str, partitions: int, max_ahead: timedelta, refused: list[str]
) -> Iterator[bytes]:
    """The non-blank lines the router would take, stripped; each one it would dead-letter goes to `refused` instead,
    as 'NAME:LINE: not sent: reason' (an event stamped too far ahead judged against now, as it would arrive)."""
    from streams.routing import DeadLetter, route

    for number, line in enumerate(lines, 1):
        raw = line.strip()
        if not raw:
            continue
        verdict = route(raw, partitions, datetime.now(UTC), max_ahead)
        if isinstance(verdict, DeadLetter):
            refused.append(f"{name}:{number}: not sent: {verdict.reason}")
            continue
        yield raw


def cmd_publish_directory(args: argparse.Namespace) -> int:
    s = broker_settings(args)
    from monitor.directory import directory_events
    from streams.client import publish

    try:
        directory = load_directory(args.file)
    except DirectoryError as exc:
        raise UsageError(str(exc)) from None
    now = datetime.now(UTC)
    at = args.time or now
    if at - now > s.max_ahead:  # the routers would dead-letter every one of them (monitor/arrival.py)
        raise UsageError(f"--time {at.isoformat()} is more than {format_duration(s.max_ahead)} after now "
                         f"({now.isoformat(timespec='seconds')}): the workers would refuse every event of the register "
                         "as stamped ahead of its arrival (MONITOR_MAX_AHEAD); nothing was sent")  # fmt: skip
    lines = [e.model_dump_json().encode() for e in directory_events(directory, at)]
    n = publish(s, lines, topic="directory")
    print(f"{args.file}: sent {counted(n, 'directory event')} at {at.isoformat()}", file=sys.stderr)
    return 0


def cmd_deliver(args: argparse.Namespace) -> int:
    import signal
    import sqlite3
    import threading

    s = stream_settings(args)
    from service.sinks import SinkConfigError, check_urls, load_sinks, unset_url_warning
    from streams.delivery import run_delivery

    path = args.sinks or os.environ.get("MONITOR_SINKS")
    if not path:
        raise UsageError("name the delivery routes with --sinks FILE (or MONITOR_SINKS); README: Alert delivery")
    try:
        sinks = load_sinks(path)
        check_urls(sinks)  # set but unusable: every delivery would fail and be retried for ever
    except SinkConfigError as exc:
        raise UsageError(str(exc)) from None
    if not sinks:
        raise UsageError(f"{path}: no sinks: nothing to deliver to")
    unset = unset_url_warning(sinks)
    if unset:
        print(f"monitor: warning: {unset}", file=sys.stderr)
    reach_broker(s)  # after the sinks file's own problems: a wrong address in seconds, not 30 s of silence
    outbox = Path(args.outbox) if args.outbox else s.data_dir / "delivery.db"
    if not outbox.exists():
        warn_outbox_replaced(s, outbox)
    stop = threading.Event()
    handled = (signal.SIGINT, signal.SIGTERM)
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in handled}
    print(f"monitor: delivering {s.topic('alerts')} and {s.topic('lockouts')} to {len(sinks)} sinks "
          f"({', '.join(k.name for k in sinks)}), queue in {outbox}; Ctrl-C stops", file=sys.stderr)  # fmt: skip
    try:
        run_delivery(s, sinks, outbox, stop, from_now=args.from_now, metrics_port=args.metrics_port,
                     report=lambda line: print(f"monitor: {line}", file=sys.stderr))  # fmt: skip
    except (OSError, sqlite3.Error) as exc:
        raise UsageError(f"cannot keep the delivery queue at {outbox}: {exc} (--outbox, or MONITOR_DATA_DIR)") from None
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


def warn_outbox_replaced(s: Any, outbox: Path) -> None:
    """A new outbox for a delivery group that has read the topics before: it goes on from the group's offsets, so
    what was read into the outbox used then (deliveries still waiting there, say for an unset URL) is not sent from
    this one. Said, rather than found out from a receiver that never got them."""
    from kafka import KafkaAdminClient  # type: ignore[import-untyped, unused-ignore]

    from streams.client import group_offsets

    group = f"{s.app_id}-delivery"
    admin = KafkaAdminClient(bootstrap_servers=s.bootstrap, client_id=f"{s.app_id}-delivery-check")
    try:
        read = [tp for tp, offset in group_offsets(admin, group).items() if offset and offset > 0]
    finally:
        admin.close()
    if read:
        print(f"monitor: warning: {outbox} is a new outbox, but the delivery group {group} has read the alerts and "
              "lockouts topics before: this goes on from where it stopped, and deliveries still waiting in the "
              "outbox used then are not sent from this one (start with that --outbox or MONITOR_DATA_DIR)",
              file=sys.stderr)  # fmt: skip


def cmd_dead_letters(args: argparse.Namespace) -> int:
    import json

    s = broker_settings(args)
    from streams.client import TopicUnreadable, dead_letters

    try:
        found = dead_letters(s)
    except TopicUnreadable as exc:
        raise UsageError(str(exc)) from None
    shown = found[-args.limit :][::-1]  # --limit is 1 or more
    if args.json:
        for d in shown:
            print(json.dumps(d, separators=(",", ":")))
        return 0
    for d in shown:
        value = d["value"] if len(d["value"]) <= 160 else d["value"][:159] + "…"
        print(f"{d['refused_at'][:19]}Z  {d['source']}\n  why:  {d['reason']}\n  what: {value}")
    print(f"\n{len(shown)} of {len(found)} refused messages on {s.topic('dead-letter')}, newest first")
    return 0


def cmd_advance(args: argparse.Namespace) -> int:
    s = broker_settings(args)
    from streams.client import send_advance, wait_routed

    problem = advance_too_far(args.until, datetime.now(UTC), s.max_ahead)
    if problem:
        raise UsageError(f"--until {problem}")
    print("waiting until every input event sent so far has been routed ...", file=sys.stderr)
    try:
        wait_routed(
            s, timeout=args.wait, report=lambda what: print(f"  {what} (--wait {args.wait:.0f})", file=sys.stderr)
        )
    except TimeoutError as exc:
        raise UsageError(str(exc)) from None
    offsets = send_advance(s, args.until)
    # an engine's clock only moves forward: one already past `until` (the wall clock moves it on) stays there
    print(f"sent to {counted(len(offsets), 'work partition')}: each moves its event time to "
          f"{args.until.isoformat()} unless it is past that already (a worker's /health shows its partitions' "
          "clock)", file=sys.stderr)  # fmt: skip
    now = datetime.now(UTC)
    if args.until > now:
        print(f"monitor: warning: that is after the wall clock ({now:%Y-%m-%d %H:%M}Z): until the wall clock gets "
              "there, every event the workers take is judged late, at its own time (MONITOR_LATENESS no longer puts "
              "them in order)", file=sys.stderr)  # fmt: skip
    return 0


def export_from_topic(args: argparse.Namespace) -> str:
    """The Kafka runtime's register as a directory file (YAML), folded from its directory topic."""
    s = broker_settings(args)
    from monitor.directory import load_organisation
    from monitor.yamlfile import dump_yaml
    from schemas.directory import Directory
    from service.register import export

    try:
        org = load_organisation(s.directory) if s.directory else None
    except DirectoryError as exc:
        raise UsageError(str(exc)) from None
    engine = register_from_topic(s)
    own = Directory.model_construct(organisation=org, people=[], accounts=[]) if org else None
    return dump_yaml(export(engine, own))
