"""DIR-03: where several people have access, the account has one agreed manager who is current staff."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from monitor.rules._fixtures import (
    DOMAIN,
    account,
    admin_assigned,
    directory,
    leaver,
    person,
    platform_admin_added,
    post,
    rotated,
    shared,
    sport_account,
)
from monitor.rules._register import (
    REGISTER_EVENTS,
    STAFF_EVENTS,
    Finding,
    current_holders,
    gone_holders,
    register_check,
)
from monitor.rules.base import Action, Case, Context, ev, rule

# Events that change who has access besides the register: platform seats and the credential log.
ACCESS_EVENTS = (
    "platform.admin_added", "platform.admin_removed",
    "credential.shared", "credential.temporary_access", "credential.rotated",
)  # fmt: skip

_PEOPLE = [person(p, email=f"{p}@uni.example.ac.uk") for p in ("p-1", "p-2", "p-3")]


def _dir(admins: list[str], manager: str | None) -> dict[str, Any]:
    return directory(account(admins=admins, manager=manager), people=_PEOPLE)


_START = post("2026-11-02T09:00:00Z", "post-0")
_LATER = "2026-11-03T00:00:00Z"
# p-3, the manager, gives notice.
_NOTICE = leaver("2026-11-03T09:00:00Z", "hr-1", "p-3", "2026-11-04T17:00:00Z")

# p-3, the manager in the register, whom the directory's people do not list until this entry.
_LISTED = ev("directory.person", "2026-11-02T12:00:00Z", "dp-3", person_id="p-3", email=f"p3@{DOMAIN}", groups=[])


def _unlisted(admins: list[str], manager: str | None) -> dict[str, Any]:
    """The register with only p-1 and p-2 among the directory's people."""
    return directory(account(admins=admins, manager=manager), people=_PEOPLE[:2])


# @UniSport, one credential shared by its people: p-1 alone in the register, no manager.
_SPORT = directory(sport_account(admins=["p-1"], manager=None), people=_PEOPLE)
_SHARES = (
    _START,
    shared("2026-11-02T09:10:00Z", "v-1", "p-2", actor_id="p-1"),
    shared("2026-11-02T09:11:00Z", "v-2", "p-3", actor_id="p-1"),
)

CASES = [
    Case(
        "two admins and no manager: alert after the grace",
        "alert",
        (_START,),
        _dir(["p-1", "p-2"], None),
        until=_LATER,
        severity="high",
        status="open",
    ),
    Case("two admins and a current manager: no alert", "none", (_START,), _dir(["p-1", "p-2"], "p-1"), until=_LATER),
    Case("a single person with access needs no manager", "none", (_START,), _dir(["p-1"], None), until=_LATER),
    Case(
        "no manager, still inside the registration grace: no alert",
        "none",
        (_START,),
        _dir(["p-1", "p-2"], None),
        until="2026-11-02T09:59:59Z",
    ),
    Case(
        "the manager leaves: alert at their leaving time",
        "alert",
        (_START, _NOTICE),
        _dir(["p-1", "p-2"], "p-3"),
        until="2026-11-04T17:00:00Z",
        status="open",
    ),
    Case(
        "the manager has given notice but not yet left: no alert",
        "none",
        (_START, _NOTICE),
        _dir(["p-1", "p-2"], "p-3"),
        until="2026-11-04T16:59:00Z",
    ),
    Case(
        "a new manager assigned after the old one left: resolved",
        "alert",
        (_START, _NOTICE, admin_assigned("2026-11-05T09:00:00Z", "as-1", "p-1", "manager")),
        _dir(["p-1", "p-2"], "p-3"),
        until="2026-11-06T00:00:00Z",
        status="resolved",
    ),
    Case(
        "the manager's leaving is cancelled before the date: no alert",
        "none",
        (_START, _NOTICE, ev("hr.leaver_cancelled", "2026-11-04T09:00:00Z", "hr-2", person_id="p-3")),
        _dir(["p-1", "p-2"], "p-3"),
        until="2026-11-06T00:00:00Z",
    ),
    Case(
        "one admin in the register, the credential shared with two more (bangor): alert",
        "alert",
        _SHARES,
        _SPORT,
        until=_LATER,
        profile="bangor",
        status="open",
    ),
    Case(
        "one admin in the register who gives another a platform seat: alert",
        "alert",
        (_START, platform_admin_added("2026-11-02T09:12:00Z", "pa-1", "p-2", actor_id="p-1")),
        _dir(["p-1"], None),
        until=_LATER,
        status="open",
    ),
    Case(
        "the shared credential rotated by its admin: nobody else holds it, resolved",
        "alert",
        (*_SHARES, rotated("2026-11-02T12:00:00Z", "v-3", actor_id="p-1")),
        _SPORT,
        until=_LATER,
        profile="bangor",
        status="resolved",
    ),
    Case(
        "one admin who shares with nobody on a shared credential (bangor): no alert",
        "none",
        (_START, rotated("2026-11-02T09:10:00Z", "v-1", actor_id="p-1")),
        _SPORT,
        until=_LATER,
        profile="bangor",
    ),
    Case(
        "the manager is not in the directory's people: alert",
        "alert",
        (_START,),
        _unlisted(["p-1", "p-2"], "p-3"),
        until=_LATER,
        status="open",
    ),
    Case(
        "the manager, not in the directory's people, is then listed there: resolved",
        "alert",
        (_START, _LISTED),
        _unlisted(["p-1", "p-2"], "p-3"),
        until="2026-11-05T00:00:00Z",
        status="resolved",
    ),
]


def _check(ctx: Context) -> Finding | None:
    acc = ctx.account
    # who has access (`AccountFacts.has_access`): roles in the register, platform seats, holders of the credential
    people = acc.with_access()
    if len(people) < 2 or current_holders(ctx, "manager", ctx.now):
        return None
    aid = acc.account_id
    gone = gone_holders(ctx, "manager", ctx.now)
    why = f"its account manager is not current staff ({'; '.join(gone)})" if gone else "no account manager"
    return Finding(
        summary=f"{aid} has {len(people)} people with access ({', '.join(sorted(people))}) and {why}",
        next_step=f"Agree one overall account manager for {aid} who is current staff and record them in the register "
        "(directory.admin_assigned, role manager)",
    )


@rule(
    "DIR-03",
    title="One account manager who is current staff where several people have access",
    severity="high",
    sources=['001 "Corporate Social Media Account Management"', '001 "Account security"'],
    on=(*REGISTER_EVENTS, *STAFF_EVENTS, *ACCESS_EVENTS),
    window="registration_grace",
    initial=dict,
    cases=CASES,
)
def dir_03_account_manager(event: Any, state: Any, ctx: Context) -> tuple[Any, Sequence[Action]]:
    """Alert when two or more people have access to an account and none is a current manager, after the grace."""
    return register_check(event, state, ctx, "manager", _check, staff=True)
