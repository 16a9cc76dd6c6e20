"""Plain Kafka clients for the CLI: publish events and the directory, send advances, read alerts."""

from __future__ import annotations

import heapq
import json
import marshal
import re
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import IO, Any

from kafka import TopicPartition  # type: ignore[import-untyped, unused-ignore]

from monitor.wording import counted
from streams.routing import AlertAction, advance_message, alert_action_message, arrival
from streams.settings import StreamSettings
from streams.topics import ALERTS, DEAD_LETTER, INPUTS, LOCKOUTS, WORK

_TOPIC_BY_PREFIX = {
    "hr": "hr",
    "directory": "directory",
    "credential": "credentials",
    "platform": "credentials",
    "device": "credentials",
    "login": "signins",
    "post": "signins",
    "incident": "incidents",
    "account": "incidents",
    "emergency": "incidents",
}


def topic_and_key(raw: bytes) -> tuple[str, bytes]:
    """The input topic a line belongs on, by its type (any topic works; this keeps them tidy), and its key.

    Keys keep one account's events in one partition, in order. On the compacted directory topic the key is
    the event's identity, so compaction only ever drops a repeat of the same event.
    """
    try:
        obj = json.loads(raw)
        etype = str(obj.get("type", ""))
        data = obj.get("data") or {}
        subject = str(data.get("account_id") or data.get("person_id") or data.get("incident_id") or "")
        identity = f"{obj.get('source', '')}|{obj.get('id', '')}"
    except (ValueError, AttributeError):
        return "signins", raw[:64]
    if etype in ("mfa.enabled", "mfa.disabled"):
        return "credentials", subject.encode()
    if etype == "mfa.challenge":
        return "signins", subject.encode()
    topic = _TOPIC_BY_PREFIX.get(etype.split(".", 1)[0], "signins")
    return topic, (identity if topic == "directory" else subject or identity).encode()


def _producer(s: StreamSettings) -> Any:
    from kafka import KafkaProducer  # type: ignore[import-untyped, unused-ignore]

    return KafkaProducer(bootstrap_servers=s.bootstrap, acks="all", linger_ms=20, client_id=f"{s.app_id}-cli")


class PublishError(RuntimeError):
    """The broker did not take some messages."""


def publish(s: StreamSettings, lines: Iterable[bytes], topic: str | None = None) -> int:
    """Send each line to its input topic (or `topic`), in order; every send is confirmed; returns how many."""
    producer = _producer(s)
    pending = []
    n = 0
    try:
        for raw in lines:
            name, key = topic_and_key(raw)
            pending.append(producer.send(s.topic(topic or name), key=key, value=raw))
            n += 1
            if len(pending) >= 10_000:
                _confirm(producer, pending)
        _confirm(producer, pending)
    finally:
        producer.close()
    return n


def _confirm(producer: Any, pending: list[Any]) -> None:
    producer.flush()
    failed = [f.exception for f in pending if f.failed()]
    pending.clear()
    if failed:
        raise PublishError(f"{len(failed)} messages were not accepted, e.g.: {failed[0]}")


def group_offsets(admin: Any, group: str) -> dict[TopicPartition, int]:
    """A consumer group's committed offsets, by partition, from a kafka-python admin client (3.x or 2.x)."""
    list_offsets = getattr(admin, "list_group_offsets", None) or admin.list_consumer_group_offsets  # 3.x, 2.x
    committed = list_offsets(group)
    if committed and isinstance(next(iter(committed)), str):  # 3.x answers {group: {partition: offset}}
        committed = committed.get(group, {})
    return {tp: meta.offset for tp, meta in committed.items()}


def input_ends(s: StreamSettings) -> dict[Any, int]:
    """Where each input partition ends now."""
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(bootstrap_servers=s.bootstrap, client_id=f"{s.app_id}-cli-offsets")
    try:
        names = {s.topic(t) for t in INPUTS}
        tps = [TopicPartition(t, p) for t in names for p in (consumer.partitions_for_topic(t) or ())]
        return dict(consumer.end_offsets(tps))
    finally:
        consumer.close()


def input_backlog(s: StreamSettings, upto: dict[Any, int] | None = None) -> int:
    """Input messages the workers' router has not yet committed (routed to the work topic): of those before `upto`
    (input partition -> offset, from `input_ends`), or of all there are now."""
    from kafka import KafkaAdminClient

    ends = input_ends(s) if upto is None else upto
    admin = KafkaAdminClient(bootstrap_servers=s.bootstrap, client_id=f"{s.app_id}-cli-admin")
    try:
        committed = group_offsets(admin, s.app_id)
        return sum(max(0, end - committed.get(tp, 0)) for tp, end in ends.items())
    finally:
        admin.close()


def wait_routed(s: StreamSettings, timeout: float = 300, report: Callable[[str], None] | None = None,
                every: float = 10.0, upto: dict[Any, int] | None = None) -> None:  # fmt: skip
    """Wait until the workers' router has committed every input message before `upto` (input partition -> offset;
    by default where each ends when called), so an advance cannot overtake one; `report` is told the backlog every
    `every` seconds meanwhile. What comes meanwhile is not waited for: a busy stream is never all routed at one
    instant. The router forwards in event-time order, so what came before those messages on other partitions has
    gone too."""
    from kafka.errors import KafkaError  # type: ignore[import-untyped, unused-ignore]

    started = time.monotonic()
    deadline, next_report = started + timeout, started + every
    backlog: int | None = None
    problem = ""
    while time.monotonic() < deadline:
        try:
            upto = input_ends(s) if upto is None else upto
            backlog, problem = input_backlog(s, upto), ""
        except KafkaError as exc:  # a group coordinator not elected yet on a fresh broker, or no broker at all
            backlog, problem = None, str(exc) or exc.__class__.__name__
        if backlog == 0:
            return
        if report is not None and time.monotonic() >= next_report:
            what = (
                f"{counted(backlog, 'input message')} not yet routed"
                if backlog is not None
                else f"no answer ({problem})"
            )
            report(f"{what} after {time.monotonic() - started:.0f}s")
            next_report += every
        time.sleep(0.5)
    if backlog is None:
        raise TimeoutError(f"could not read the input backlog in {timeout:.0f}s ({problem}); check --broker (or "
                           "MONITOR_BROKER) and that the broker runs")  # fmt: skip
    raise TimeoutError(
        f"{counted(backlog, 'input message')} still not routed after {timeout:.0f}s; is a worker running?"
    )


def send_one(s: StreamSettings, raw: bytes) -> tuple[Any, int]:
    """Send one event to its input topic, confirmed; where it landed (topic partition, offset)."""
    producer = _producer(s)
    try:
        name, key = topic_and_key(raw)
        meta = producer.send(s.topic(name), key=key, value=raw).get(timeout=30)
        return TopicPartition(meta.topic, meta.partition), meta.offset
    finally:
        producer.close()


def to_every_work_partition(s: StreamSettings, value: bytes) -> dict[int, int]:
    """Send a control message to every partition the work topic has, whatever MONITOR_PARTITIONS says where this
    runs (a partition left out would never act on it); partition -> offset, once the broker has taken each."""
    producer = _producer(s)
    try:
        work = s.topic(WORK)
        futures = {p: producer.send(work, value=value, partition=p) for p in sorted(producer.partitions_for(work))}
        producer.flush()
        return {p: f.get(timeout=30).offset for p, f in futures.items()}
    finally:
        producer.close()


def send_advance(s: StreamSettings, until: datetime) -> dict[int, int]:
    """Move every work partition's event time to `until`; partition -> offset of the advance message."""
    return to_every_work_partition(s, advance_message(until))


def read_alerts(s: StreamSettings, idle_seconds: float = 3.0) -> Iterator[dict[str, Any]]:
    """Every alert version on the alerts topic, from the beginning until it has been quiet a while."""
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(
        s.topic(ALERTS),
        bootstrap_servers=s.bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=int(idle_seconds * 1000),
        client_id=f"{s.app_id}-alerts-reader",
    )
    try:
        for rec in consumer:
            yield json.loads(rec.value)
    finally:
        consumer.close()


class TopicUnreadable(RuntimeError):
    """A topic is missing, or could not be read to its end in time."""


def _partitions(consumer: Any, s: StreamSettings, name: str) -> list[Any]:
    """The partitions of one of the monitor's topics (name without the prefix); TopicUnreadable if it is missing."""
    parts = consumer.partitions_for_topic(s.topic(name))
    if not parts:
        raise TopicUnreadable(f"there is no topic {s.topic(name)} on {s.bootstrap}: is the topic prefix right? "
                              "(`monitor topics create` makes the topics)")  # fmt: skip
    return [TopicPartition(s.topic(name), p) for p in sorted(parts)]


def read_to_end(s: StreamSettings, topics: Iterable[str], reader: str, timeout: float,
                progress: Callable[[int], None] | None = None) -> Iterator[tuple[Any, Any]]:  # fmt: skip
    """Every record of the topics (names without the prefix), from their starts to where they end when called, as
    (topic partition, record): one partition's in offset order. `progress` hears the count every 50,000."""
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(bootstrap_servers=s.bootstrap, enable_auto_commit=False,
                             client_id=f"{s.app_id}-{reader}")  # fmt: skip
    try:
        tps = [tp for name in topics for tp in _partitions(consumer, s, name)]
        consumer.assign(tps)
        ends = consumer.end_offsets(tps)
        consumer.seek_to_beginning(*tps)
        todo = {tp for tp in tps if consumer.position(tp) < ends[tp]}
        read, deadline = 0, time.monotonic() + timeout
        while todo:
            if time.monotonic() > deadline:
                raise TopicUnreadable(f"{', '.join(sorted({tp.topic for tp in todo}))} not read to the end in "
                                      f"{timeout:.0f}s ({read:,} messages read)")  # fmt: skip
            for tp, records in consumer.poll(timeout_ms=500, max_records=50_000).items():
                for r in records:
                    if r.offset < ends[tp]:
                        read += 1
                        if progress is not None and read % 50_000 == 0:
                            progress(read)
                        yield tp, r
                if consumer.position(tp) >= ends[tp]:
                    todo.discard(tp)
    finally:
        consumer.close()


def latest_by_id(s: StreamSettings, name: str, timeout: float = 60.0,
                 progress: Callable[[int], None] | None = None) -> tuple[list[dict[str, Any]], list[str]]:  # fmt: skip
    """The last message of each id on one of the monitor's topics (name without the prefix), read from its start to
    where it ends now: an alert's latest version, or a lockout command once though re-sent after a crash.

    Returns the messages (as the workers sent them, JSON objects) and the places of messages that are not JSON
    objects with an id, which are skipped.
    """
    latest: dict[str, dict[str, Any]] = {}
    bad: list[str] = []
    for tp, r in read_to_end(s, [name], f"{name}-reader", timeout, progress):
        if r.value is None:
            continue
        try:
            m = json.loads(r.value)
            latest[m["id"]] = m
        except (ValueError, TypeError, KeyError):
            bad.append(f"{tp.topic}:{tp.partition}@{r.offset}")
    return list(latest.values()), bad


def current_alerts(
    s: StreamSettings, timeout: float = 60.0, progress: Callable[[int], None] | None = None
) -> tuple[list[dict[str, Any]], list[str]]:
    """The latest version of every alert on the alerts topic (`latest_by_id`; an alert's versions share its id)."""
    return latest_by_id(s, ALERTS, timeout, progress)


def act_on_alert(s: StreamSettings, action: AlertAction, timeout: float = 30.0) -> dict[str, Any] | None:
    """Send someone's action on an alert to every work partition (the one holding the alert acts on it), then wait
    for the alert's new version on the alerts topic: it, or None if none came in `timeout` seconds."""
    from kafka import KafkaConsumer

    want = "acknowledged" if action.kind == "ack" else "resolved"
    consumer = KafkaConsumer(bootstrap_servers=s.bootstrap, enable_auto_commit=False,
                             client_id=f"{s.app_id}-alert-action")  # fmt: skip
    try:
        tps = _partitions(consumer, s, ALERTS)
        consumer.assign(tps)
        for tp, end in consumer.end_offsets(tps).items():
            consumer.seek(tp, end)  # only versions made after the action is sent
        to_every_work_partition(s, alert_action_message(action))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                for r in records:
                    if r.key == action.alert_id.encode() and r.value is not None:
                        a = json.loads(r.value)
                        if a.get("status") == want:
                            return dict(a)
        return None
    finally:
        consumer.close()


@dataclass(frozen=True)
class EmergencyDecision:
    """EMG-02's answer to an emergency request, as read back from the topics."""

    granted: bool
    message: dict[str, Any]  # the grant's lockout command, or the refusal alert


def request_emergency_access(s: StreamSettings, raw: bytes, account_id: str, requester_id: str, request_id: str,
                             at: datetime, timeout: float = 60.0,
                             report: Callable[[str], None] | None = None) -> EmergencyDecision | None:  # fmt: skip
    """Send an emergency request and have it decided now, as the embedded monitor does with one.

    Once the workers have routed it, every work partition's event time moves to the request's `at` (an advance, as
    `monitor advance` sends), so EMG-02 judges it without waiting out the reorder buffer; an event older than it
    that reaches an engine later is judged late, at its own time. The decision is read back from the lockouts topic
    (a grant's command) or the alerts topic (a refusal). Raises TimeoutError if the workers have not routed the
    request in `timeout` seconds; returns None if they have but no decision came in that time.
    """
    from kafka import KafkaConsumer

    from monitor.engine import alert_id, grant_id

    grant, refusal = grant_id(account_id, request_id), alert_id("EMG-02", account_id, requester_id, request_id)
    consumer = KafkaConsumer(bootstrap_servers=s.bootstrap, enable_auto_commit=False,
                             client_id=f"{s.app_id}-emergency")  # fmt: skip
    try:
        tps = _partitions(consumer, s, LOCKOUTS) + _partitions(consumer, s, ALERTS)
        consumer.assign(tps)
        for tp, end in consumer.end_offsets(tps).items():
            consumer.seek(tp, end)  # only what is decided after the request is sent
        deadline = time.monotonic() + timeout
        sent, offset = send_one(s, raw)
        if report is not None:
            report(f"sent to {sent.topic}[{sent.partition}] at offset {offset}")
        wait_routed(s, timeout=max(1.0, deadline - time.monotonic()), report=report, upto={sent: offset + 1})
        send_advance(s, at)
        while time.monotonic() < deadline:
            for tp, records in consumer.poll(timeout_ms=500).items():
                for r in records:
                    if r.value is None:
                        continue
                    try:
                        msg = json.loads(r.value)
                    except ValueError:
                        continue
                    if tp.topic == s.topic(LOCKOUTS) and msg.get("alert_id") == grant:
                        return EmergencyDecision(True, msg)
                    if tp.topic == s.topic(ALERTS) and msg.get("id") == refusal:
                        return EmergencyDecision(False, msg)
        return None
    finally:
        consumer.close()


def dead_letters(s: StreamSettings, timeout: float = 60.0) -> list[dict[str, Any]]:
    """Every message on the dead-letter topic, oldest first: when it was refused, why, where it came from, and its
    bytes as stored (secret-looking values already removed by the router)."""
    out: list[dict[str, Any]] = []
    for _, r in read_to_end(s, [DEAD_LETTER], "dead-letter-reader", timeout):
        h = {k: v.decode("utf-8", "replace") for k, v in (r.headers or [])}
        out.append({
            "refused_at": datetime.fromtimestamp(r.timestamp / 1000, UTC).isoformat(),
            "reason": h.get("reason", ""),
            "source": f"{h.get('source-topic', '?')}:{h.get('source-partition', '?')}@{h.get('source-offset', '?')}",
            "value": (r.value or b"").decode("utf-8", "replace"),
        })  # fmt: skip
    return out


_TIME = re.compile(rb'"time"\s*:\s*"([^"]{1,64})"')


HistoryRecord = tuple[str, str, int, bytes]  # (sort key, topic:partition, offset, message)
HISTORY_RUN_BYTES = 64 * 2**20  # how much of the input history a replay from the topics sorts in memory at once
_HELD_OVERHEAD = 250  # bytes of Python objects around each held message, beside its value


def input_history(s: StreamSettings, timeout: float = 300.0, progress: Callable[[int], None] | None = None,
                  topics: Iterable[str] = INPUTS, run_bytes: int = HISTORY_RUN_BYTES,
                  ahead: Callable[[str, int, bytes, datetime], bool] | None = None,
                  ) -> Iterator[tuple[str, int, bytes]]:  # fmt: skip
    """Every message on the input topics (or those of `topics`), from their starts to where they end now, as
    (topic:partition, offset, bytes) in event-time order: what a replay of the live monitor's input reads.

    The topics interleave by arrival, not event time (the workers' routers align them as they read), so the whole
    history is sorted here, holding about `run_bytes` of it in memory: every run of that size is sorted and
    written to a temporary file, and the runs are merged as they are read back. The topics are read to their
    ends before this returns, so a broker that fails stops it here. A message with no readable time sorts first;
    replay rejects it as the router dead-letters it.

    With `ahead`, a message whose time is more than `s.max_ahead` past its timestamp is offered to it, (origin,
    offset, bytes, timestamp), and left out when it says so: the router judges it by the same timestamp
    (monitor/arrival.py), so a replay leaves out what the workers refused.
    """
    limit = s.max_ahead

    def timed() -> Iterator[HistoryRecord]:
        for tp, r in read_to_end(s, topics, "history-reader", timeout, progress):
            if r.value is not None:
                m = _TIME.search(r.value)
                at = _utc_time(m.group(1).decode("utf-8", "replace")) if m else None
                origin = f"{tp.topic}:{tp.partition}"
                if (
                    ahead is not None
                    and (arrived := arrival(r.timestamp / 1000)) is not None
                    and _doubtful(r.value, at, arrived, limit)
                    and ahead(origin, r.offset, r.value, arrived)
                ):
                    continue
                yield (at.isoformat() if at is not None else ""), origin, r.offset, r.value

    return ((origin, offset, raw) for _, origin, offset, raw in sorted_in_runs(timed(), run_bytes))


def sorted_in_runs(records: Iterable[HistoryRecord], run_bytes: int) -> Iterator[HistoryRecord]:
    """The (sort key, origin, offset, bytes) records in order, holding about `run_bytes` of them in memory: each run
    of that size is sorted into a temporary file, and the runs are merged as they are read back.

    Every record is read before this returns, so an error reading them is raised here, not in the merge.
    """
    runs: list[IO[bytes]] = []
    held: list[HistoryRecord] = []
    size = 0
    try:
        for rec in records:
            held.append(rec)
            size += len(rec[3]) + _HELD_OVERHEAD
            if size >= run_bytes:
                runs.append(_spill(held))
                held, size = [], 0
    except BaseException:
        for fh in runs:
            fh.close()
        raise
    held.sort()
    return heapq.merge(*(_read_run(fh) for fh in runs), held) if runs else iter(held)


def _spill(held: list[HistoryRecord]) -> IO[bytes]:
    """The records sorted into an anonymous temporary file (gone once closed), positioned at its start."""
    held.sort()
    fh = tempfile.TemporaryFile(prefix="monitor-history-")  # noqa: SIM115 - returned open; _read_run closes it
    try:
        for rec in held:
            marshal.dump(rec, fh)
        fh.seek(0)
    except BaseException:
        fh.close()
        raise
    return fh


def _read_run(fh: IO[bytes]) -> Iterator[HistoryRecord]:
    """The records `_spill` wrote, in order; the file is closed at its end or when the merge is dropped."""
    with fh:
        while True:
            try:
                yield marshal.load(fh)
            except EOFError:
                return


def _doubtful(raw: bytes, first: datetime | None, arrived: datetime, limit: timedelta) -> bool:
    """Whether the router might refuse the message as stamped too far ahead: a time found ahead (any of them: JSON
    takes the last of two "time" keys), or none found to judge by. The router's own verdict decides."""
    if first is None:
        return True
    if first - arrived > limit:
        return True
    later = [_utc_time(t.decode("utf-8", "replace")) for t in _TIME.findall(raw)[1:]]
    return any(t is None or t - arrived > limit for t in later)


def _utc_time(t: str) -> datetime | None:
    """An RFC 3339 time in UTC, whose isoformat sorts (None for one that does not parse)."""
    try:  # a lower-case 't' or 'z' too, as the schema takes them
        return datetime.fromisoformat(t.upper().replace("Z", "+00:00")).astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def latest_alerts(versions: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The last version of each alert, sorted like replay (raised_at, then id)."""
    latest: dict[str, dict[str, Any]] = {}
    for a in versions:
        latest[a["id"]] = a
    return sorted(latest.values(), key=lambda a: (datetime.fromisoformat(a["raised_at"]), a["id"]))
