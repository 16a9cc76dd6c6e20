"""MFA-04: no MFA fatigue attack (a burst of refused or ignored prompts for one person)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from monitor.durations import format_duration
from monitor.rules._fixtures import account, directory, staff
from monitor.rules.base import Action, Case, Context, Raise, ev, rule

_DIR = directory(account(emergency_access="backup_admin"), people=staff("p-1", "p-2"))


def _prompt(minute: float, result: str = "denied", person: str = "p-1") -> dict[str, Any]:
    secs = round(minute * 60)
    time = f"2026-03-01T02:{secs // 60:02d}:{secs % 60:02d}Z"
    return ev("mfa.challenge", time, f"c-{person}-{secs:04d}", account_id="acc-1", person_id=person, result=result)


CASES = [
    Case(
        "five denied prompts in four minutes: alert",
        "alert",
        tuple(_prompt(m) for m in range(5)),
        _DIR,
        severity="high",
        status="open",
    ),
    Case("four denied prompts: no alert", "none", tuple(_prompt(m) for m in range(4)), _DIR),
    Case(
        "denied and timed-out prompts both count",
        "alert",
        tuple(_prompt(m, "denied" if m % 2 else "timeout") for m in range(5)),
        _DIR,
    ),
    Case(
        "the fifth exactly ten minutes after the first: alert",
        "alert",
        tuple(_prompt(m) for m in (0, 2.5, 5, 7.5, 10)),
        _DIR,
    ),
    Case(
        "the fifth ten minutes and a second after the first: no alert",
        "none",
        tuple(_prompt(m) for m in (0, 2.5, 5, 7.5, 10 + 1 / 60)),
        _DIR,
    ),
    Case(
        "an approval among the denials does not reset the count",
        "alert",
        (*(_prompt(m) for m in range(3)), _prompt(3, "approved"), _prompt(4), _prompt(5)),
        _DIR,
    ),
    Case("approved prompts are not fatigue: no alert", "none", tuple(_prompt(m, "approved") for m in range(8)), _DIR),
    Case(
        "denials spread over two people do not add up: no alert",
        "none",
        (*(_prompt(m, person="p-1") for m in range(3)), *(_prompt(m + 0.5, person="p-2") for m in range(3))),
        _DIR,
    ),
    Case("a long slow trickle of denials: no alert", "none", tuple(_prompt(m) for m in range(0, 60, 11)), _DIR),
]


@rule(
    "MFA-04",
    title="No MFA fatigue attack",
    severity="high",
    sources=["practice: MFA fatigue (push bombing)"],
    on=("mfa.challenge",),
    window="mfa_fatigue_count in mfa_fatigue_window",
    cases=CASES,
)
def mfa_04_mfa_fatigue(event: Any, state: Any, ctx: Context) -> tuple[Any, Sequence[Action]]:
    """Alert when one person gets mfa_fatigue_count denied or timed-out prompts within the window: push bombing.

    The window is inclusive (the Nth exactly `mfa_fatigue_window` after the first counts). An approval
    does not reset the count, since attackers' prompts interleave with the victim's own, and one that
    comes during a burst is added to the alert as the sign the victim may have given in. Key: the id of
    the prompt that crossed the threshold (deterministic, as the engine orders events and drops
    duplicates); further failures while the count stays at or above N add to that alert. State:
    person -> (the last N failures as (time, id), oldest first; the open burst's key or None), pruned
    to the window.
    """
    d = event.data
    pid = d.person_id
    p = ctx.params
    if d.result == "approved":
        if not state or pid not in state:
            return state, ()
        fails, burst = state[pid]
        if burst is None or event.time - fails[-1][0] > p.mfa_fatigue_window:
            return state, ()
        return state, (_raise(ctx, pid, burst, fails, event),)
    now = event.time
    n = p.mfa_fatigue_count
    prev, burst = (state or {}).get(pid, ((), None))
    newest = max(now, prev[-1][0]) if prev else now
    cutoff = newest - p.mfa_fatigue_window
    fails = tuple(sorted(f for f in (*prev, (now, event.id)) if f[0] >= cutoff))[-n:]
    kept = {q: v for q, v in (state or {}).items() if q != pid and v[0][-1][0] >= cutoff}
    if len(fails) < n:
        kept[pid] = (fails, None)
        return kept, ()
    key = burst or event.id
    kept[pid] = (fails, key)
    return kept, (_raise(ctx, pid, key, fails, None),)


def _raise(ctx: Context, pid: str, key: str, fails: tuple[tuple[datetime, str], ...], approval: Any) -> Raise:
    p = ctx.params
    a = ctx.account.account_id
    first, last = fails[0][0], fails[-1][0]
    summary = (
        f"{pid} was sent at least {len(fails)} MFA prompts for {a} that were denied or timed out within "
        f"{format_duration(p.mfa_fatigue_window)} ({first.astimezone(UTC):%Y-%m-%d %H:%M}Z to "
        f"{last.astimezone(UTC):%Y-%m-%d %H:%M}Z): someone with the password is likely push-bombing them"
    )
    evidence = tuple(i for _, i in fails)
    if approval is not None:
        summary += f"; a prompt was then approved at {approval.time.astimezone(UTC):%Y-%m-%d %H:%M}Z"
        evidence = (approval.id,)
    return Raise(
        key=key,
        person_id=pid,
        evidence=evidence,
        summary=summary,
        next_step=f"Call {pid} on a known number: if they did not sign in, rotate the credential of {a}, "
        "end its sessions and tell them to deny every prompt they did not start",
    )
