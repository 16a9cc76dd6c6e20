"""The register as the comms team see it: views of accounts and people, YAML export, and import as a diff."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from monitor.directory import DirectoryError
from monitor.engine import Engine
from monitor.facts import AccountFacts, PersonFacts
from monitor.rules._hijack import COMMS_TEAM
from schemas.directory import Directory
from schemas.events import Event, parse_event_obj
from service.store import Store

IMPORT_SOURCE = "monitor/register-import"
_FIELDS = (
    "platform", "handle", "registration_email", "credential_model", "central",
    "approved_by", "naming_exempt", "emergency_access",
)  # fmt: skip


class AccountView(BaseModel):
    account_id: str
    platform: str | None
    handle: str | None
    registered: bool
    retired: bool
    central: bool
    credential_model: str | None
    mfa_registered: bool | None
    mfa_on: bool | None
    emergency_access: str | None
    admins: list[str]
    managers: list[str]
    editors: list[str]
    failing: list[str]
    open_alerts: int
    compliant: bool


class PersonView(BaseModel):
    person_id: str
    email: str | None
    unit: str | None
    groups: list[str]
    leaving_at: datetime | None = Field(description="when HR said they leave (or left): shown only to the roles "
                                        "that may read the leaver report, and null to others")  # fmt: skip
    accounts: list[str]


def accounts(engine: Engine, store: Store) -> list[AccountView]:
    """Every account the monitor has seen, with the controls it fails now (its open or acknowledged alerts).

    An account known only from events (used, or asked for, but never registered) is listed, for DIR-01 says it
    must be registered, but marked: `registered` false, and never `compliant`.
    """
    failing: dict[str, set[str]] = defaultdict(set)
    counts: dict[str, int] = defaultdict(int)
    for aid, control in store.conn.execute(
        "SELECT account_id, control FROM alerts WHERE status != 'resolved' AND account_id IS NOT NULL"
    ):
        failing[aid].add(control)
        counts[aid] += 1
    return [
        _account_view(a, sorted(failing[a.account_id]), counts[a.account_id])
        for _, a in sorted(engine.accounts.items())
    ]


def _account_view(a: AccountFacts, failing: list[str], open_alerts: int) -> AccountView:
    return AccountView(
        account_id=a.account_id,
        platform=a.platform,
        handle=a.handle,
        registered=a.registered,
        retired=a.retired,
        central=a.central,
        credential_model=a.credential_model,
        mfa_registered=a.mfa_registered,
        mfa_on=a.mfa_on,
        emergency_access=a.emergency_access,
        admins=a.holders_of("admin"),
        managers=a.holders_of("manager"),
        editors=a.holders_of("editor"),
        failing=failing,
        open_alerts=open_alerts,
        compliant=a.registered and not failing,  # an account not in the register complies with nothing
    )


def people(engine: Engine, store: Store | None = None, *, leavers: bool = False) -> list[PersonView]:
    """The people of the register's directory (`store` unused: a read's second argument); their leaving dates only
    with `leavers` (see `person`)."""
    return [_person_view(p, leavers) for _, p in sorted(engine.people.items()) if p.in_directory]


def person(engine: Engine, person_id: str, *, leavers: bool = False) -> PersonView | None:
    """One person of the register's directory, or None when the directory does not name them.

    Their leaving date only with `leavers`, for a caller who may read the leaver report: HR's dates, future ones
    told in confidence among them, are not for every role that may read the register (registrar, comms)."""
    p = engine.people.get(person_id)
    return _person_view(p, leavers) if p is not None and p.in_directory else None


def _person_view(p: PersonFacts, leavers: bool) -> PersonView:
    return PersonView(
        person_id=p.person_id,
        email=p.email,
        unit=p.unit,
        groups=sorted(p.groups),
        leaving_at=p.leaving_at if leavers else None,
        accounts=sorted(p.accounts),
    )


def is_comms_member(engine: Engine, person_id: str, now: datetime) -> bool:
    """A current member of the comms-team group in the register (who EMG-02 lets in during a hack)."""
    p = engine.people.get(person_id)
    return p is not None and COMMS_TEAM in p.groups and not p.left_by(now)


GROUP_WHY = f"the {COMMS_TEAM} group decides who is granted emergency access, EMG-02"


def group_change_judge(engine: Engine, who: str, role: str) -> Callable[[str, Iterable[str]], str | None]:
    """For the token of `who` with `role`: a function telling why a directory.person event (or an import's change)
    giving a person groups is refused, or None when it may be made. Made once per batch, and used under the
    engine's lock, with which the change is taken.

    EMG-02 grants emergency access to the comms-team group's current members, so the group is not for its
    candidates to keep: a comms token may not put anyone into it or take anyone out of it, and no token but an
    admin's may change its own person's groups (a registrar who also holds a comms token would otherwise put
    themselves in the team). A registrar keeps everyone else's groups, the team among them: they keep the
    register's people. An admin may do anything, as it can make a token for anyone.

    Judged against the person's groups now and against each change to them still waiting in the engine's reorder
    buffer: an event that keeps them as they are now, sorted after a waiting one, would undo it.
    """
    if role == "admin":
        return lambda person_id, groups: None
    waiting: dict[str, list[frozenset[str]]] = defaultdict(list)
    for ev in engine.waiting():
        if ev.type == "directory.person":
            waiting[ev.data.person_id].append(frozenset(ev.data.groups))

    def judge(person_id: str, groups: Iterable[str]) -> str | None:
        wanted = frozenset(groups)
        known = engine.people.get(person_id)
        states = [known.groups if known is not None else frozenset(), *waiting.get(person_id, ())]
        if person_id == who and any(s != wanted for s in states):
            return (f"a token may not change its own person's groups: this token is {who}'s, and the event gives "
                    f"{person_id} the groups {sorted(wanted)} ({GROUP_WHY}; an admin, or for a registrar another "
                    "registrar, makes that change)")  # fmt: skip
        if role == "comms" and any((COMMS_TEAM in s) != (COMMS_TEAM in wanted) for s in states):
            change = f"put {person_id} into it" if COMMS_TEAM in wanted else f"take {person_id} out of it"
            return (f"a comms token may not add anyone to or remove anyone from the {COMMS_TEAM} group: the event "
                    f"would {change} ({GROUP_WHY}; a registrar or an admin makes that change)")  # fmt: skip
        return None

    return judge


def export(engine: Engine, directory: Directory | None) -> dict[str, Any]:
    """The register now, in the directory file's shape."""
    organisation = (
        directory.organisation.model_dump(exclude_none=True, exclude_defaults=True)
        if directory
        else {"domains": list(engine.params.org_domains)}
    )
    people_out = []
    for _, p in sorted(engine.people.items()):
        if not p.in_directory:
            continue
        entry: dict[str, Any] = {"person_id": p.person_id, "email": p.email}
        if p.unit:
            entry["unit"] = p.unit
        entry["groups"] = sorted(p.groups)
        people_out.append(entry)
    accounts_out = []
    for _, a in sorted(engine.accounts.items()):
        if not a.registered or a.retired:
            continue
        acc: dict[str, Any] = {"account_id": a.account_id}
        for name in _FIELDS:
            value = getattr(a, name)
            if value is not None and not (name == "naming_exempt" and value is False):
                acc[name] = value
        acc["mfa_enabled"] = bool(a.mfa_registered)
        acc["admins"] = a.holders_of("admin")
        managers = a.holders_of("manager")
        if managers:
            acc["manager"] = managers[0]
        if a.holders_of("editor"):
            acc["editors"] = a.holders_of("editor")
        accounts_out.append(acc)
    return {"organisation": organisation, "people": people_out, "accounts": accounts_out}


def check_retire_missing(d: Directory, retire_missing: bool) -> None:
    """Refuse retiring what a file leaves out when it lists no accounts: that retires every registered account (a
    register cut short before its accounts, or a people-only file), and each emergency request after is refused."""
    if retire_missing and not d.accounts:
        raise DirectoryError("import: the file lists no accounts, so retiring what it leaves out would retire every "
                             "registered account; nothing was changed. Import the whole register (`monitor directory "
                             "export` gives it)")  # fmt: skip


def import_events(engine: Engine, d: Directory, text: str, now: datetime, retire_missing: bool = False,
                  said: list[str] | None = None) -> list[Event]:  # fmt: skip
    """The directory.* events that turn the register as it is into `d`, parsed from `text` (only the differences).

    Their ids derive from `text` and `now`, so the same file sent twice at one moment is taken once. `said`, when
    given, gets one line per change to people, accounts and roles in words, by ids and field names and a new
    account's platform and handle, no HR facts (what a dry run shows for review; the retired accounts are
    `unlisted`'s): a role holder's changed roles are one line, though the events take every role and give back the
    ones kept.
    """
    check_retire_missing(d, retire_missing)
    digest = hashlib.blake2b(f"{now.isoformat()}\x1f{text}".encode(), digest_size=8).hexdigest()
    out: list[dict[str, Any]] = []

    def add(type_: str, data: dict[str, Any]) -> None:
        out.append(
            {
                "specversion": "1.0",
                "id": "",  # numbered at the end (see below)
                "source": IMPORT_SOURCE,
                "type": type_,
                "time": now.isoformat(),
                "data": data,
            }
        )

    for p in d.people:
        change = _person_change(engine.people.get(p.person_id), p.email, p.unit, frozenset(p.groups))
        if change is not None:
            add("directory.person", p.model_dump(exclude_none=True))
            if said is not None:
                said.append(f"{p.person_id}: {change}")
    listed = set()
    for a in d.accounts:
        listed.add(a.account_id)
        facts = engine.accounts.get(a.account_id)
        reg = a.model_dump(exclude={"admins", "manager", "editors"}, exclude_none=True)
        if facts is None or not facts.registered or facts.retired:
            add("directory.account_registered", reg)
            if said is not None:
                again = " again" if facts is not None and facts.retired else ""
                said.append(f"{a.account_id}: registered{again} ({a.platform} {a.handle})")
            current: dict[str, set[str]] = {} if facts is None else {k: set(v) for k, v in facts.roles.items()}
        else:
            changed = {k: v for k, v in reg.items() if k != "account_id" and _current(facts, k) != v}
            if changed:
                add("directory.account_updated", {"account_id": a.account_id, **changed})
                if said is not None:
                    said.append(f"{a.account_id}: {', '.join(changed)} changed")
            current = {k: set(v) for k, v in facts.roles.items()}
        wanted: dict[str, set[str]] = defaultdict(set)
        for pid in a.admins:
            wanted[pid].add("admin")
        for pid in a.editors:
            wanted[pid].add("editor")
        if a.manager:
            wanted[a.manager].add("manager")
        for pid in sorted(set(current) | set(wanted)):
            have, want = current.get(pid, set()), wanted.get(pid, set())
            if have == want:
                continue
            if said is not None:
                said.append(_roles_said(a.account_id, pid, have, want))
            if have - want:  # directory.admin_unassigned takes every role; give back the ones kept
                add("directory.admin_unassigned", {"account_id": a.account_id, "person_id": pid})
                have = set()
            for role in sorted(want - have):
                add("directory.admin_assigned", {"account_id": a.account_id, "person_id": pid, "role": role})
    if retire_missing:
        for aid in unlisted(engine, d):
            add("directory.account_retired", {"account_id": aid})
    # One time and source for all, so the engine takes them in the order of their ids: numbered to one width, or
    # "-10" would come before "-9" (a role given back before every role was taken, and so lost).
    width = len(str(len(out)))
    for n, o in enumerate(out, 1):
        o["id"] = f"import-{digest}-{n:0{width}d}"
    return [parse_event_obj(o) for o in out]


def _person_change(known: PersonFacts | None, email: str, unit: str | None, groups: frozenset[str]) -> str | None:
    """How a person in the file differs from the register, in words ("added to the register", "email, unit
    changed": field names only, no HR facts), or None when they do not."""
    if known is None or not known.in_directory:
        return "added to the register"
    fields = [name for name, old, new in (("email", known.email, email), ("unit", known.unit, unit),
                                          ("groups", known.groups, groups)) if old != new]  # fmt: skip
    return f"{', '.join(fields)} changed" if fields else None


def _roles_said(aid: str, pid: str, have: set[str], want: set[str]) -> str:
    """'acc-1: p-2 loses admin, keeps manager' for a role holder whose roles on an account differ."""
    parts = []
    if want - have:
        parts.append(f"gets {', '.join(sorted(want - have))}")
    if have - want:
        parts.append(f"loses {', '.join(sorted(have - want))}")
    if have & want:
        parts.append(f"keeps {', '.join(sorted(have & want))}")
    return f"{aid}: {pid} {'; '.join(parts)}"


# What each kind of import event does to the register, in the order they are said (singular, plural).
_CHANGE_WORDS = {
    "directory.person": ("person added or changed", "people added or changed"),
    "directory.account_registered": ("account registered", "accounts registered"),
    "directory.account_updated": ("account updated", "accounts updated"),
    "directory.account_retired": ("account retired", "accounts retired"),
    "directory.admin_assigned": ("role assigned", "roles assigned"),
    "directory.admin_unassigned": ("role holder unassigned", "role holders unassigned"),
}


def change_counts(events: list[Event]) -> dict[str, int]:
    """How many import events of each type, in the order `changes_in_words` says them (types with none left out)."""
    counts = {t: 0 for t in _CHANGE_WORDS}
    for ev in events:
        counts[ev.type] = counts.get(ev.type, 0) + 1
    return {t: n for t, n in counts.items() if n}


def changes_in_words(counts: dict[str, int]) -> str:
    """'1 account registered, 2 roles assigned' for the counts of `change_counts`."""
    said = []
    for t, n in counts.items():
        one, many = _CHANGE_WORDS.get(t, (t, t))
        said.append(f"{n:,} {one if n == 1 else many}")
    return ", ".join(said)


SAID_SHOWN = 100  # the changes in words an import's answer carries, at most
UNLISTED_SHOWN = 10  # the ids of the registered accounts an import's file leaves out that are said, at most


def unlisted(engine: Engine, d: Directory) -> list[str]:
    """The registered accounts (not retired) that `d` does not list, sorted: an import keeps them, unless it retires
    the missing ones."""
    listed = {a.account_id for a in d.accounts}
    return sorted(aid for aid, f in engine.accounts.items() if f.registered and not f.retired and aid not in listed)


def _current(facts: AccountFacts, name: str) -> Any:
    if name == "mfa_enabled":
        return facts.mfa_registered
    value = getattr(facts, name)
    return False if name == "naming_exempt" and value is None else value


__all__ = [
    "DirectoryError",
    "accounts",
    "change_counts",
    "changes_in_words",
    "check_retire_missing",
    "export",
    "group_change_judge",
    "import_events",
    "is_comms_member",
    "people",
    "unlisted",
]
