"""LVR-04: a notified future leaver who is needed as an admin or the manager is replaced before they go."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from monitor.rules._fixtures import account, admin_assigned, directory, leaver, person
from monitor.rules._register import current_holders
from monitor.rules.base import Action, Case, Context, Raise, Resolve, Wake, ev, rule

ROLES = frozenset({"admin", "manager"})
ON = (
    "hr.leaver", "hr.leaver_cancelled", "hr.role_changed", "directory.admin_assigned",
    "directory.admin_unassigned", "directory.access_confirmed", "directory.account_retired", "directory.person", "tick",
)  # fmt: skip
Entry = tuple[str, tuple[str, ...], bool, str]  # (leaver event id, roles to replace, alert open, latest evidence)

_PEOPLE = [person(p, email=f"{p}@uni.example.ac.uk") for p in ("p-1", "p-2", "p-3", "p-4")]


def _dir(admins: list[str], manager: str | None = "p-4", editors: list[str] | None = None) -> dict[str, Any]:
    return directory(account(admins=admins, manager=manager, editors=editors or []), people=_PEOPLE)


# p-1 gives notice on 1 Nov, leaving 1 Dec: the 14-day window opens 17 Nov 17:00.
_NOTICE = leaver("2026-11-01T09:00:00Z", "hr-1", "p-1", "2026-12-01T17:00:00Z")
_OPEN = "2026-11-17T17:00:00Z"


CASES = [
    Case(
        "one of two admins leaving, no replacement when the window opens: alert",
        "alert",
        (_NOTICE,),
        _dir(["p-1", "p-2"]),
        until=_OPEN,
        severity="medium",
        status="open",
    ),
    Case(
        "before the warning window opens: no alert yet",
        "none",
        (_NOTICE,),
        _dir(["p-1", "p-2"]),
        until="2026-11-17T16:59:00Z",
    ),
    Case(
        "a replacement admin assigned before the window: no alert",
        "none",
        (_NOTICE, admin_assigned("2026-11-10T09:00:00Z", "as-1", "p-3")),
        _dir(["p-1", "p-2"]),
        until="2026-12-01T00:00:00Z",
    ),
    Case(
        "a replacement assigned inside the window: resolved",
        "alert",
        (_NOTICE, admin_assigned("2026-11-20T09:00:00Z", "as-1", "p-3")),
        _dir(["p-1", "p-2"]),
        until="2026-11-21T00:00:00Z",
        status="resolved",
    ),
    Case(
        "a replacement the directory's people do not list yet, then listed there: resolved",
        "alert",
        (
            _NOTICE,
            admin_assigned("2026-11-20T09:00:00Z", "as-1", "p-5"),
            ev(
                "directory.person",
                "2026-11-20T12:00:00Z",
                "dp-5",
                person_id="p-5",
                email="p-5@uni.example.ac.uk",
                groups=[],
            ),
        ),
        _dir(["p-1", "p-2"]),
        until="2026-11-21T00:00:00Z",
        status="resolved",
    ),
    Case(
        "three admins, one leaving: no alert",
        "none",
        (_NOTICE,),
        _dir(["p-1", "p-2", "p-3"]),
        until="2026-11-30T00:00:00Z",
    ),
    Case(
        "three admins, but another leaves first: alert",
        "alert",
        (_NOTICE, leaver("2026-11-02T09:00:00Z", "hr-2", "p-3", "2026-11-25T17:00:00Z")),
        _dir(["p-1", "p-2", "p-3"]),
        until=_OPEN,
    ),
    Case(
        "notice given already inside the window: alert at once",
        "alert",
        (leaver("2026-11-25T09:00:00Z", "hr-1", "p-1", "2026-12-01T17:00:00Z"),),
        _dir(["p-1", "p-2"]),
        until="2026-11-25T09:00:00Z",
    ),
    Case(
        "leaving cancelled inside the window: resolved",
        "alert",
        (_NOTICE, ev("hr.leaver_cancelled", "2026-11-20T09:00:00Z", "hr-3", person_id="p-1")),
        _dir(["p-1", "p-2"]),
        until="2026-11-21T00:00:00Z",
        status="resolved",
    ),
    Case(
        "leaving cancelled before the window: no alert",
        "none",
        (_NOTICE, ev("hr.leaver_cancelled", "2026-11-10T09:00:00Z", "hr-3", person_id="p-1")),
        _dir(["p-1", "p-2"]),
        until="2026-12-02T00:00:00Z",
    ),
    Case(
        "the only manager leaving: alert",
        "alert",
        (leaver("2026-11-01T09:00:00Z", "hr-4", "p-4", "2026-12-01T17:00:00Z"),),
        _dir(["p-1", "p-2"]),
        until=_OPEN,
    ),
    Case(
        "an editor leaving needs no replacement",
        "none",
        (leaver("2026-11-01T09:00:00Z", "hr-5", "p-3", "2026-12-01T17:00:00Z"),),
        _dir(["p-1", "p-2"], editors=["p-3"]),
        until="2026-12-02T00:00:00Z",
    ),
    Case(
        "the leaver unassigned without a replacement stays open",
        "alert",
        (
            _NOTICE,
            ev("directory.admin_unassigned", "2026-11-20T09:00:00Z", "un-1", account_id="acc-1", person_id="p-1"),
        ),
        _dir(["p-1", "p-2"]),
        until="2026-11-21T00:00:00Z",
        status="open",
    ),
    Case(
        "the leaver unassigned and replaced: resolved",
        "alert",
        (
            _NOTICE,
            ev("directory.admin_unassigned", "2026-11-20T09:00:00Z", "un-1", account_id="acc-1", person_id="p-1"),
            admin_assigned("2026-11-20T10:00:00Z", "as-1", "p-3"),
        ),
        _dir(["p-1", "p-2"]),
        until="2026-11-21T00:00:00Z",
        status="resolved",
    ),
    Case(
        "fine when the window opens, short after another admin is unassigned: alert",
        "alert",
        (
            _NOTICE,
            ev("directory.admin_unassigned", "2026-11-20T09:00:00Z", "un-1", account_id="acc-1", person_id="p-3"),
        ),
        _dir(["p-1", "p-2", "p-3"]),
        until="2026-11-21T00:00:00Z",
        status="open",
    ),
    Case(
        "leaving date already past: not a notice, no alert",
        "none",
        (leaver("2026-11-02T09:00:00Z", "hr-1", "p-1", "2026-11-01T17:00:00Z"),),
        _dir(["p-1", "p-2"]),
        until="2026-11-03T00:00:00Z",
    ),
]


def _missing(ctx: Context, pid: str, held: tuple[str, ...], at: datetime) -> list[str]:
    """What the account would lack once `pid` has gone, judged at time `at`."""
    out = []
    need = ctx.params.min_admins
    if "admin" in held:
        admins = current_holders(ctx, "admin", at, exclude=pid)
        if len(admins) < need:
            names = f" ({', '.join(admins)})" if admins else ""
            out.append(f"{len(admins)} current admin(s){names}, fewer than {need}")
    if "manager" in held and not current_holders(ctx, "manager", at, exclude=pid):
        out.append("no other current account manager")
    return out


def _judge(ctx: Context, pid: str, entry: Entry) -> tuple[Entry | None, list[Action]]:
    """Raise, resolve or keep one watched leaver whose warning window has opened."""
    cause, held, is_open, last = entry
    person = ctx.person(pid)
    leaving_at = person.leaving_at if person else None
    now = ctx.now
    evidence = tuple(e for e in (cause, last) if e)
    if leaving_at is None:
        return None, [Resolve(cause, person_id=pid, evidence=evidence)] if is_open else []
    held = tuple(sorted(set(held) | (ctx.account.roles.get(pid, set()) & ROLES)))
    missing = _missing(ctx, pid, held, max(now, leaving_at))
    if not missing:
        kept = (cause, held, False, last) if now < leaving_at else None
        return kept, [Resolve(cause, person_id=pid, evidence=evidence)] if is_open else []
    if is_open:
        return (cause, held, True, last), []
    if now >= leaving_at or not ctx.account.roles.get(pid, set()) & ROLES:
        return None, []
    aid = ctx.account.account_id
    roles = " and ".join(held)
    return (cause, held, True, last), [
        Raise(
            key=cause,
            person_id=pid,
            evidence=evidence,
            summary=f"{pid}, {roles} of {aid}, leaves at {leaving_at:%Y-%m-%d %H:%M}Z and has not been replaced: "
            f"after that {aid} would have {' and '.join(missing)}",
            next_step=f"Before {leaving_at:%Y-%m-%d %H:%M}Z assign a replacement {roles} to {aid} who is current staff "
            "(directory.admin_assigned)",
        )
    ]


def _watch(event: Any, watched: dict[str, Entry], ctx: Context) -> list[Action]:
    """Start, replace or drop the watch on the event's person; resolve an alert whose leaver event is gone."""
    pid = event.data.person_id
    person = ctx.person(pid)
    cause = person.leaver_event if person else None
    entry = watched.get(pid)
    actions: list[Action] = []
    if entry is not None and entry[0] != cause:
        del watched[pid]
        if entry[2]:
            actions.append(Resolve(entry[0], person_id=pid, evidence=(event.id,)))
    held = tuple(sorted(ctx.account.roles.get(pid, set()) & ROLES))
    leaving_at = person.leaving_at if person else None
    if cause and held and pid not in watched and leaving_at is not None and leaving_at > ctx.now:
        watched[pid] = (cause, held, False, "")
    return actions


@rule(
    "LVR-04",
    title="A future leaver who is a needed admin or the manager is replaced before they go",
    severity="medium",
    sources=["000 §6.5", '001 "Account security"'],
    on=ON,
    window="leaver_warning_window before leaving_at",
    initial=dict,
    cases=CASES,
)
def lvr_04_leaver_replaced(event: Any, state: Any, ctx: Context) -> tuple[Any, Sequence[Action]]:
    """Alert when a notified leaver's admin or manager role would leave the account short inside the warning window.

    Judged on a tick: at the window's opening, and just after any event that can change the answer (so every
    event of that instant is in), never in the middle of an instant.
    """
    watched: dict[str, Entry] = dict(state or {})
    acc = ctx.account
    now = ctx.now
    window = ctx.params.leaver_warning_window
    if acc.retired:
        ids = (event.id,) if event.id else ()
        return None, [Resolve(e[0], person_id=pid, evidence=ids) for pid, e in watched.items() if e[2]]
    if event.type == "tick":
        pid = event.key
        entry = watched.get(pid)
        person = ctx.person(pid)
        if entry is None:
            return watched or None, ()
        if person is None or person.leaving_at is None or person.leaver_event != entry[0]:
            del watched[pid]
            return watched or None, [Resolve(entry[0], person_id=pid, evidence=entry[3:])] if entry[2] else []
        if now < person.leaving_at - window:
            return watched, ()
        new, actions = _judge(ctx, pid, entry)
        if new is None:
            del watched[pid]
        else:
            watched[pid] = new
        return watched or None, actions
    actions = _watch(event, watched, ctx)
    for pid, entry in list(watched.items()):
        person = ctx.person(pid)
        leaving_at = person.leaving_at if person else None
        opens = leaving_at - window if leaving_at is not None else now
        if now >= opens:
            watched[pid] = (*entry[:3], event.id)
        actions.append(Wake(max(now, opens), pid))
    return watched or None, actions
