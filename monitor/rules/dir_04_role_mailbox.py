"""DIR-04: an account is registered with a generic role mailbox of the organisation, not a personal address."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from monitor.rules._fixtures import account, account_updated, directory, person, post, registered
from monitor.rules._register import REGISTER_EVENTS, Finding, register_check
from monitor.rules.base import Action, Case, Context, ev, rule

FREE_MAIL = frozenset({
    "gmail.com", "googlemail.com", "outlook.com", "hotmail.com", "hotmail.co.uk", "live.com", "live.co.uk",
    "msn.com", "yahoo.com", "yahoo.co.uk", "ymail.com", "icloud.com", "me.com", "mac.com", "aol.com",
    "proton.me", "protonmail.com", "gmx.com", "gmx.net", "mail.com", "yandex.com", "zoho.com", "btinternet.com",
})  # fmt: skip
# Words that mark a local part like "press.office" or "social-media" as a role mailbox, not a name.
ROLE_WORDS = frozenset({
    "social", "socialmedia", "media", "comms", "communications", "press", "news", "marketing", "office", "team",
    "admin", "admins", "info", "enquiries", "contact", "hello", "digital", "web", "online", "accounts", "alumni",
    "library", "students", "student", "research", "events", "sport", "sports", "careers", "admissions",
    "international", "recruitment", "brand", "pr", "general", "support", "service", "services", "help",
    "helpdesk", "it", "hr", "school", "dept", "department", "faculty", "unit", "centre", "center", "group",
    "x", "twitter", "instagram", "facebook", "linkedin", "tiktok", "youtube",
})  # fmt: skip
_LOCAL_SPLIT = re.compile(r"[._-]")
_NAME_TOKEN = re.compile(r"^[a-z]+$")
_HANDLE_SPLIT = re.compile(r"[^A-Za-z0-9]+|(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])|(?<=[A-Za-z])(?=\d)")

_PEOPLE = [person("p-1", email="jane.doe@uni.example.ac.uk"), person("p-2", email="abc12@uni.example.ac.uk")]


def _dir(email: str) -> dict[str, Any]:
    return directory(account(registration_email=email, manager="p-1"), people=_PEOPLE)


_START = post("2026-11-02T09:00:00Z", "post-0")
_LATER = "2026-11-03T00:00:00Z"


def _person_email(time: str, id_: str, pid: str, email: str) -> dict[str, Any]:
    """A directory.person update giving `pid` this email."""
    return ev("directory.person", time, id_, person_id=pid, email=email, groups=[])


def _registered(email: str) -> dict[str, Any]:
    return registered(
        "2026-11-02T09:00:00Z", "reg-1", "acc-9", handle="DeptNews", registration_email=email, central=False
    )


CASES = [
    Case(
        "free-mail address: alert",
        "alert",
        (_START,),
        _dir("uninews@gmail.com"),
        until=_LATER,
        severity="medium",
        status="open",
    ),
    Case(
        "outside the organisation's domains: alert", "alert", (_START,), _dir("social@other.example.com"), until=_LATER
    ),
    Case(
        "firstname.lastname at the organisation: alert",
        "alert",
        (_START,),
        _dir("john.smith@uni.example.ac.uk"),
        until=_LATER,
    ),
    Case("a known person's mailbox: alert", "alert", (_START,), _dir("abc12@uni.example.ac.uk"), until=_LATER),
    Case("contains a person id: alert", "alert", (_START,), _dir("news-p-2@uni.example.ac.uk"), until=_LATER),
    Case("a role mailbox: no alert", "none", (_START,), _dir("social@uni.example.ac.uk"), until=_LATER),
    Case("a two-word role mailbox: no alert", "none", (_START,), _dir("press.office@uni.example.ac.uk"), until=_LATER),
    Case(
        "a mailbox named after the handle: no alert",
        "none",
        (_START,),
        _dir("uni.news@uni.example.ac.uk"),
        until=_LATER,
    ),
    Case(
        "a role mailbox at a subdomain of the organisation: no alert",
        "none",
        (_START,),
        _dir("news@press.uni.example.ac.uk"),
        until=_LATER,
    ),
    Case(
        "personal address, still inside the registration grace: no alert",
        "none",
        (_START,),
        _dir("uninews@gmail.com"),
        until="2026-11-02T09:30:00Z",
    ),
    Case(
        "no organisation domains known: only the personal checks apply",
        "none",
        (_registered("news@dept.example.org"),),
        None,
        until=_LATER,
    ),
    Case(
        "no organisation domains known, free-mail still alerts",
        "alert",
        (_registered("deptnews@outlook.com"),),
        None,
        until=_LATER,
    ),
    Case(
        "email corrected by an update: resolved",
        "alert",
        (
            _START,
            account_updated("2026-11-02T12:00:00Z", "up-1", registration_email="news@uni.example.ac.uk"),
        ),
        _dir("jane.doe@uni.example.ac.uk"),
        until=_LATER,
        status="resolved",
    ),
    Case(
        "an admin's directory email becomes the registration mailbox: alert",
        "alert",
        (_START, _person_email("2026-11-02T12:00:00Z", "dp-1", "p-2", "uninews1@uni.example.ac.uk")),
        _dir("uninews1@uni.example.ac.uk"),
        until=_LATER,
        status="open",
    ),
    Case(
        "the admin whose mailbox it was gets another email in the directory: the alert resolves itself",
        "alert",
        (_START, _person_email("2026-11-02T12:00:00Z", "dp-1", "p-2", "p2@uni.example.ac.uk")),
        _dir("abc12@uni.example.ac.uk"),
        until=_LATER,
        status="resolved",
    ),
    Case(
        "an admin's directory email changes to another personal mailbox: no alert",
        "none",
        (_START, _person_email("2026-11-02T12:00:00Z", "dp-1", "p-2", "p2@uni.example.ac.uk")),
        _dir("social@uni.example.ac.uk"),
        until=_LATER,
    ),
]


_BOUNDARY = re.compile(r"[^a-z0-9]")


def _tokens(text: str) -> set[str]:
    return {t.lower() for t in _HANDLE_SPLIT.split(text) if t}


def _person_id_in(local: str, ctx: Context) -> str | None:
    """A known person id that stands whole in the mailbox name (between separators), if any."""
    bounds = [0, *(m.end() for m in _BOUNDARY.finditer(local)), len(local) + 1]
    for i, start in enumerate(bounds[:-1]):
        for end in bounds[i + 1 :]:
            candidate = local[start : end - 1]
            if candidate in ctx.people:
                return candidate
    return None


def _problems(email: str, ctx: Context) -> list[str]:
    local, at, domain = email.strip().lower().rpartition("@")
    if not at or not local or not domain:
        return ["is not an email address"]
    local = local.split("+", 1)[0]
    out: list[str] = []
    domains = ctx.params.org_domains
    if domain in FREE_MAIL:
        out.append(f"is at the free-mail provider {domain}")
    elif domains and not any(domain == d or domain.endswith("." + d) for d in domains):
        out.append(f"is outside the organisation's domains ({', '.join(domains)})")
    owner = ctx.mailboxes.get(local)
    named = owner or _person_id_in(local, ctx)
    if owner:
        out.append(f"is the mailbox of {owner}")
    elif named:
        out.append(f"contains the person id {named}")
    else:
        words = [w for w in _LOCAL_SPLIT.split(local.rstrip("0123456789")) if w]
        allowed = ROLE_WORDS | _tokens(ctx.account.handle or "")
        if 2 <= len(words) <= 3 and all(_NAME_TOKEN.match(w) for w in words) and not allowed & set(words):
            out.append("looks like a person's name (firstname.lastname)")
    return out


def _check(ctx: Context) -> Finding | None:
    acc = ctx.account
    email = acc.registration_email or ""
    problems = _problems(email, ctx)
    if not problems:
        return None
    return Finding(
        summary=f"{acc.account_id} is registered with {email!r}, which {' and '.join(problems)}; "
        "it must be a generic role mailbox of the organisation",
        next_step=f"Move {acc.account_id}'s registration on the platform to a role mailbox of the organisation "
        "(e.g. social@ your domain) and record it (directory.account_updated, registration_email)",
    )


@rule(
    "DIR-04",
    title="Registered with a generic role mailbox of the organisation",
    severity="medium",
    sources=["003 §5.2"],
    on=(*REGISTER_EVENTS, "directory.person"),
    window="registration_grace",
    initial=dict,
    cases=CASES,
)
def dir_04_role_mailbox(event: Any, state: Any, ctx: Context) -> tuple[Any, Sequence[Action]]:
    """Alert when the registration email is personal or outside the organisation's domains, after the grace."""
    return register_check(event, state, ctx, "email", _check)
