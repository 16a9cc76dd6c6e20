"""From an input message to the work partitions that must see it (pure; no Kafka)."""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from monitor.arrival import refuse_if_ahead
from monitor.engine import PERSON_FANOUT
from monitor.rules import RULES
from schemas.events import Event, Rejected, find_secret_field, parse_event, secret_field_name

# Seen by every partition: people and incidents are needed wherever their accounts are.
BROADCAST = PERSON_FANOUT | {"directory.person", "incident.declared", "incident.closed"}
# Account events every partition sees too, the owner first: rotations keep each partition's fingerprint index
# whole, and rules that act on other accounts run wherever those accounts are owned (monitor/engine.py).
EVERYWHERE = frozenset({"credential.rotated"} | {t for s in RULES.values() if s.cross_account for t in s.on})
ADVANCE = "monitor.advance"  # internal control message on the work topic: move event time forward
WATERMARK = "monitor.watermark"  # internal control message on the work topic: a router's watermark for its inputs
ALERT_ACTION = "monitor.alert_action"  # control message on the work topic: someone acknowledges or resolves an alert
# Every control message starts with these bytes, and an input message that does is refused: the router forwards
# an event's own bytes, and a duplicate "type" key (JSON takes the last) could otherwise pass as a control message.
CONTROL_PREFIX = b'{"type": "monitor.'
BATCH = b"monitor.batch\n"  # starts a work message holding several events (never the start of a JSON event)
BATCH_EVENTS = 500  # events in one work message at most
BATCH_BYTES = 256 * 1024  # event bytes in one work message at most (Kafka refuses messages over 1 MB by default)
_FRAME = struct.Struct(">dI")  # per event: when its input message was sent (epoch s; NaN: not known), its length


def partition_of(account_id: str, partitions: int) -> int:
    """The work partition owning an account: stable across processes and restarts (not Python's hash)."""
    return zlib.crc32(account_id.encode("utf-8")) % partitions


@dataclass(frozen=True, slots=True)
class Routed:
    key: bytes
    partitions: tuple[int, ...]
    event: Event


@dataclass(frozen=True, slots=True)
class DeadLetter:
    reason: str
    event_id: str | None


def arrival(timestamp: float | None) -> datetime | None:
    """A message's timestamp (epoch seconds) as a time; None when the broker gave none (Kafka's -1)."""
    return datetime.fromtimestamp(timestamp, UTC) if timestamp is not None and timestamp > 0 else None


def route(
    raw: bytes, partitions: int, arrived: datetime | None = None, max_ahead: timedelta | None = None
) -> Routed | DeadLetter:
    """Decode an input message and say where it goes, or why it is rejected.

    With `arrived` (the message's timestamp) and `max_ahead`, an event stamped further ahead of its arrival is
    rejected (monitor/arrival.py); the timestamp is kept in the topic, so a replay of it decides the same."""
    try:
        ev = parse_event(raw)
        if arrived is not None and max_ahead is not None:
            refuse_if_ahead(ev, arrived, max_ahead)
    except Rejected as rej:
        return DeadLetter(rej.reason, rej.event_id)
    if raw.startswith(CONTROL_PREFIX):
        return DeadLetter("starts as the monitor's own control messages do (a second 'type' key?); refused", ev.id)
    etype = ev.type
    d: Any = ev.data
    if etype in BROADCAST:
        key = str(getattr(d, "person_id", None) or getattr(d, "incident_id", ""))
        return Routed(key.encode(), tuple(range(partitions)), ev)
    owner = partition_of(d.account_id, partitions)
    if etype in EVERYWHERE:
        return Routed(d.account_id.encode(), (owner, *(p for p in range(partitions) if p != owner)), ev)
    return Routed(d.account_id.encode(), (owner,), ev)


def redact(raw: bytes) -> bytes:
    """The original bytes for the dead-letter topic, with the value of every secret-looking field removed."""
    try:
        obj = json.loads(raw)
    except ValueError:
        return raw  # not JSON: nothing in it is a field, so nothing is a secret field
    if find_secret_field(obj) is None:
        return raw

    def scrub(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: "[REDACTED]" if secret_field_name(str(k)) else scrub(x) for k, x in v.items()}
        if isinstance(v, list):
            return [scrub(x) for x in v]
        return v

    return json.dumps(scrub(obj), separators=(",", ":")).encode()


def work_messages(events: Sequence[tuple[bytes, float | None]]) -> Iterator[tuple[bytes, float | None]]:
    """The work messages carrying `events` (raw bytes, when each input message was sent), in order: one event alone
    as its own bytes, several as batches of at most BATCH_EVENTS events and BATCH_BYTES bytes (one larger event
    goes alone). Each message comes with the earliest send time it carries.

    What the router releases at once for one partition goes in one message: in a backlog that is a hundred events or
    more (the register, or sign-ins released together), and each work message costs the worker more in Faust's
    per-message machinery than the engine spends on an event (bench/README, "Through Kafka").
    """
    group: list[tuple[bytes, float | None]] = []
    size = 0
    for raw, sent in events:
        if group and (len(group) >= BATCH_EVENTS or size + len(raw) > BATCH_BYTES):
            yield _pack(group)
            group, size = [], 0
        group.append((raw, sent))
        size += len(raw)
    if group:
        yield _pack(group)


def _pack(group: list[tuple[bytes, float | None]]) -> tuple[bytes, float | None]:
    stamps = [sent for _, sent in group if sent is not None]
    first = min(stamps) if stamps else None
    if len(group) == 1:
        return group[0][0], first
    parts = [BATCH]
    for raw, sent in group:
        parts.append(_FRAME.pack(float("nan") if sent is None else sent, len(raw)))
        parts.append(raw)
    return b"".join(parts), first


def parse_batch(raw: bytes) -> list[tuple[bytes, float | None]] | None:
    """The events of a batch work message with their send times, or None when the message is not a batch."""
    if not raw.startswith(BATCH):
        return None
    out: list[tuple[bytes, float | None]] = []
    pos, end = len(BATCH), len(raw)
    while pos < end:
        sent, n = _FRAME.unpack_from(raw, pos)
        pos += _FRAME.size
        if pos + n > end:
            raise ValueError(f"batch work message cut short: an event of {n} bytes at byte {pos} of {end}")
        out.append((raw[pos : pos + n], None if sent != sent else sent))  # NaN != NaN: no send time
        pos += n
    return out


def work_events(raw: bytes) -> list[bytes]:
    """The input events a work message carries (control messages carry none): for tools and tests reading the log."""
    batch = parse_batch(raw)
    if batch is not None:
        return [event for event, _ in batch]
    if raw.startswith(CONTROL_PREFIX):
        return []
    return [raw]


def advance_message(until: datetime) -> bytes:
    return json.dumps({"type": ADVANCE, "time": until.isoformat()}).encode()


def parse_advance(raw: bytes) -> datetime | None:
    """The time of an advance control message, or None when the message is an event."""
    if not raw.startswith(b'{"type": "monitor.advance"'):
        return None
    return datetime.fromisoformat(json.loads(raw)["time"])


@dataclass(frozen=True, slots=True)
class Watermark:
    """A router's word that no more events earlier than `time` will come from these input partitions."""

    time: datetime
    lanes: tuple[str, ...]  # input partitions, as `lane_name` gives them


def lane_name(topic: str, partition: int) -> str:
    return f"{topic}:{partition}"


def watermark_message(time: datetime, lanes: Iterable[str]) -> bytes:
    return json.dumps({"type": WATERMARK, "time": time.isoformat(), "lanes": sorted(lanes)}).encode()


def parse_watermark(raw: bytes) -> Watermark | None:
    """The watermark of a control message, or None when the message is something else."""
    if not raw.startswith(b'{"type": "monitor.watermark"'):
        return None
    obj = json.loads(raw)
    return Watermark(datetime.fromisoformat(obj["time"]), tuple(obj["lanes"]))


@dataclass(frozen=True, slots=True)
class AlertAction:
    """Someone acknowledging or resolving an alert: sent to every work partition; the one holding the alert acts."""

    kind: str  # "ack" or "resolve", as the embedded monitor logs them
    alert_id: str
    by: str
    at: datetime
    note: str | None = None


def alert_action_message(action: AlertAction) -> bytes:
    body = {"type": ALERT_ACTION, "kind": action.kind, "alert_id": action.alert_id, "by": action.by,
            "at": action.at.isoformat(), "note": action.note}  # fmt: skip
    return json.dumps(body).encode()


def parse_alert_action(raw: bytes) -> AlertAction | None:
    """The action of an alert-action control message, or None when the message is something else."""
    if not raw.startswith(b'{"type": "monitor.alert_action"'):
        return None
    obj = json.loads(raw)
    return AlertAction(obj["kind"], obj["alert_id"], obj["by"], datetime.fromisoformat(obj["at"]), obj.get("note"))
