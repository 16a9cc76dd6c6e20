"""SIG-04: no password guessing: a burst of failed logins, worse when a success follows it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from monitor.durations import format_duration
from monitor.rules._fixtures import account, directory, login, staff
from monitor.rules._hijack import stamp
from monitor.rules.base import Action, Case, Context, Raise, ev, rule

_DIR = directory(account(emergency_access="backup_admin"), people=staff("p-1", "p-2"))


def _fail(minute: int, person: str | None = "p-1", ip: str = "203.0.113.7") -> dict[str, Any]:
    data: dict[str, Any] = {"account_id": "acc-1", "ip": ip, "reason": "bad password"}
    if person is not None:
        data["person_id"] = person
    return ev("login.failed", f"2026-09-01T03:{minute:02d}:00Z", f"f-{person}-{ip}-{minute}", **data)


def _ok(minute: int, person: str | None = "p-1", ip: str = "203.0.113.7") -> dict[str, Any]:
    return login(f"2026-09-01T03:{minute:02d}:00Z", f"ok-{minute}", person_id=person, device_id="d-9", ip=ip)


CASES = [
    Case(
        "five failures in four minutes: alert",
        "alert",
        tuple(_fail(m) for m in range(5)),
        _DIR,
        severity="medium",
        status="open",
    ),
    Case("four failures: no alert", "none", tuple(_fail(m) for m in range(4)), _DIR),
    Case(
        "the fifth exactly fifteen minutes after the first: alert",
        "alert",
        tuple(_fail(m) for m in (0, 4, 8, 12, 15)),
        _DIR,
    ),
    Case(
        "the fifth sixteen minutes after the first: no alert", "none", tuple(_fail(m) for m in (0, 4, 8, 12, 16)), _DIR
    ),
    Case(
        "a success right after the burst: high", "alert", (*(_fail(m) for m in range(5)), _ok(6)), _DIR, severity="high"
    ),
    Case(
        "a success long after the burst stays medium",
        "alert",
        (*(_fail(m) for m in range(5)), _ok(30)),
        _DIR,
        severity="medium",
    ),
    Case(
        "failures without a person from one ip count together: alert",
        "alert",
        tuple(_fail(m, person=None) for m in range(5)),
        _DIR,
    ),
    Case(
        "failures without a person from different ips do not add up: no alert",
        "none",
        tuple(_fail(m, person=None, ip=f"203.0.113.{m}") for m in range(5)),
        _DIR,
    ),
    Case(
        "one person's failures from several ips count together: alert",
        "alert",
        tuple(_fail(m, ip=f"203.0.113.{m}") for m in range(5)),
        _DIR,
    ),
    Case(
        "a success from the guessing ip after anonymous failures: high",
        "alert",
        (*(_fail(m, person=None) for m in range(5)), _ok(7, person="p-2")),
        _DIR,
        severity="high",
    ),
    Case(
        "failures spread over two people do not add up: no alert",
        "none",
        (*(_fail(m, person="p-1") for m in range(3)), *(_fail(m + 3, person="p-2") for m in range(2))),
        _DIR,
    ),
    Case("a success before the threshold: no alert", "none", (*(_fail(m) for m in range(3)), _ok(4)), _DIR),
]

MAX_SUBJECTS = 256
PRUNE_AT = 32
Fail = tuple[datetime, str]
# A person's or an ip's recent failures (at most guessing_count, oldest first) and the open burst's key.
Subject = tuple[tuple[Fail, ...], str | None]
# The latest failure's time, failures by person, failures without a person by ip.
State = tuple[datetime, dict[str, Subject], dict[str, Subject]]


@rule(
    "SIG-04",
    title="No password guessing",
    severity="medium",
    sources=["practice: password guessing"],
    on=("login.failed", "login.succeeded"),
    window="guessing_count in guessing_window",
    cases=CASES,
)
def sig_04_password_guessing(event: Any, state: State | None, ctx: Context) -> tuple[Any, Sequence[Action]]:
    """Alert on guessing_count failed logins in guessing_window for one person or ip; high if a success follows."""
    # A burst opens when the count reaches N (key: the failure that reached it) and stays open while failures
    # keep coming within the window of the previous one; a success within the window of its latest failure
    # raises the same alert to high. The window is inclusive. Stale entries are dropped when a table grows
    # or the whole state is older than the window, not on every event.
    if event.type == "login.succeeded":
        if state is None:
            return None, ()
        d = event.data
        pid = d.person_id
        mine = state[1].get(pid) if pid is not None else None
        theirs = state[2].get(d.ip)
        if (mine is None or mine[1] is None) and (theirs is None or theirs[1] is None):
            return state, ()
        return state, _success(event, ctx, mine, theirs)
    return _failure(event, state, ctx)


def _success(event: Any, ctx: Context, mine: Subject | None, theirs: Subject | None) -> Sequence[Action]:
    """Raise an open burst to high when the person or ip it is about signs in within the window."""
    d = event.data
    pid = d.person_id
    window = ctx.params.guessing_window
    now = event.time
    actions: list[Action] = []
    for subject, person in ((mine, pid), (theirs, None)):
        if subject is None or subject[1] is None or now - subject[0][-1][0] > window:
            continue
        who = f"person {person}" if person else f"ip {d.ip}"
        actions.append(
            Raise(
                key=subject[1],
                person_id=person,
                severity="high",
                evidence=(event.id,),
                summary=f"{_burst_text(ctx, who, subject[0])}, then {pid or 'an unidentified person'} signed in "
                f"from {d.ip} at {stamp(now)}: the guessing likely succeeded",
                next_step=_next_step(ctx),
            )
        )
    return actions


def _failure(event: Any, state: State | None, ctx: Context) -> tuple[State, Sequence[Action]]:
    """Count the failure for its person (or ip) and raise when the burst reaches guessing_count."""
    d = event.data
    p = ctx.params
    now = event.time
    window = p.guessing_window
    cutoff = now - window
    if state is None or now - state[0] > window:
        state = (now, {}, {})
    pid = d.person_id
    name = pid or d.ip
    by_person, by_ip = state[1], state[2]
    table = by_person if pid else by_ip
    old = table.get(name)
    fails: tuple[Fail, ...] = ()
    key: str | None = None
    if old is not None and old[0][-1][0] >= cutoff:
        fails = old[0]
        first = 0
        while fails[first][0] < cutoff:
            first += 1
        fails = fails[first:]
        key = old[1]
    fails = (*fails, (now, event.id))
    if len(fails) > 1 and fails[-2][0] > now:
        fails = tuple(sorted(fails))
    fails = fails[-p.guessing_count :]
    actions: Sequence[Action] = ()
    if key is None and len(fails) >= p.guessing_count:
        key = event.id
    if key is not None:
        who = f"person {pid}" if pid else f"ip {d.ip}"
        evidence = tuple(i for _, i in fails) if key == event.id else (event.id,)
        actions = (
            Raise(
                key=key,
                person_id=pid,
                evidence=evidence,
                summary=f"{_burst_text(ctx, who, fails)}: someone may be guessing the password",
                next_step=_next_step(ctx),
            ),
        )
    if len(table) >= PRUNE_AT:
        new_table = {k: v for k, v in table.items() if v[0][-1][0] >= cutoff}
        while len(new_table) >= MAX_SUBJECTS:
            del new_table[next(iter(new_table))]
    else:
        new_table = dict(table)
    new_table[name] = (fails, key)
    newest = now if now > state[0] else state[0]
    return ((newest, new_table, by_ip) if pid else (newest, by_person, new_table)), actions


def _burst_text(ctx: Context, who: str, fails: tuple[Fail, ...]) -> str:
    """'at least 5 failed logins to acc-1 for person p-1 within 15m (03:00Z to 03:04Z)'."""
    window = format_duration(ctx.params.guessing_window)
    return (
        f"at least {len(fails)} failed logins to {ctx.account.account_id} for {who} within {window} "
        f"({stamp(fails[0][0])} to {stamp(fails[-1][0])})"
    )


def _next_step(ctx: Context) -> str:
    """One next step for both severities, since a raised alert keeps the next step it opened with."""
    return (
        f"Check with the account manager of {ctx.account.account_id} whether these were genuine attempts; if not, "
        "block the source ip and make sure MFA is on, and if a sign-in followed (high), end every session and "
        "rotate the credential"
    )
