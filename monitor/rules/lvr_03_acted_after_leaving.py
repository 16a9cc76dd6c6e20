"""LVR-03: nobody signs in, posts or changes a corporate account after they have left."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from monitor.facts import PersonFacts
from monitor.rules._fixtures import account, directory, leaver, login, platform_admin_removed, post, staff
from monitor.rules._hijack import ACTING_TYPES, acted_after_leaving, action_text, left_text, stamp
from monitor.rules.base import Action, Case, Context, Raise, ev, rule

_DIR = directory(account(), people=staff("p-1", "p-2"))
_LEAVER = leaver("2026-11-02T09:00:00Z", "hr-1", "p-1", "2026-11-06T17:00:00Z")
_LATE = leaver("2026-11-08T09:00:00Z", "hr-2", "p-1", "2026-11-06T17:00:00Z")  # reported two days after the leaving
# HR corrects the leaving time to a day earlier: a new report (event id) for the same person
_CORRECTED = leaver("2026-11-09T09:00:00Z", "hr-3", "p-1", "2026-11-05T17:00:00Z")


CASES = [
    Case(
        "leaver signs in after leaving: critical alert",
        "alert",
        (_LEAVER, login("2026-11-07T08:00:00Z", "l-1")),
        _DIR,
        severity="critical",
        status="open",
    ),
    Case("signs in before the leaving time: no alert", "none", (_LEAVER, login("2026-11-06T16:59:00Z", "l-1")), _DIR),
    Case(
        "HR reports the leaving only after the leaver signed in: critical alert at the report",
        "alert",
        (login("2026-11-07T08:00:00Z", "l-1"), _LATE),
        _DIR,
        severity="critical",
        status="open",
    ),
    Case(
        "HR reports the leaving late, but the last sign-in was before the leaving time: no alert",
        "none",
        (login("2026-11-06T16:00:00Z", "l-1"), _LATE),
        _DIR,
    ),
    Case(
        "HR reports late, and only somebody else acted after the leaving time: no alert",
        "none",
        (login("2026-11-06T16:00:00Z", "l-1"), login("2026-11-07T08:00:00Z", "l-2", person_id="p-2"), _LATE),
        _DIR,
    ),
    Case("signs in at exactly the leaving time: alert", "alert", (_LEAVER, login("2026-11-06T17:00:00Z", "l-1")), _DIR),
    Case(
        "leaver disables MFA after leaving: alert",
        "alert",
        (_LEAVER, ev("mfa.disabled", "2026-11-08T10:00:00Z", "m-1", account_id="acc-1", actor_id="p-1")),
        _DIR,
    ),
    Case(
        "leaver approves an MFA prompt after leaving: alert",
        "alert",
        (
            _LEAVER,
            ev("mfa.challenge", "2026-11-08T10:00:00Z", "c-1", account_id="acc-1", person_id="p-1", result="approved"),
        ),
        _DIR,
    ),
    Case(
        "a denied prompt is not the leaver acting: no alert",
        "none",
        (
            _LEAVER,
            ev("mfa.challenge", "2026-11-08T10:00:00Z", "c-1", account_id="acc-1", person_id="p-1", result="denied"),
        ),
        _DIR,
    ),
    Case(
        "leaver posts after leaving: alert",
        "alert",
        (_LEAVER, post("2026-11-08T10:00:00Z", "po-1", person_id="p-1")),
        _DIR,
    ),
    Case(
        "leaving cancelled before the login: no alert",
        "none",
        (
            _LEAVER,
            ev("hr.leaver_cancelled", "2026-11-05T10:00:00Z", "hr-2", person_id="p-1"),
            login("2026-11-07T08:00:00Z", "l-1"),
        ),
        _DIR,
    ),
    Case(
        "a colleague who stays signs in: no alert",
        "none",
        (_LEAVER, login("2026-11-07T08:00:00Z", "l-1", person_id="p-2")),
        _DIR,
    ),
    Case(
        "a corrected report with an earlier leaving date: the same alert, not a second",
        "alert",
        (_LEAVER, login("2026-11-07T08:00:00Z", "l-1"), _CORRECTED),
        _DIR,
        severity="critical",
        status="open",
    ),
    Case(
        "HR reports late, then corrects the leaving date: the same alert, not a second",
        "alert",
        (login("2026-11-07T08:00:00Z", "l-1"), _LATE, _CORRECTED),
        _DIR,
        severity="critical",
        status="open",
    ),
    Case(
        "a corrected report, then the leaver signs in again: joins the same alert",
        "alert",
        (_LEAVER, login("2026-11-07T08:00:00Z", "l-1"), _CORRECTED, login("2026-11-10T08:00:00Z", "l-2")),
        _DIR,
        status="open",
    ),
    Case(
        "an admin removes the leaver's seat: no alert",
        "none",
        (
            _LEAVER,
            platform_admin_removed("2026-11-07T08:00:00Z", "pa-1", "p-1", actor_id="p-2"),
        ),
        _DIR,
    ),
]


@rule(
    "LVR-03",
    title="Nobody acts on an account after leaving",
    severity="critical",
    sources=['001 "Account security"', "004 Section 3"],
    on=(*ACTING_TYPES, "hr.leaver", "hr.leaver_cancelled"),
    only_after_leaving=ACTING_TYPES,
    cases=CASES,
)
def lvr_03_acted_after_leaving(event: Any, state: State | None, ctx: Context) -> tuple[Any, Sequence[Action]]:
    """Alert, with an emergency lockout, when a leaver signs in, posts or changes the account after leaving; also
    when HR reports the leaving only after they acted (the account's latest act by them, `acted_at`).

    One alert per leaver and episode on an account: while the alert is open (or acknowledged), a corrected report
    (a second hr.leaver, a new event id) or a later act joins it rather than raising a second for the same act. A
    correction about the act already alerted never reopens a resolved alert (nothing new happened; its lockout was
    done); a later act does, or raises a new alert under the current report. A cancelled leaving forgets the person.
    State: person -> (the alert's key: the report it was raised on, the act it was last raised for).
    """
    if event.type == "hr.leaver_cancelled":
        pid = event.data.person_id
        return ({k: v for k, v in state.items() if k != pid} or None, ()) if state and pid in state else (state, ())
    if event.type == "hr.leaver":
        late = _reported_late(event, ctx)
        if late is None:
            return state, ()
        leaver, act_id, what = late
    else:
        found = acted_after_leaving(event, ctx)
        if found is None:
            return state, ()
        leaver, act_id = found, event.id
        what = f"{action_text(event)} on {ctx.account.account_id} at {stamp(event.time)}"
    pid = leaver.person_id
    cause = leaver.leaver_event or "hr.leaver"
    held = state.get(pid) if state is not None else None
    key = cause
    if held is not None:
        resolved = ctx.resolved_by_person("LVR-03", pid, held.key)
        if resolved and act_id == held.act:
            return state, ()  # a correction about the act already alerted and dealt with
        if not resolved:
            key = held.key
    if held != (key, act_id):
        state = {**(state or {}), pid: _Alerted(key, act_id)}
    return state, (_raise(leaver, key, cause, act_id, what, ctx),)


class _Alerted(NamedTuple):
    """A leaver's alert on the account: its key (the HR report it was raised on), and the act it was last raised for."""

    key: str
    act: str


State = dict[str, _Alerted]


def _reported_late(event: Any, ctx: Context) -> tuple[PersonFacts, str, str] | None:
    """HR's report came after the person's latest act on this account, and their leaving time before it: the
    leaver, that act's event and what they did, in words."""
    d = event.data
    acc = ctx.account
    at = acc.acted_at.get(d.person_id) if acc.acted_at is not None else None
    act_id = acc.acted_in.get(d.person_id) if acc.acted_in is not None else None
    person = ctx.person(d.person_id)
    if at is None or act_id is None or at < d.leaving_at or person is None:
        return None
    what = f"acted on {ctx.account.account_id} at {stamp(at)} (event {act_id}), before HR reported the leaving"
    return person, act_id, what


def _raise(leaver: PersonFacts, key: str, cause: str, act_id: str, what: str, ctx: Context) -> Raise:
    """The alert under `key` (the report it was first raised on), with `cause` (the current report) as evidence."""
    pid = leaver.person_id
    a = ctx.account.account_id
    return Raise(
        key=key,
        person_id=pid,
        evidence=(cause, act_id),
        summary=f"{left_text(leaver)}, {what}",
        next_step=f"Treat {a} as hijacked: remove {pid}'s platform seat, check every change made since their leaving "
        "time and tell IT security",
        lockout=True,
    )
