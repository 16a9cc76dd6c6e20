"""A readable terminal table of alerts, most severe first; event text in it shown as visible escapes."""

from __future__ import annotations

from collections.abc import Sequence

from monitor.visible import visible
from schemas.alerts import Alert

_RANK = {"critical": 0, "high": 1, "medium": 2, "low": 3}
_STATUS = {"open": 0, "acknowledged": 1, "resolved": 2}


def alert_table(alerts: Sequence[Alert], limit: int = 60, width: int = 180, ids: bool = False) -> str:
    """Open alerts first, by severity then time; one line each (led by the alert's id, to act on it, with `ids`)."""
    rows = sorted(alerts, key=lambda a: (_STATUS[a.status], _RANK[a.severity], a.raised_at, a.id))
    id_width = max((len(visible(a.id)) for a in rows[:limit]), default=2) if ids else 0
    lead = f"{'ID':{id_width}} " if ids else ""
    head = (f"{lead}{'SEVERITY':9} {'CONTROL':7} {'STATUS':8} {'RAISED (UTC)':16} {'UPDATED (UTC)':16} "
            f"{'ACCOUNT':9} {'PERSON':7} {'EVID':>4} SUMMARY (as last updated)")  # fmt: skip
    lines = [head, "-" * min(width, 180 + len(lead))]
    for a in rows[:limit]:
        # Ids and summaries are events' text: an escape sequence in a device id would reach the terminal.
        account, person, summary = visible(a.account_id or "-"), visible(a.person_id or "-"), visible(a.summary)
        line = (
            (f"{visible(a.id):{id_width}} " if ids else "")
            + f"{a.severity:9} {a.control:7} {a.status:8} {a.raised_at:%Y-%m-%d %H:%M} {a.updated_at:%Y-%m-%d %H:%M} "
            f"{account:9} {person:7} {len(a.evidence):>4} {summary}"
        )
        lines.append(line if len(line) <= width else line[: width - 1] + "…")
    if len(rows) > limit:
        lines.append(f"... {len(rows) - limit} more (use --limit, or `monitor replay` for every alert as JSON)")
    return "\n".join(lines)
