"""Prometheus metrics of the embedded monitor: events in, rejections, alerts, rule errors, denied requests."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

from streams.metrics import reason_label

if TYPE_CHECKING:
    from service.embedded import EmbeddedMonitor, StepResult

REGISTRY = CollectorRegistry()
EVENTS = Counter("monitor_events", "Events taken, by type", ["type"], registry=REGISTRY)
REJECTED = Counter("monitor_events_rejected", "Events rejected, by reason", ["reason"], registry=REGISTRY)
ALERTS = Counter("monitor_alerts", "Alert versions, by control and severity", ["control", "severity"],
                 registry=REGISTRY)  # fmt: skip
RULE_ERRORS = Counter("monitor_rule_errors", "Rules that raised, by control", ["control"], registry=REGISTRY)
HTTP_DENIED = Counter("monitor_http_denied", "API requests refused, by status (401, 403)", ["status"],
                      registry=REGISTRY)  # fmt: skip
OPEN_ALERTS = Gauge("monitor_alerts_current", "Alerts by status now", ["status"], registry=REGISTRY)
LOG_ENTRIES = Gauge("monitor_log_entries", "Entries in the input log", registry=REGISTRY)

_rule_errors_seen: dict[str, int] = {}
_events_seen: dict[str, int] = {}


def observe_step(result: StepResult) -> None:
    """Count what one step rejected and produced."""
    for r in result.rejected:
        REJECTED.labels(reason_label(r.reason)).inc()
    for a in result.alerts:
        ALERTS.labels(a.control, a.severity).inc()


def observe_refused(reason: str) -> None:
    """Count an event the API refused before the monitor's step saw it."""
    REJECTED.labels(reason_label(reason)).inc()


def _catch_up(counter: Counter, totals: Mapping[str, int], seen: dict[str, int]) -> None:
    """Add to a labelled counter what an engine-side running total gained since the last scrape."""
    for label, n in totals.items():
        delta = n - seen.get(label, 0)
        if delta > 0:
            counter.labels(label).inc(delta)
            seen[label] = n


def refresh(monitor: EmbeddedMonitor) -> None:
    """Bring the gauges and engine-side counters up to date before a scrape (without waiting for a step)."""
    s = monitor.status()
    _catch_up(RULE_ERRORS, s.rule_errors, _rule_errors_seen)
    _catch_up(EVENTS, s.events_by_type, _events_seen)
    for status in ("open", "acknowledged", "resolved"):
        OPEN_ALERTS.labels(status).set(s.alerts.get(status, 0))
    LOG_ENTRIES.set(s.log_entries)


def exposition() -> bytes:
    """What /metrics serves: these metrics and the outbox's delivery metrics."""
    from service import outbox

    return generate_latest(REGISTRY) + generate_latest(outbox.REGISTRY)
