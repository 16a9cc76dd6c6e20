"""DIR-06: a handle starts with the organisation's prefix and uses no forbidden abbreviation, unless exempt."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from monitor.rules._fixtures import account, account_updated, directory, post
from monitor.rules._register import REGISTER_EVENTS, Finding, register_check
from monitor.rules.base import Action, Case, Context, rule

# Split a handle into words: at punctuation, camelCase humps, an acronym before a word, and letters before digits.
_WORDS = re.compile(
    r"[^A-Za-z0-9]+|(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])|(?<=[A-Za-z])(?=\d)|(?<=\d)(?=[A-Za-z])"
)


def _dir(handle: str, exempt: bool | None = None, prefix: str | None = "CardiffMet") -> dict[str, Any]:
    naming: dict[str, Any] = {} if exempt is None else {"naming_exempt": exempt}
    org: dict[str, Any] = {"forbidden_abbreviations": ["LMU"]}
    if prefix:
        org["handle_prefix"] = prefix
    return directory(account(handle=handle, manager="p-1", **naming), **org)


_START = post("2026-11-02T09:00:00Z", "post-0")
_LATER = "2026-11-03T00:00:00Z"

CASES = [
    Case(
        "handle without the required prefix: alert",
        "alert",
        (_START,),
        _dir("UniSport"),
        until=_LATER,
        severity="low",
        status="open",
    ),
    Case("handle with the prefix: no alert", "none", (_START,), _dir("CardiffMetSport"), until=_LATER),
    Case(
        "the prefix is matched case-insensitively, after an @",
        "none",
        (_START,),
        _dir("@cardiffmet_sport"),
        until=_LATER,
    ),
    Case("a forbidden abbreviation as a word: alert", "alert", (_START,), _dir("CardiffMetLMUSport"), until=_LATER),
    Case(
        "a forbidden abbreviation in lower case after punctuation: alert",
        "alert",
        (_START,),
        _dir("lmu_news", prefix=None),
        until=_LATER,
    ),
    Case(
        "letters of an abbreviation inside a word are fine",
        "none",
        (_START,),
        _dir("Almunia", prefix=None),
        until=_LATER,
    ),
    Case("a recorded exemption: no alert", "none", (_START,), _dir("UniSport", exempt=True), until=_LATER),
    Case(
        "bad handle, still inside the registration grace: no alert",
        "none",
        (_START,),
        _dir("UniSport"),
        until="2026-11-02T09:59:00Z",
    ),
    Case(
        "handle renamed to follow the rule: resolved",
        "alert",
        (
            _START,
            account_updated("2026-11-02T12:00:00Z", "up-1", handle="CardiffMetSport"),
        ),
        _dir("UniSport"),
        until=_LATER,
        status="resolved",
    ),
    Case(
        "exemption recorded later: resolved",
        "alert",
        (_START, account_updated("2026-11-02T12:00:00Z", "up-1", naming_exempt=True)),
        _dir("UniSport"),
        until=_LATER,
        status="resolved",
    ),
]


def _check(ctx: Context) -> Finding | None:
    acc = ctx.account
    if acc.naming_exempt:
        return None
    handle = (acc.handle or "").lstrip("@")
    prefix = ctx.params.handle_prefix
    problems = []
    if prefix and not handle.lower().startswith(prefix.lower()):
        problems.append(f"does not start with {prefix!r}")
    words = {w.lower() for w in _WORDS.split(handle) if w}
    bad = [a for a in ctx.params.forbidden_abbreviations if a.lower() in words]
    if bad:
        problems.append(f"uses the forbidden abbreviation {', '.join(bad)}")
    if not problems:
        return None
    return Finding(
        summary=f"{acc.account_id}'s handle {acc.handle!r} {' and '.join(problems)}",
        next_step=f"Rename {acc.account_id} to follow the naming rules and record the new handle "
        "(directory.account_updated, handle), or record an approved exemption (naming_exempt: true)",
    )


@rule(
    "DIR-06",
    title="Naming rules: handle prefix and forbidden abbreviations",
    severity="low",
    sources=["000 §8.1.3", "003 §5.5"],
    on=REGISTER_EVENTS,
    window="registration_grace",
    initial=dict,
    cases=CASES,
)
def dir_06_naming_rules(event: Any, state: Any, ctx: Context) -> tuple[Any, Sequence[Action]]:
    """Alert when a handle lacks the required prefix or uses a forbidden abbreviation, unless exempt."""
    return register_check(event, state, ctx, "naming", _check)
