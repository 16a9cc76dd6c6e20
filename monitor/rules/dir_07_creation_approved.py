"""DIR-07: the account's creation was approved, and the register records by whom."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from monitor.rules._fixtures import account, account_updated, directory, post
from monitor.rules._register import REGISTER_EVENTS, Finding, register_check
from monitor.rules.base import Action, Case, Context, rule


def _dir(approved_by: str | None) -> dict[str, Any]:
    if approved_by:
        return directory(account(manager="p-1", approved_by=approved_by))
    return directory(account(manager="p-1", omit=("approved_by",)))


_START = post("2026-11-02T09:00:00Z", "post-0")
_LATER = "2026-11-03T00:00:00Z"

CASES = [
    Case(
        "no approval recorded: alert after the grace",
        "alert",
        (_START,),
        _dir(None),
        until=_LATER,
        severity="low",
        status="open",
    ),
    Case("approval recorded: no alert", "none", (_START,), _dir("p-9"), until=_LATER),
    Case(
        "no approval, still inside the registration grace: no alert",
        "none",
        (_START,),
        _dir(None),
        until="2026-11-02T09:59:59Z",
    ),
    Case(
        "approval recorded within the grace by an update: no alert",
        "none",
        (_START, account_updated("2026-11-02T09:30:00Z", "up-1", approved_by="p-9")),
        _dir(None),
        until=_LATER,
    ),
    Case(
        "approval recorded late: resolved",
        "alert",
        (_START, account_updated("2026-11-02T12:00:00Z", "up-1", approved_by="p-9")),
        _dir(None),
        until=_LATER,
        status="resolved",
    ),
]


def _check(ctx: Context) -> Finding | None:
    acc = ctx.account
    if acc.approved_by:
        return None
    return Finding(
        summary=f"{acc.account_id} (handle {acc.handle!r}) has no record of who approved its creation",
        next_step=f"Obtain the named approver's approval for {acc.account_id} and record it "
        "(directory.account_updated, approved_by), or retire the account",
    )


@rule(
    "DIR-07",
    title="Creation approved by the named approver role",
    severity="low",
    sources=["000 §6.1", "003 §5.1", "003 §5.3", "004 Section 3"],
    on=REGISTER_EVENTS,
    window="registration_grace",
    initial=dict,
    cases=CASES,
)
def dir_07_creation_approved(event: Any, state: Any, ctx: Context) -> tuple[Any, Sequence[Action]]:
    """Alert when an account has no approval record after the registration grace; resolve once it is recorded."""
    return register_check(event, state, ctx, "approval", _check)
