"""Prometheus metrics of a worker: events in, rejections, alerts, latency, lag, rule errors."""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

if TYPE_CHECKING:
    from streams.partition import Outputs

REGISTRY = CollectorRegistry()
EVENTS = Counter("monitor_events", "Events processed, by type (each once, on the partition owning its account, or "
                 "partition 0 for one sent to every partition)", ["type"], registry=REGISTRY)  # fmt: skip
REJECTED = Counter("monitor_events_rejected", "Input messages dead-lettered, by reason", ["reason"], registry=REGISTRY)
ALERTS = Counter("monitor_alerts", "Alert versions sent, by control and severity", ["control", "severity"],
                 registry=REGISTRY)  # fmt: skip
LATENCY = Histogram(
    "monitor_event_to_alert_seconds",
    "From the input message's timestamp to the alert it caused being sent",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    registry=REGISTRY,
)
LAG = Gauge("monitor_consumer_lag", "Messages behind the end of the work partition", ["topic", "partition"],
            registry=REGISTRY)  # fmt: skip
RULE_ERRORS = Counter("monitor_rule_errors", "Rules that raised, by control", ["control"], registry=REGISTRY)
HELD = Gauge("monitor_router_held", "Input messages the router holds until the other inputs catch up in event time",
             registry=REGISTRY)  # fmt: skip
PAUSED = Gauge("monitor_router_paused_partitions", "Input partitions paused for running ahead in event time",
               registry=REGISTRY)  # fmt: skip
REBUILDS = Counter("monitor_partition_rebuilds", "Partition engines rebuilt from the work log", registry=REGISTRY)
REBUILD_MESSAGES = Counter("monitor_partition_rebuild_messages", "Work messages folded again to rebuild engines",
                           registry=REGISTRY)  # fmt: skip
SNAPSHOTS = Counter("monitor_snapshots_written", "Partition engine snapshots written", registry=REGISTRY)
RESTORES = Counter("monitor_snapshot_restores", "Partition engines restored from a snapshot", registry=REGISTRY)
CONFIRMS = Counter("monitor_router_end_confirmations", "End offsets of idle input partitions asked of the broker",
                   registry=REGISTRY)  # fmt: skip
LATE = Counter("monitor_events_late", "Events that reached an engine after its reorder buffer had passed their time",
               registry=REGISTRY)  # fmt: skip
BEYOND_MEMORY = Counter("monitor_events_beyond_memory", "Events further behind an engine's clock than its duplicate "
                        "memory covers (7 days): judged, though a copy of one taken then (a file published again) "
                        "could not be told from a new event", registry=REGISTRY)  # fmt: skip
WATERMARKS = Counter("monitor_router_watermarks", "Watermarks the router sent to the work partitions",
                     registry=REGISTRY)  # fmt: skip
SEND_ERRORS = Counter("monitor_send_errors", "Messages the producer failed to deliver, by topic", ["topic"],
                      registry=REGISTRY)  # fmt: skip
BROKER_UP = Gauge("monitor_broker_up", "1 while a Kafka broker answers the worker's metadata requests (every 2 s), "
                  "0 after two checks in a row unanswered (5 s each), NaN before the first answer",
                  registry=REGISTRY)  # fmt: skip
BROKER_UP.set(math.nan)
WALL_CLOCK_WAITS = Counter("monitor_wall_clock_waits",
                           "Watermarks sent below the wall clock less the lateness: a backlog was held or unread",
                           registry=REGISTRY)  # fmt: skip

# A phrase of a rejection's reason -> its label. The last two are the API's: an emergency request in another's name,
# and a change to the groups that decide who is granted emergency access (service.register.group_change_judge).
_REASONS = {
    r: r.replace(" ", "_")
    for r in (
        "unknown event type",
        "missing field",
        "not valid JSON",
        "looks like it holds a secret",
        "byte limit",
        "time zone",
        "valid datetime",
        "ahead of its arrival",
    )
}
_REASONS["in the requester's own name"] = "not_own_request"
_REASONS["group decides who is granted emergency access"] = "group_change"


def reason_label(reason: str) -> str:
    """A bounded label for a rejection reason (the full reason goes to the dead-letter topic)."""
    for phrase, label in _REASONS.items():
        if phrase in reason:
            return label
    return "invalid_field"


def observe_event(out: Outputs) -> None:
    """Count the events of one processed work message and what they produced."""
    for event_type in out.counted_types:  # each event once over all partitions, though some go to every one
        EVENTS.labels(event_type).inc()
    if out.late_counted:
        LATE.inc(out.late_counted)  # each event once, as its help says; a work message may carry several
    if out.beyond_memory:
        BEYOND_MEMORY.inc(len(out.beyond_memory))
    for control, n in out.rule_errors.items():
        RULE_ERRORS.labels(control).inc(n)
    now = time.time()
    for sent_at in out.caused_at:  # from the causing event's input message, through the reorder buffer
        LATENCY.observe(max(0.0, now - sent_at))
    for a in out.alerts:
        ALERTS.labels(a.control, a.severity).inc()
