"""Prometheus metrics of the embedded monitor: events in, rejections, alerts, rule errors, denied requests."""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge

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
OUTBOX_PENDING = Gauge("monitor_outbox_pending", "Alert deliveries not yet made, by sink", ["sink"], registry=REGISTRY)

_rule_errors_seen: dict[str, int] = {}
_events_seen: dict[str, int] = {}


def observe_step(result: StepResult) -> None:
    """Count what one step rejected and produced."""
    for r in result.rejected:
        REJECTED.labels(reason_label(r.reason)).inc()
    for a in result.alerts:
        ALERTS.labels(a.control, a.severity).inc()


def refresh(monitor: EmbeddedMonitor) -> None:
    """Bring the gauges and engine-side counters up to date before a scrape."""
    from service import outbox

    def read(engine: object, store: object) -> None:
        e = monitor.engine
        s = monitor.store
        for control, n in e.stats.rule_errors.items():
            delta = n - _rule_errors_seen.get(control, 0)
            if delta > 0:
                RULE_ERRORS.labels(control).inc(delta)
                _rule_errors_seen[control] = n
        for etype, n in e.stats.events.items():
            delta = n - _events_seen.get(etype, 0)
            if delta > 0:
                EVENTS.labels(etype).inc(delta)
                _events_seen[etype] = n
        counts = s.alert_counts()
        for status in ("open", "acknowledged", "resolved"):
            OPEN_ALERTS.labels(status).set(counts.get(status, 0))
        LOG_ENTRIES.set(s.log_size())
        for sink, info in outbox.status(s.conn).items():
            OUTBOX_PENDING.labels(sink).set(info["pending"] if isinstance(info, dict) else 0)

    monitor.read(read)
