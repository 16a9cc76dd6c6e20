"""Shared logic of LVR-01 (leavers) and LVR-02 (movers): access must go by the deadline."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from monitor.facts import DUTY_REACH, Duty, DutyKind
from monitor.rules.base import Action, Context, Raise, Resolve, Wake

EVIDENCE_TYPES = ("platform.admin_removed", "credential.rotated", "hr.leaver_cancelled", "directory.access_confirmed")
# Events that change one person's duty on the account and name them as `person_id`: a notice, a cancelled leaving
# (a move it had taken the account from gets it back) and access confirmed (a leaving then takes it from the move).
PERSON_DUTY_TYPES = ("hr.leaver", "hr.role_changed", "hr.leaver_cancelled", "directory.access_confirmed")
# Events by which a person gains access to an account: one during an open notice adds that account to the duty.
REACH_TYPES = tuple(DUTY_REACH)


def _missing(duty: Duty) -> str:
    parts = []
    if duty.had_seat and duty.seat_removed_at is None:
        parts.append("their admin seat is still on the platform")
    if duty.knew_credential and duty.rotated_at is None:
        parts.append("the credential they knew has not been rotated since")
    return " and ".join(parts) or "access not yet confirmed removed"


def duty_rule(kind: DutyKind, event: Any, state: dict[str, str] | None, ctx: Context) -> tuple[Any, Sequence[Action]]:
    """Wake at the deadline of each open duty of this kind; alert if undone; resolve when done.

    State: person_id -> the cause (HR event id) of the duty being watched; its wake-up is keyed by that cause.
    """
    if state is None and not ctx.account.duties:  # most events: no notice open on this account, nothing watched
        return None, ()
    etype = event.type
    reach = DUTY_REACH.get(etype)
    if reach is not None:  # access given to somebody with no notice open here: nothing to do
        pid = getattr(event.data, reach)
        if not pid or (pid not in ctx.account.duties and (state is None or pid not in state)):
            return state or None, ()
    watched = dict(state or {})
    actions: list[Action] = []
    p = ctx.params
    if etype == "tick":
        # The wake-up is keyed by the duty's cause (the HR event): a wake-up booked for an earlier notice of the
        # same person, which a later one replaced (a corrected date), finds no duty of its own and does nothing.
        pid = next((q for q, cause in watched.items() if cause == event.key), None)
        duty = ctx.account.duties.get(pid) if pid is not None else None
        if duty is None or duty.kind != kind or duty.cause != event.key or duty.done:
            return watched or None, ()
        deadline = duty.due_from + p.leaver_deadline
        if ctx.now < deadline:
            return watched, ()
        what = (
            "left the organisation"
            if kind == "leaver"
            else f"moved to a role that does not need {ctx.account.account_id}"
        )
        actions.append(
            Raise(
                key=duty.cause,
                person_id=duty.person_id,
                evidence=(duty.cause,),
                summary=f"{duty.person_id} {what} at {duty.due_from:%Y-%m-%d %H:%M}Z and by the deadline "
                f"{deadline:%Y-%m-%d %H:%M}Z {_missing(duty)}",
                next_step="Remove their admin seat on the platform and rotate the credential; "
                "both must be recorded (platform.admin_removed, credential.rotated)"
                + ("" if kind == "leaver" else ", or confirm they keep access (directory.access_confirmed)"),
                escalate_at=deadline + p.leaver_escalation,
            )
        )
        return watched, actions
    if reach is not None or etype in PERSON_DUTY_TYPES:
        # A notice (re)opened the person's duty, or handed it to the other kind (facts._holds), or they gained access
        # while one is open (facts._reached)
        pid = getattr(event.data, reach or "person_id")
        duty = ctx.account.duties.get(pid) if pid else None
        previous = watched.get(pid) if pid else None
        current = duty.cause if duty is not None and duty.kind == kind and not duty.done else None
        if previous == current:  # nothing new to watch, or already watched
            return watched or None, ()
        watched.pop(pid, None)
        if previous is not None:
            actions.append(Resolve(key=previous, person_id=pid, evidence=(event.id,)))
        if duty is not None and current is not None:
            watched[pid] = current
            deadline = duty.due_from + p.leaver_deadline
            # a notice's deadline is its own (a late report alerts as of it); a duty the account passed to this one,
            # or access gained past the deadline, is judged when that happened, not before the event that showed it
            late_ok = etype in ("hr.leaver", "hr.role_changed")
            actions.append(Wake(deadline if late_ok else max(deadline, ctx.now), current))
        return watched or None, actions
    # evidence: seat removed, credential rotated
    for pid, cause in list(watched.items()):
        duty = ctx.account.duties.get(pid)
        if duty is None or duty.cause != cause or duty.done:
            del watched[pid]
            actions.append(Resolve(key=cause, person_id=pid, evidence=(event.id,)))
    return watched or None, actions
