"""CRD-06: different passwords on different accounts (no two accounts report one credential fingerprint)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields
from datetime import UTC
from typing import Any

from monitor.rules._fixtures import account, directory, rotated, staff
from monitor.rules.base import Action, Case, Context, Raise, Resolve, rule

_DIR = directory(
    *(
        account(
            f"acc-{n}",
            handle=f"UniDept{n}",
            registration_email=f"dept{n}@uni.example.ac.uk",
            credential_model="shared_credential",
            central=False,
        )
        for n in (1, 2, 3)
    ),
    people=staff("p-1", "p-2"),
)
_FP_A = "fp:3f1c9a0b7d2e"
_FP_B = "fp:8e44d01a96c5"


def _rot(time: str, id_: str, account_id: str, fingerprint: str | None) -> dict[str, Any]:
    return rotated(time, id_, account_id=account_id, fingerprint=fingerprint)


CASES = [
    Case(
        "two accounts report the same fingerprint: alert",
        "alert",
        (_rot("2026-04-01T10:00:00Z", "v-1", "acc-1", _FP_A), _rot("2026-04-02T10:00:00Z", "v-2", "acc-2", _FP_A)),
        _DIR,
        severity="medium",
        status="open",
    ),
    Case(
        "the duplicate rotates to a new fingerprint: resolves itself",
        "alert",
        (
            _rot("2026-04-01T10:00:00Z", "v-1", "acc-1", _FP_A),
            _rot("2026-04-02T10:00:00Z", "v-2", "acc-2", _FP_A),
            _rot("2026-04-03T10:00:00Z", "v-3", "acc-2", _FP_B),
        ),
        _DIR,
        status="resolved",
    ),
    Case(
        "different fingerprints: no alert",
        "none",
        (_rot("2026-04-01T10:00:00Z", "v-1", "acc-1", _FP_A), _rot("2026-04-02T10:00:00Z", "v-2", "acc-2", _FP_B)),
        _DIR,
    ),
    Case(
        "one account rotating to the fingerprint it already had: no alert",
        "none",
        (_rot("2026-04-01T10:00:00Z", "v-1", "acc-1", _FP_A), _rot("2026-04-02T10:00:00Z", "v-2", "acc-1", _FP_A)),
        _DIR,
    ),
    Case(
        "an account moved away from a fingerprint before another took it: no alert",
        "none",
        (
            _rot("2026-04-01T10:00:00Z", "v-1", "acc-1", _FP_A),
            _rot("2026-04-02T10:00:00Z", "v-2", "acc-1", _FP_B),
            _rot("2026-04-03T10:00:00Z", "v-3", "acc-2", _FP_A),
        ),
        _DIR,
    ),
    Case(
        "rotations without a fingerprint: no alert",
        "none",
        (_rot("2026-04-01T10:00:00Z", "v-1", "acc-1", None), _rot("2026-04-02T10:00:00Z", "v-2", "acc-2", None)),
        _DIR,
    ),
]

# Raise/Resolve aimed at another account need an `account_id` field the engine honours.
_CROSS_ACCOUNT = "account_id" in {f.name for f in fields(Raise)}


def _elsewhere(action: type[Raise] | type[Resolve], account_id: str, **kw: Any) -> Action | None:
    return action(**{"account_id": account_id, **kw}) if _CROSS_ACCOUNT else None


@rule(
    "CRD-06",
    title="Different passwords on different accounts",
    severity="medium",
    sources=['002 "Staying Safe on Social Media"'],
    on=("credential.rotated",),
    cases=CASES,
    cross_account=True,
)
def crd_06_unique_credentials(event: Any, state: Any, ctx: Context) -> tuple[Any, Sequence[Action]]:
    """Alert on each account whose credential fingerprint another account also reports: one leak opens both.

    Reads the engine's index `ctx.fingerprints` (fingerprint -> accounts whose current credential has it,
    after this event). State: this account's current fingerprint. Alert key: the fingerprint; it resolves
    when the account rotates away from it, or when no other account shares it any more.
    """
    if ctx.account.rotation_event not in (None, event.id):
        return state, ()  # a late (older) rotation: the account's current credential is a newer one
    index = ctx.fingerprints
    me = ctx.account.account_id
    new: str | None = event.data.fingerprint
    old: str | None = state
    actions: list[Action] = []
    if old is not None and old != new:
        actions.append(Resolve(key=old, evidence=(event.id,)))
        left = index.get(old, set()) - {me}
        if len(left) == 1:
            (alone,) = left
            act = _elsewhere(Resolve, alone, key=old, evidence=(event.id,))
            if act is not None:
                actions.append(act)
    if new is None:
        return None, actions
    others = sorted(index.get(new, set()) - {me})
    if not others:
        return new, actions
    when = f"{event.time.astimezone(UTC):%Y-%m-%d %H:%M}Z"
    step = "Rotate the credential of each of these accounts to a different password (recorded as credential.rotated)"
    accounts = ", ".join([me, *others])
    actions.append(
        Raise(
            key=new,
            evidence=(event.id,),
            summary=f"The credential of {me}, rotated at {when}, has the same fingerprint as {', '.join(others)}: "
            f"one password is used on {accounts}",
            next_step=step,
        )
    )
    for other in others:
        act = _elsewhere(
            Raise,
            other,
            key=new,
            evidence=(event.id,),
            summary=f"{me} was rotated at {when} to a password with the same fingerprint as {other}'s: "
            f"one password is used on {accounts}",
            next_step=step,
        )
        if act is not None:
            actions.append(act)
    return new, actions
