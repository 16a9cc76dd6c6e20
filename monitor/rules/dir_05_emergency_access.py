"""DIR-05: the central comms team can get in during an emergency, by a backup admin seat or an escrow record."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from monitor.rules._fixtures import (
    DOMAIN,
    account,
    account_updated,
    admin_assigned,
    directory,
    leaver,
    person,
    platform_admin_added,
    platform_admin_removed,
    post,
    staff,
)
from monitor.rules._register import REGISTER_EVENTS, STAFF_EVENTS, Finding, is_current, register_check
from monitor.rules.base import Action, Case, Context, ev, rule

COMMS_GROUP = "comms-team"

_PEOPLE = [*staff("p-1", "p-2"), person("p-5", groups=[COMMS_GROUP])]


def _dir(emergency: str, admins: tuple[str, ...] = ("p-1", "p-2")) -> dict[str, Any]:
    return directory(account(emergency_access=emergency, admins=admins, manager="p-1"), people=_PEOPLE)


_START = post("2026-11-02T09:00:00Z", "post-0")


def _groups(time: str, id_: str, pid: str, *groups: str) -> dict[str, Any]:
    """A directory.person update giving `pid` these groups."""
    return ev("directory.person", time, id_, person_id=pid, email=f"{pid}.new@{DOMAIN}", groups=list(groups))


_LATER = "2026-11-03T00:00:00Z"
_SEAT_REMOVED = platform_admin_removed("2026-11-02T12:00:00Z", "pr-1", "p-5", actor_id="p-2")

CASES = [
    Case(
        "no emergency access recorded: alert",
        "alert",
        (_START,),
        _dir("none"),
        until=_LATER,
        severity="medium",
        status="open",
    ),
    Case("an escrow record: no alert", "none", (_START,), _dir("escrow"), until=_LATER),
    Case(
        "backup admin held by a comms-team member: no alert",
        "none",
        (_START,),
        _dir("backup_admin", ("p-1", "p-2", "p-5")),
        until=_LATER,
    ),
    Case(
        "backup admin claimed but nobody in the comms team holds a seat: alert",
        "alert",
        (_START,),
        _dir("backup_admin"),
        until=_LATER,
    ),
    Case(
        "backup admin as a platform seat of a comms-team member: no alert",
        "none",
        (
            _START,
            platform_admin_added("2026-11-02T09:20:00Z", "pa-1", "p-5", actor_id="p-1"),
        ),
        _dir("backup_admin"),
        until=_LATER,
    ),
    Case(
        "the platform removes the comms-team backup admin's seat: alert",
        "alert",
        (_START, _SEAT_REMOVED),
        _dir("backup_admin", ("p-1", "p-2", "p-5")),
        until=_LATER,
        status="open",
    ),
    Case(
        "the backup admin's seat removed, then added again on the platform: the alert resolves itself",
        "alert",
        (_START, _SEAT_REMOVED, platform_admin_added("2026-11-02T14:00:00Z", "pa-1", "p-5", actor_id="p-2")),
        _dir("backup_admin", ("p-1", "p-2", "p-5")),
        until=_LATER,
        status="resolved",
    ),
    Case(
        "the backup admin's seat removed, then assigned again in the register: the alert resolves itself",
        "alert",
        (_START, _SEAT_REMOVED, admin_assigned("2026-11-02T14:00:00Z", "as-1", "p-5")),
        _dir("backup_admin", ("p-1", "p-2", "p-5")),
        until=_LATER,
        status="resolved",
    ),
    Case(
        "the platform removes the seat of an admin outside the comms team: no alert",
        "none",
        (_START, platform_admin_removed("2026-11-02T12:00:00Z", "pr-1", "p-1", actor_id="p-2")),
        _dir("backup_admin", ("p-1", "p-2", "p-5")),
        until=_LATER,
    ),
    Case(
        "none, still inside the registration grace: no alert",
        "none",
        (_START,),
        _dir("none"),
        until="2026-11-02T09:59:00Z",
    ),
    Case(
        "escrow recorded by an update: resolved",
        "alert",
        (
            _START,
            account_updated("2026-11-02T12:00:00Z", "up-1", emergency_access="escrow"),
        ),
        _dir("none"),
        until=_LATER,
        status="resolved",
    ),
    Case(
        "the comms-team backup admin leaves: alert",
        "alert",
        (_START, leaver("2026-11-03T09:00:00Z", "hr-1", "p-5", "2026-11-04T09:00:00Z")),
        _dir("backup_admin", ("p-1", "p-2", "p-5")),
        until="2026-11-04T09:00:00Z",
    ),
    Case(
        "the comms-team backup admin is dropped from the group in the directory: alert",
        "alert",
        (_START, _groups("2026-11-03T09:00:00Z", "dp-1", "p-5")),
        _dir("backup_admin", ("p-1", "p-2", "p-5")),
        until="2026-11-03T09:00:00Z",
        status="open",
    ),
    Case(
        "an admin joins the comms-team group in the directory: the alert resolves itself",
        "alert",
        (_START, _groups("2026-11-03T09:00:00Z", "dp-1", "p-2", COMMS_GROUP)),
        _dir("backup_admin"),
        until="2026-11-03T09:00:00Z",
        status="resolved",
    ),
    Case(
        "the comms-team backup admin's directory entry changes but keeps the group: no alert",
        "none",
        (_START, _groups("2026-11-03T09:00:00Z", "dp-1", "p-5", COMMS_GROUP)),
        _dir("backup_admin", ("p-1", "p-2", "p-5")),
        until="2026-11-04T09:00:00Z",
    ),
]


def _check(ctx: Context) -> Finding | None:
    acc = ctx.account
    aid = acc.account_id
    if acc.emergency_access == "escrow":
        return None
    if acc.emergency_access == "backup_admin":
        removed = acc.seats_removed or {}  # by the platform, until given back (`AccountFacts.has_seat`)
        seats = {p for p, r in acc.roles.items() if r & {"admin", "manager"} and p not in removed} | acc.platform_admins
        for pid in seats:
            person = ctx.person(pid)
            if person is not None and COMMS_GROUP in person.groups and is_current(person, acc, ctx.now):
                return None
        taken = [
            f"{pid} at {at:%Y-%m-%d %H:%M}Z"
            for pid, (at, _) in sorted(removed.items())
            if (who := ctx.person(pid)) is not None and COMMS_GROUP in who.groups
        ]
        why = f" (the platform removed the seat of {', '.join(taken)})" if taken else ""
        return Finding(
            summary=f"{aid} records a backup admin seat for emergencies, but no current member of {COMMS_GROUP} "
            f"holds an admin seat on it{why}",
            next_step=f"Give a {COMMS_GROUP} member an admin seat on {aid} and record it (directory.admin_assigned), "
            "or record an escrow of the credential (directory.account_updated, emergency_access: escrow)",
        )
    return Finding(
        summary=f"{aid} has no emergency access for the comms team "
        f"(emergency_access: {acc.emergency_access or 'none'})",
        next_step=f"Give the {COMMS_GROUP} a backup admin seat on {aid} or record an escrow of its credential, "
        "then record it (directory.account_updated, emergency_access)",
    )


@rule(
    "DIR-05",
    title="Emergency access for the comms team: backup admin seat or escrow record",
    severity="medium",
    sources=['001 "Account security"', "003 §5.2"],
    on=(*REGISTER_EVENTS, *STAFF_EVENTS, "platform.admin_added", "platform.admin_removed"),
    window="registration_grace",
    initial=dict,
    cases=CASES,
)
def dir_05_emergency_access(event: Any, state: Any, ctx: Context) -> tuple[Any, Sequence[Action]]:
    """Alert when an account has neither an escrow record nor a comms-team backup admin, after the grace."""
    return register_check(event, state, ctx, "emergency", _check, staff=True)
