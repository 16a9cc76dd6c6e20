"""LVR-05: HR and auditors can see, for each leaver and mover, every account, what was done and when (a report)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from monitor.rules.base import Action, Case, Context, ev, rule

_DIR = {
    "people": [
        {"person_id": "p-1", "email": "p1@uni.example.ac.uk"},
        {"person_id": "p-2", "email": "p2@uni.example.ac.uk"},
        {"person_id": "p-7", "email": "p7@uni.example.ac.uk"},
    ],
    "accounts": [
        {
            "account_id": "acc-1",
            "platform": "x",
            "handle": "UniNews",
            "registration_email": "social@uni.example.ac.uk",
            "credential_model": "shared_credential",
            "mfa_enabled": True,
            "central": True,
            "approved_by": "p-9",
            "emergency_access": "escrow",
            "admins": ["p-1", "p-2"],
            "manager": "p-2",
        },
    ],
    "organisation": {"domains": ["uni.example.ac.uk"]},
}
_LEAVER = ev("hr.leaver", "2026-11-02T09:00:00Z", "hr-1", person_id="p-1", leaving_at="2026-11-06T17:00:00Z")

# "alert" here means: the report has a row for the person of the case's first hr.* event; "none": it has none.
CASES = [
    Case("a leaver with access: a row", "alert", (_LEAVER,), _DIR, until="2026-11-09T00:00:00Z"),
    Case(
        "a leaver whose credential was rotated: a row",
        "alert",
        (_LEAVER, ev("credential.rotated", "2026-11-06T18:00:00Z", "v-1", account_id="acc-1", actor_id="p-2")),
        _DIR,
        until="2026-11-09T00:00:00Z",
    ),
    Case(
        "a cancelled leaver stays on record: a row",
        "alert",
        (_LEAVER, ev("hr.leaver_cancelled", "2026-11-03T10:00:00Z", "hr-2", person_id="p-1")),
        _DIR,
        until="2026-11-09T00:00:00Z",
    ),
    Case(
        "a mover with access: a row",
        "alert",
        (
            ev(
                "hr.role_changed",
                "2026-11-02T09:00:00Z",
                "hr-3",
                person_id="p-2",
                effective_at="2026-11-03T09:00:00Z",
                new_role="lecturer",
            ),
        ),
        _DIR,
        until="2026-11-05T00:00:00Z",
    ),
    Case(
        "a leaver who could reach no account: no row",
        "none",
        (ev("hr.leaver", "2026-11-02T09:00:00Z", "hr-4", person_id="p-7", leaving_at="2026-11-06T17:00:00Z"),),
        _DIR,
        until="2026-11-09T00:00:00Z",
    ),
    Case(
        "a mover whose access was confirmed beforehand: no row",
        "none",
        (
            ev("directory.access_confirmed", "2026-11-01T09:00:00Z", "cf-1", account_id="acc-1", person_id="p-2"),
            ev(
                "hr.role_changed",
                "2026-11-02T09:00:00Z",
                "hr-3",
                person_id="p-2",
                effective_at="2026-11-03T09:00:00Z",
                new_role="lecturer",
            ),
        ),
        _DIR,
        until="2026-11-05T00:00:00Z",
    ),
]


@rule(
    "LVR-05",
    title="Leaver and mover report for HR and auditors",
    severity=None,
    sources=['001 "Corporate Social Media Accounts"'],
    on=(),
    kind="report",
    cases=CASES,
)
def lvr_05_leaver_report(event: Any, state: Any, ctx: Context) -> tuple[Any, Sequence[Action]]:
    """A report, not an alert: the rows come from monitor.report.leaver_report; this function is never called."""
    return state, ()
