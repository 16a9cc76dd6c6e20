"""LVR-05: HR and auditors can see, for each leaver and mover, every account, what was done and when (a report)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from monitor.rules._fixtures import account, directory, leaver, role_changed, rotated, staff
from monitor.rules.base import Action, Case, Context, ev, rule

_DIR = directory(account(credential_model="shared_credential"), people=staff("p-1", "p-2", "p-7"))
_LEAVER = leaver("2026-11-02T09:00:00Z", "hr-1", "p-1", "2026-11-06T17:00:00Z")
# p-2 moves to another role.
_MOVE = role_changed("2026-11-02T09:00:00Z", "hr-3", "p-2", "2026-11-03T09:00:00Z")

# "alert" here means: the report has a row on an account for the person of the case's first hr.* event; "none": it
# has none, only the one row with no account that shows HR's report arrived (nothing to revoke, or not in the register).
CASES = [
    Case("a leaver with access: a row", "alert", (_LEAVER,), _DIR, until="2026-11-09T00:00:00Z"),
    Case(
        "a leaver whose credential was rotated: a row",
        "alert",
        (_LEAVER, rotated("2026-11-06T18:00:00Z", "v-1")),
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
        (_MOVE,),
        _DIR,
        until="2026-11-05T00:00:00Z",
    ),
    Case(
        "a leaver who could reach no account: a row with none, nothing to revoke",
        "none",
        (leaver("2026-11-02T09:00:00Z", "hr-4", "p-7", "2026-11-06T17:00:00Z"),),
        _DIR,
        until="2026-11-09T00:00:00Z",
    ),
    Case(
        "a leaver the register does not name (a mistyped id): a row with no account, saying so",
        "none",
        (leaver("2026-11-02T09:00:00Z", "hr-5", "p-77", "2026-11-06T17:00:00Z"),),
        _DIR,
        until="2026-11-09T00:00:00Z",
    ),
    Case(
        "a mover whose access was confirmed beforehand: a row with no account, nothing to revoke",
        "none",
        (
            ev("directory.access_confirmed", "2026-11-01T09:00:00Z", "cf-1", account_id="acc-1", person_id="p-2"),
            _MOVE,
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
