"""DIR-02: every account has at least `min_admins` named administrators who are current staff."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from monitor.rules._fixtures import account, admin_assigned, directory, leaver, person, post, registered, role_changed
from monitor.rules._register import (
    REGISTER_EVENTS,
    STAFF_EVENTS,
    Finding,
    current_holders,
    gone_holders,
    register_check,
)
from monitor.rules.base import Action, Case, Context, ev, rule

_PEOPLE = [person(p, email=f"{p}@uni.example.ac.uk") for p in ("p-1", "p-2", "p-3")]


def _dir(*admins: str) -> dict[str, Any]:
    return directory(account(admins=admins, manager="p-1"), people=_PEOPLE)


_T0 = "2026-11-02T09:00:00Z"
_START = post(_T0, "post-0")
_REG = registered("2026-11-02T10:00:00Z", "reg-2", "acc-2")
# the people of a register sent as events: an admin the directory lists nowhere is not current staff
_STAFF = tuple(ev("directory.person", "2026-11-02T09:00:00Z", f"dp-{p['person_id']}", groups=[], **p) for p in _PEOPLE)


def _assign(t: str, id_: str, person_id: str, role: str = "admin") -> dict[str, Any]:
    return admin_assigned(t, id_, person_id, role, account_id="acc-2")


# p-3, who has already given notice, replaces p-2 (removal first, both in one instant).
_SWAP = (
    _START,
    leaver("2026-11-02T09:10:00Z", "hr-1", "p-3", "2026-11-06T17:00:00Z"),
    ev("directory.admin_unassigned", "2026-11-03T09:00:00Z", "un-2", account_id="acc-1", person_id="p-2"),
    admin_assigned("2026-11-03T09:00:00Z", "as-3", "p-3"),
)

CASES = [
    Case(
        "directory lists one admin: alert after the registration grace",
        "alert",
        (_START,),
        _dir("p-1"),
        until="2026-11-02T10:00:00Z",
        severity="high",
        status="open",
    ),
    Case(
        "one admin, still inside the registration grace: no alert yet",
        "none",
        (_START,),
        _dir("p-1"),
        until="2026-11-02T09:59:00Z",
    ),
    Case("two current admins: no alert", "none", (_START,), _dir("p-1", "p-2"), until="2026-11-05T00:00:00Z"),
    Case(
        "registered by a series of events within the grace: no alert",
        "none",
        (
            *_STAFF,
            _REG,
            _assign("2026-11-02T10:05:00Z", "as-1", "p-1"),
            _assign("2026-11-02T10:20:00Z", "as-2", "p-2"),
            _assign("2026-11-02T10:30:00Z", "as-3", "p-3", "manager"),
        ),
        None,
        until="2026-11-03T00:00:00Z",
    ),
    Case(
        "second admin assigned only after the grace: alert, then resolved",
        "alert",
        (*_STAFF, _REG, _assign("2026-11-02T10:05:00Z", "as-1", "p-1"), _assign("2026-11-02T12:00:00Z", "as-2", "p-2")),
        None,
        until="2026-11-03T00:00:00Z",
        status="resolved",
    ),
    Case(
        "two admins the directory lists nowhere are not current staff: alert",
        "alert",
        (_REG, _assign("2026-11-02T10:05:00Z", "as-1", "p-1"), _assign("2026-11-02T10:20:00Z", "as-2", "p-2")),
        None,
        until="2026-11-03T00:00:00Z",
        status="open",
    ),
    Case(
        "two admins the directory lists nowhere, then both listed there: resolved",
        "alert",
        (
            _REG,
            _assign("2026-11-02T10:05:00Z", "as-1", "p-1"),
            _assign("2026-11-02T10:20:00Z", "as-2", "p-2"),
            *(ev("directory.person", "2026-11-02T12:00:00Z", f"dp-{p['person_id']}", groups=[], **p) for p in _PEOPLE),
        ),
        None,
        until="2026-11-03T00:00:00Z",
        status="resolved",
    ),
    Case(
        "an admin leaves: alert at their leaving time",
        "alert",
        (_START, leaver("2026-11-03T09:00:00Z", "hr-1", "p-2", "2026-11-06T17:00:00Z")),
        _dir("p-1", "p-2"),
        until="2026-11-06T17:00:00Z",
        status="open",
    ),
    Case(
        "an admin swapped in at the same instant as one goes: no alert",
        "none",
        _SWAP,
        _dir("p-1", "p-2"),
        until="2026-11-06T16:59:00Z",
    ),
    Case(
        "the swapped-in admin had given notice: alert at their leaving time",
        "alert",
        _SWAP,
        _dir("p-1", "p-2"),
        until="2026-11-06T17:00:00Z",
        status="open",
    ),
    Case(
        "an admin will leave, but has not left yet: no alert",
        "none",
        (_START, leaver("2026-11-03T09:00:00Z", "hr-1", "p-2", "2026-11-06T17:00:00Z")),
        _dir("p-1", "p-2"),
        until="2026-11-06T16:59:00Z",
    ),
    Case(
        "a leaver replaced after leaving: resolved",
        "alert",
        (
            _START,
            leaver("2026-11-03T09:00:00Z", "hr-1", "p-2", "2026-11-06T17:00:00Z"),
            admin_assigned("2026-11-07T09:00:00Z", "as-9", "p-3"),
        ),
        _dir("p-1", "p-2"),
        until="2026-11-08T00:00:00Z",
        status="resolved",
    ),
    Case(
        "an admin moves role without confirmation: alert at the move",
        "alert",
        (_START, role_changed("2026-11-03T09:00:00Z", "hr-2", "p-2", "2026-11-04T09:00:00Z")),
        _dir("p-1", "p-2"),
        until="2026-11-04T09:00:00Z",
    ),
    Case(
        "a mover whose access is confirmed still counts",
        "none",
        (
            _START,
            ev("directory.access_confirmed", "2026-11-02T09:30:00Z", "cf-1", account_id="acc-1", person_id="p-2"),
            role_changed("2026-11-03T09:00:00Z", "hr-2", "p-2", "2026-11-04T09:00:00Z"),
        ),
        _dir("p-1", "p-2"),
        until="2026-11-05T00:00:00Z",
    ),
    Case(
        "an admin unassigned leaves one: alert",
        "alert",
        (_START, ev("directory.admin_unassigned", "2026-11-03T09:00:00Z", "un-1", account_id="acc-1", person_id="p-2")),
        _dir("p-1", "p-2"),
        until="2026-11-03T09:00:00Z",
    ),
    Case(
        "retired account: the open alert resolves",
        "alert",
        (_START, ev("directory.account_retired", "2026-11-03T09:00:00Z", "ret-1", account_id="acc-1")),
        _dir("p-1"),
        until="2026-11-04T00:00:00Z",
        status="resolved",
    ),
    Case(
        "retired account with one admin: no alert",
        "none",
        (_START, ev("directory.account_retired", "2026-11-02T09:10:00Z", "ret-1", account_id="acc-1")),
        _dir("p-1"),
        until="2026-11-04T00:00:00Z",
    ),
]


def _check(ctx: Context) -> Finding | None:
    need = ctx.params.min_admins
    current = current_holders(ctx, "admin", ctx.now)
    if len(current) >= need:
        return None
    aid = ctx.account.account_id
    named = f" ({', '.join(current)})" if current else ""
    gone = gone_holders(ctx, "admin", ctx.now)
    return Finding(
        summary=f"{aid} has {len(current)} named administrator(s) who are current staff{named}, fewer than {need}"
        + (f"; {'; '.join(gone)}" if gone else ""),
        next_step=f"Assign another named administrator who is current staff to {aid} in the register "
        "(directory.admin_assigned, role admin) and remove any who have gone",
    )


@rule(
    "DIR-02",
    title="At least two named administrators who are current staff",
    severity="high",
    sources=["000 §6.5", "003 §5.2", "003 §5.3", '001 "Corporate Social Media Accounts"'],
    on=(*REGISTER_EVENTS, *STAFF_EVENTS),
    window="registration_grace",
    initial=dict,
    cases=CASES,
)
def dir_02_two_named_admins(event: Any, state: Any, ctx: Context) -> tuple[Any, Sequence[Action]]:
    """Alert when an account has fewer than `min_admins` current named admins, after the registration grace."""
    return register_check(event, state, ctx, "admins", _check, staff=True)
