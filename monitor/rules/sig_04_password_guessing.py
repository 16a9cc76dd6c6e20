"""SIG-04: no password guessing: a burst of failed logins, worse when a success follows it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from monitor.durations import format_duration
from monitor.rules._fixtures import account, directory, login, staff
from monitor.rules._hijack import stamp
from monitor.rules._quiet import ordinary_sign_in
from monitor.rules.base import Action, Case, Context, Raise, ev, rule

_DIR = directory(account(emergency_access="backup_admin"), people=staff("p-1", "p-2"))
_TWO = directory(account(emergency_access="backup_admin"), account("acc-2"), people=staff("p-1", "p-2"))


def _fail(minute: int, person: str | None = "p-1", ip: str = "203.0.113.7", on: str = "acc-1") -> dict[str, Any]:
    data: dict[str, Any] = {"account_id": on, "ip": ip, "reason": "bad password"}
    if person is not None:
        data["person_id"] = person
    return ev("login.failed", f"2026-09-01T03:{minute:02d}:00Z", f"f-{on}-{person}-{ip}-{minute}", **data)


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
        "failures naming different people from one ip add up: alert",
        "alert",
        (*(_fail(m, person="p-1") for m in range(3)), *(_fail(m + 3, person="p-2") for m in range(2))),
        _DIR,
    ),
    Case(
        "failures naming people and none, from several ips, add up on the account: alert",
        "alert",
        (*(_fail(m, person=f"p-{m % 2 + 1}", ip=f"203.0.113.{m}") for m in range(3)), _fail(3, None), _fail(4, None)),
        _DIR,
    ),
    Case(
        "failures without a person from different ips add up: alert",
        "alert",
        tuple(_fail(m, person=None, ip=f"203.0.113.{m}") for m in range(5)),
        _DIR,
    ),
    Case(
        "a success by someone the burst did not name, from another ip, stays medium",
        "alert",
        (*(_fail(m) for m in range(5)), _ok(6, person="p-2", ip="198.51.100.9")),
        _DIR,
        severity="medium",
    ),
    Case(
        "failures spread over two accounts do not add up: no alert",
        "none",
        (*(_fail(m) for m in range(3)), *(_fail(m + 3, on="acc-2") for m in range(2))),
        _TWO,
    ),
    Case("a success before the threshold: no alert", "none", (*(_fail(m) for m in range(3)), _ok(4)), _DIR),
]

MAX_NAMED = 64  # people and ips a burst remembers, to tell a success that follows it from anyone else's
# A failure: its time, event id, person (or None) and ip.
Fail = tuple[datetime, str, str | None, str]
# The account's recent failures (at most guessing_count, oldest first); the open burst's key, the person the alert
# is about (None when the burst names several or none), and the people and ips it named (for a success after it).
State = tuple[tuple[Fail, ...], str | None, str | None, frozenset[str]]


@rule(
    "SIG-04",
    title="No password guessing",
    severity="medium",
    sources=["practice: password guessing"],
    on=("login.failed", "login.succeeded"),
    window="guessing_count in guessing_window",
    cases=CASES,
    quiet_when={"login.succeeded": ordinary_sign_in},
)
def sig_04_password_guessing(event: Any, state: State | None, ctx: Context) -> tuple[Any, Sequence[Action]]:
    """Alert on guessing_count failed logins to one account in guessing_window, whoever and wherever they name
    (guessing spread over people or ips is guessing too); high if a person or ip the burst named then signs in."""
    # A burst opens when the count reaches N (key: the failure that reached it) and stays open while failures
    # keep coming within the window of the previous one; a success within the window of its latest failure
    # raises the same alert to high. The window is inclusive.
    if event.type == "login.succeeded":
        if state is None or state[1] is None:
            return state, ()
        return state, _success(event, ctx, state)
    return _failure(event, state, ctx)


def _success(event: Any, ctx: Context, state: State) -> Sequence[Action]:
    """Raise the open burst to high when a person or ip it named signs in within the window of its last failure."""
    d = event.data
    fails, key, person, named = state
    now = event.time
    if key is None or now - fails[-1][0] > ctx.params.guessing_window:
        return ()
    pid = d.person_id
    if d.ip not in named and (pid is None or pid not in named):
        return ()
    return (
        Raise(
            key=key,
            person_id=person,
            severity="high",
            evidence=(event.id,),
            summary=f"{_burst_text(ctx, fails)}, then {pid or 'an unidentified person'} signed in from {d.ip} at "
            f"{stamp(now)}: the guessing likely succeeded",
            next_step=_next_step(ctx),
        ),
    )


def _failure(event: Any, state: State | None, ctx: Context) -> tuple[State, Sequence[Action]]:
    """Count the failure on the account and raise when the burst reaches guessing_count."""
    d = event.data
    p = ctx.params
    now = event.time
    cutoff = now - p.guessing_window
    fails: tuple[Fail, ...] = ()
    key = person = None
    named: frozenset[str] = frozenset()
    if state is not None and state[0][-1][0] >= cutoff:
        fails, key, person, named = state
        fails = tuple(f for f in fails if f[0] >= cutoff)
    pid = d.person_id
    fails = (*fails, (now, event.id, pid, d.ip))
    if len(fails) > 1 and fails[-2][0] > now:
        fails = tuple(sorted(fails, key=lambda f: (f[0], f[1])))
    fails = fails[-p.guessing_count :]
    if key is None and len(fails) >= p.guessing_count:
        key = event.id
        people = {f[2] for f in fails}
        person = pid if people == {pid} else None
        named = frozenset({*(f[2] for f in fails if f[2] is not None), *(f[3] for f in fails)})
    elif key is not None and len(named) < MAX_NAMED:
        named = named | {d.ip} | ({pid} if pid is not None else set())
    if key is None:
        return (fails, None, None, named), ()
    evidence = tuple(f[1] for f in fails) if key == event.id else (event.id,)
    raise_ = Raise(
        key=key,
        person_id=person,
        evidence=evidence,
        summary=f"{_burst_text(ctx, fails)}: someone may be guessing the password",
        next_step=_next_step(ctx),
    )
    return (fails, key, person, named), (raise_,)


def _burst_text(ctx: Context, fails: tuple[Fail, ...]) -> str:
    """'at least 5 failed logins to acc-1 within 15m (03:00Z to 03:04Z) for p-1 and p-2, from 203.0.113.7'."""
    window = format_duration(ctx.params.guessing_window)
    people = sorted({f[2] for f in fails if f[2] is not None})
    if not people:
        who = "naming no person"
    else:
        who = f"for {_listed(people)}" + (" and without a person named" if any(f[2] is None for f in fails) else "")
    return (
        f"at least {len(fails)} failed logins to {ctx.account.account_id} within {window} "
        f"({stamp(fails[0][0])} to {stamp(fails[-1][0])}) {who}, from {_listed(sorted({f[3] for f in fails}))}"
    )


def _listed(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def _next_step(ctx: Context) -> str:
    """One next step for both severities, since a raised alert keeps the next step it opened with."""
    return (
        f"Check with the account manager of {ctx.account.account_id} whether these were genuine attempts; if not, "
        "block the source ip and make sure MFA is on, and if a sign-in followed (high), end every session and "
        "rotate the credential"
    )
