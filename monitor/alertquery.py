"""Alerts filtered and paged as the embedded API lists them, for callers that hold the alerts themselves."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from schemas.alerts import Alert


def select_alerts(
    alerts: Iterable[Alert],
    *,
    status: Sequence[str] = (),
    control: Sequence[str] = (),
    severity: Sequence[str] = (),
    account_id: str | None = None,
    person_id: str | None = None,
    limit: int = 200,
    offset: int = 0,
) -> tuple[int, list[Alert]]:
    """(total matching, one page), newest first (raised_at, then id, both descending): service.store's order.

    Each filter given narrows the list: a value of `status`, `control` or `severity` among those listed, and the
    account or person equal to the one named.
    """
    found = [
        a
        for a in alerts
        if (not status or a.status in status)
        and (not control or a.control in control)
        and (not severity or a.severity in severity)
        and (not account_id or a.account_id == account_id)
        and (not person_id or a.person_id == person_id)
    ]
    found.sort(key=lambda a: (a.raised_at, a.id), reverse=True)
    return len(found), found[offset : offset + limit]
