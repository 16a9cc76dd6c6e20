"""MFA-03: the account manager, nobody else, approves each new device and re-approves it periodically."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from monitor.durations import format_duration
from monitor.rules._fixtures import account, directory, leaver, login, role_changed, staff
from monitor.rules._hijack import stamp
from monitor.rules._register import is_current, not_current_reason
from monitor.rules.base import Action, Case, Context, Raise, Resolve, ev, rule

_ACCOUNT = account(
    platform="youtube", handle="UniTV", registration_email="tv@uni.example.ac.uk", emergency_access="backup_admin"
)
_DIR = directory(_ACCOUNT, people=staff("p-1", "p-2"))


def _approve(time: str, id_: str, person: str = "p-1", device: str = "d-1", actor: str = "p-2") -> dict[str, Any]:
    """An approval of `person`'s `device`, by default by the manager p-2."""
    return ev("device.approved", time, id_, account_id="acc-1", actor_id=actor, person_id=person, device_id=device)


_APPROVED = _approve("2026-01-01T09:00:00Z", "a-1")
# HR: p-2, the manager, moves to another role on 5 January.
_MOVE = role_changed("2026-01-02T09:00:00Z", "hr-1", "p-2", "2026-01-05T09:00:00Z")

CASES = [
    Case(
        "sign-in from a device never approved: alert",
        "alert",
        (login("2026-02-01T08:00:00Z", "l-1"),),
        _DIR,
        severity="medium",
        status="open",
    ),
    Case("sign-in from an approved device: no alert", "none", (_APPROVED, login("2026-02-01T08:00:00Z", "l-1")), _DIR),
    Case(
        "device approved for someone else: alert",
        "alert",
        (_approve("2026-01-01T09:00:00Z", "a-1", person="p-2"), login("2026-02-01T08:00:00Z", "l-1")),
        _DIR,
    ),
    Case("approval exactly 180 days old: still valid", "none", (_APPROVED, login("2026-06-30T09:00:00Z", "l-1")), _DIR),
    Case(
        "approval 180 days and a minute old: lapsed, alert",
        "alert",
        (_APPROVED, login("2026-06-30T09:01:00Z", "l-1")),
        _DIR,
        severity="medium",
    ),
    Case(
        "unapproved sign-in, then the device approved: resolves",
        "alert",
        (login("2026-02-01T08:00:00Z", "l-1"), _approve("2026-02-01T09:00:00Z", "a-1")),
        _DIR,
        status="resolved",
    ),
    Case(
        "device approved by an admin who is not the manager: does not count, alert",
        "alert",
        (_approve("2026-01-01T09:00:00Z", "a-1", actor="p-1"), login("2026-02-01T08:00:00Z", "l-1")),
        _DIR,
        severity="medium",
        status="open",
    ),
    Case(
        "unapproved sign-in, then the device approved by somebody other than the manager: stays open",
        "alert",
        (login("2026-02-01T08:00:00Z", "l-1"), _approve("2026-02-01T09:00:00Z", "a-1", actor="p-x")),
        _DIR,
        status="open",
    ),
    Case(
        "manager's approval lapsed, re-approved by a non-manager: lapsed still, alert",
        "alert",
        (
            _APPROVED,
            _approve("2026-06-01T09:00:00Z", "a-2", actor="p-1"),
            login("2026-07-01T09:00:00Z", "l-1"),
        ),
        _DIR,
    ),
    Case(
        "approved by the manager after HR says they left: does not count, alert",
        "alert",
        (
            leaver("2026-01-02T09:00:00Z", "hr-1", "p-2", "2026-01-05T17:00:00Z"),
            _approve("2026-01-10T09:00:00Z", "a-1"),
            login("2026-02-01T08:00:00Z", "l-1"),
        ),
        _DIR,
    ),
    Case(
        "approved by the manager after their move took effect, not confirmed in the role: does not count, alert",
        "alert",
        (_MOVE, _approve("2026-01-10T09:00:00Z", "a-1"), login("2026-02-01T08:00:00Z", "l-1")),
        _DIR,
        status="open",
    ),
    Case(
        "approved by the manager after their move, their access confirmed for the account: no alert",
        "none",
        (
            _MOVE,
            ev("directory.access_confirmed", "2026-01-06T09:00:00Z", "c-1", account_id="acc-1", person_id="p-2"),
            _approve("2026-01-10T09:00:00Z", "a-1"),
            login("2026-02-01T08:00:00Z", "l-1"),
        ),
        _DIR,
    ),
    Case(
        "approved by the manager before their move takes effect: no alert",
        "none",
        (_MOVE, _approve("2026-01-04T09:00:00Z", "a-1"), login("2026-02-01T08:00:00Z", "l-1")),
        _DIR,
    ),
    Case(
        "approved by a manager the directory's people do not list: does not count, alert",
        "alert",
        (_APPROVED, login("2026-02-01T08:00:00Z", "l-1")),
        directory(_ACCOUNT, people=staff("p-1")),
        status="open",
    ),
    Case(
        "approved by a non-manager, then by the manager: no alert",
        "none",
        (
            _approve("2026-01-01T09:00:00Z", "a-1", actor="p-1"),
            _approve("2026-01-02T09:00:00Z", "a-2"),
            login("2026-02-01T08:00:00Z", "l-1"),
        ),
        _DIR,
    ),
    Case(
        "the manager approves their own device: no alert",
        "none",
        (
            _approve("2026-01-01T09:00:00Z", "a-1", person="p-2"),
            login("2026-02-01T08:00:00Z", "l-1", person_id="p-2"),
        ),
        _DIR,
    ),
    Case(
        "signs in again from the device still unapproved: the alert stays open, not raised again",
        "alert",
        (login("2026-02-01T08:00:00Z", "l-1"), login("2026-03-01T08:00:00Z", "l-2")),
        _DIR,
        severity="medium",
        status="open",
    ),
    Case(
        "signs in again after the manager approved the device: resolved, no new alert",
        "alert",
        (
            login("2026-02-01T08:00:00Z", "l-1"),
            _approve("2026-02-01T09:00:00Z", "a-1"),
            login("2026-03-01T08:00:00Z", "l-2"),
        ),
        _DIR,
        status="resolved",
    ),
    Case(
        "sign-in where the platform cannot tell who: no alert",
        "none",
        (login("2026-02-01T08:00:00Z", "l-1", person_id=None),),
        _DIR,
    ),
]


class _Wrong(NamedTuple):
    """An approval that does not count: by whom, when, its event, and why not."""

    actor: str
    at: datetime
    event: str
    why: str


class State(NamedTuple):
    """Per (person, device): the manager's latest approval; the latest approval by anybody else since then; the
    sign-in (time, event) that raised the alert, while no valid approval has come after it."""

    approved: dict[tuple[str, str], datetime]
    wrong: dict[tuple[str, str], _Wrong]
    alerted: dict[tuple[str, str], tuple[datetime, str]]


_EMPTY = State({}, {}, {})


def _why_not(actor: str, ctx: Context) -> str | None:
    """Why `actor` may not approve a device now, or None: only the account's manager in the register who is current
    staff (as the register checks judge it: a mover only once their access to the account is confirmed) may."""
    if "manager" not in ctx.account.roles.get(actor, frozenset()):
        return "not the account manager"
    person = ctx.person(actor)
    if not is_current(person, ctx.account, ctx.now):
        return f"the account manager is not current staff ({not_current_reason(person, ctx.now)})"
    return None


def _without(d: dict[tuple[str, str], Any], pair: tuple[str, str]) -> dict[tuple[str, str], Any]:
    return {k: v for k, v in d.items() if k != pair} if pair in d else d


@rule(
    "MFA-03",
    title="New devices approved, and re-approved periodically",
    severity="medium",
    sources=['001 "Account security"'],
    on=("login.succeeded", "device.approved"),
    window="device_reapproval",
    cases=CASES,
)
def mfa_03_device_approved(event: Any, state: State | None, ctx: Context) -> tuple[Any, Sequence[Action]]:
    """Alert on a sign-in from a device not approved for that person, or approved too long ago, so the manager vets it.

    Only the account manager's approval counts (001 "Account security": the overall account manager authorises
    first device connections and periodic approvals), and only while they are current staff as the register checks
    judge it (DIR-03: not left, not a mover unless confirmed on the account); one by anybody else, an admin included,
    is remembered with why it does not count so the alert names it, and joins an open alert's evidence. Key: the
    device, with the person as the alert's person; the manager's approval of that pair resolves it. An approval
    exactly `device_reapproval` old is still valid. A sign-in from a pair already alerted and not yet approved does
    not raise again while the alert is open (most sign-ins, where devices go unapproved, cost one lookup); once a
    person has resolved it without the manager's approval, the next one reopens it.
    """
    d = event.data
    pid = d.person_id
    if pid is None:
        return state, ()
    pair = (pid, d.device_id)
    st = state or _EMPTY
    if event.type == "device.approved":
        why = _why_not(d.actor_id, ctx)
        if why is None:
            new = State({**st.approved, pair: event.time}, _without(st.wrong, pair), _without(st.alerted, pair))
            return new, (Resolve(key=d.device_id, person_id=pid, evidence=(event.id,)),)
        st = State(st.approved, {**st.wrong, pair: _Wrong(d.actor_id, event.time, event.id, why)}, st.alerted)
        return st, (_raise(pid, d.device_id, st, ctx),) if pair in st.alerted else ()
    approved_at = st.approved.get(pair)
    if approved_at is not None and event.time - approved_at <= ctx.params.device_reapproval:
        return state, ()
    if pair in st.alerted and not ctx.resolved_by_person("MFA-03", pid, d.device_id):
        return state, ()  # raised for this device already, and open: the sign-in adds nothing
    st = State(st.approved, st.wrong, {**st.alerted, pair: (event.time, event.id)})
    return st, (_raise(pid, d.device_id, st, ctx),)


def _raise(pid: str, device: str, st: State, ctx: Context) -> Raise:
    """The alert for pid's sign-in from device: never, or too long ago, approved by the manager; who else did."""
    pair = (pid, device)
    a = ctx.account.account_id
    signed_in, cause = st.alerted[pair]
    approved_at = st.approved.get(pair)
    if approved_at is None:
        why = "a device that was never approved for them by the account manager"
    else:
        limit = format_duration(ctx.params.device_reapproval)
        why = f"a device the account manager last approved at {stamp(approved_at)}, more than {limit} ago"
    evidence: tuple[str, ...] = (cause,)
    wrong = st.wrong.get(pair)
    if wrong is not None:
        why += f"; its approval by {wrong.actor} at {stamp(wrong.at)} does not count: {wrong.why}"
        evidence = (cause, wrong.event)
    return Raise(
        key=device,
        person_id=pid,
        evidence=evidence,
        summary=f"{pid} signed in to {a} at {stamp(signed_in)} from device {device}, {why}",
        next_step=f"Ask the account manager of {a} to check device {device} with {pid} and approve it "
        "(device.approved) or, if it is not theirs, end its session and rotate the credential",
    )
