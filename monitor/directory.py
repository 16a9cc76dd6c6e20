"""Load the directory YAML file and turn it into the equivalent `directory.*` events."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import TypeAdapter, ValidationError

from monitor.policy import Params
from monitor.yamlfile import load_yaml, node_lines, top_level_value
from schemas.directory import Directory, DirectoryAccount, DirectoryPerson, Organisation
from schemas.events import Event, parse_event_obj, secret_field_name

SOURCE = "directory-file"
_EPOCH = "1970-01-01T00:00:00Z"


class DirectoryError(ValueError):
    """A directory file that cannot be used, with the line and the problem."""


def parse_directory(text: str, origin: str = "<directory>") -> Directory:
    try:
        data = load_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise DirectoryError(
            f"{origin}:{mark.line + 1 if mark else 1}: not valid YAML: {getattr(exc, 'problem', exc)}"
        ) from None
    if not isinstance(data, dict):
        raise DirectoryError(f"{origin}:1: the directory is a mapping with organisation, people and accounts")
    directory = _validate(data, text, origin)
    _check_references(directory, text, origin)
    return directory


PROBLEMS_SAID = 20  # the problems a refused directory file is said with, at most; the rest are counted
_CHUNK = 1_000  # people or accounts checked at once
_LISTS: dict[str, TypeAdapter[list[Any]]] = {
    "people": TypeAdapter(list[DirectoryPerson]),
    "accounts": TypeAdapter(list[DirectoryAccount]),
}
_SECTIONS = {"organisation": 0, "people": 1, "accounts": 2}  # the order the check lists problems in, then the rest


def _validate(data: dict[str, Any], text: str, origin: str) -> Directory:
    """`data` as a Directory, or DirectoryError saying its first PROBLEMS_SAID problems, in the order and words of
    checking it whole, each with its line, and counting the rest.

    People and accounts are checked _CHUNK at a time, and only the first problems' details are kept. Checked whole,
    every problem was held and said, its line found in the document composed whole: 20,000 entries that are no
    account (9 problems each) made a 10 MB refusal, in 3.8 s and 200 MB, and a 64 MiB file holds millions."""
    lists = {k: data[k] for k in _LISTS if isinstance(data.get(k), list)}
    total = 0  # the problems, counted
    said: list[Any] = []  # the first ones' details
    try:  # the organisation, lists that are not lists, keys that are not sections
        Directory.model_validate({**data, **{k: [] for k in lists}})
        top: list[Any] = []
    except ValidationError as err:
        total += err.error_count()
        top = err.errors(include_url=False)

    def rank(e: Any) -> int:
        return _SECTIONS.get((e["loc"] or ("",))[0], len(_SECTIONS))

    checked: dict[str, list[Any]] = {}
    for section in range(len(_SECTIONS) + 1):
        said += [e for e in top if rank(e) == section][: PROBLEMS_SAID - len(said)]
        name = next((k for k, v in _SECTIONS.items() if v == section and k in lists), None)
        if name is None:
            continue
        entries, checked[name] = lists[name], []
        for start in range(0, len(entries), _CHUNK):
            try:
                checked[name] += _LISTS[name].validate_python(entries[start : start + _CHUNK])
            except ValidationError as err:
                total += err.error_count()
                if len(said) < PROBLEMS_SAID:
                    said += [{**e, "loc": (name, start + int(e["loc"][0]), *e["loc"][1:])}
                             for e in err.errors(include_url=False)[: PROBLEMS_SAID - len(said)]]  # fmt: skip
    if not total:
        return Directory.model_validate({**data, **checked})  # the entries as checked: not checked again
    lines = [
        f"{origin}:{line or 1}: {'.'.join(str(p) for p in e['loc'])}: {_problem(e)}"
        for e, line in zip(said, node_lines(text, [tuple(e["loc"]) for e in said]), strict=True)
    ]
    if total > len(said):
        lines.append(f"... and {total - len(said):,} more")
    raise DirectoryError("\n".join(lines))


SECRET_FIELD = (
    "looks like it holds a secret, which a register must never carry (passwords, secrets, tokens, "
    "one-time codes): take it out of the file, and change that secret, as it was written down"
)


def _problem(error: Any) -> str:
    """What is wrong with one field: a field the file may not have whose name says it holds a secret is said to be
    one (not only "Extra inputs are not permitted"), so that whoever keeps the file takes it out and changes it."""
    loc = error["loc"]
    if error["type"] == "extra_forbidden" and loc and secret_field_name(str(loc[-1])):
        return SECRET_FIELD
    return str(error["msg"])


def _check_references(d: Directory, text: str, origin: str) -> None:
    """No person or account listed twice (the file's text is parsed again only to name the line)."""
    ids = [p.person_id for p in d.people]
    seen: set[str] = set()
    for i, pid in enumerate(ids):
        if pid in seen:
            (line,) = node_lines(text, [("people", i)])
            raise DirectoryError(f"{origin}:{line}: person {pid} is listed twice")
        seen.add(pid)
    accounts: set[str] = set()
    for i, acc in enumerate(d.accounts):
        if acc.account_id in accounts:
            (line,) = node_lines(text, [("accounts", i)])
            raise DirectoryError(f"{origin}:{line}: account {acc.account_id} is listed twice")
        accounts.add(acc.account_id)


def comms_team_notes(d: Directory, shown: int = 5) -> list[str]:
    """What to say of the comms team in a register about to be imported: EMG-02 grants emergency access only to the
    people in the group named exactly "comms-team", so a group spelt otherwise ("Comms-Team", "comms team") or no
    member at all leaves nobody who can be let in during a hack, and nothing else says so."""
    from monitor.rules._hijack import COMMS_TEAM

    def key(group: str) -> str:
        return re.sub(r"[^a-z0-9]", "", group.lower())

    wanted = key(COMMS_TEAM)
    near = sorted({(p.person_id, g) for p in d.people for g in p.groups if g != COMMS_TEAM and key(g) == wanted})
    notes = []
    if near:
        listed = ", ".join(f"{pid} ({g!r})" for pid, g in near[:shown]) + (
            f" and {len(near) - shown} more" if len(near) > shown else ""
        )
        notes.append(f"the group {COMMS_TEAM!r} is spelt otherwise for {listed}: emergency access (EMG-02) goes only "
                     f"to members of {COMMS_TEAM!r}, spelt so")  # fmt: skip
    if d.accounts and not any(COMMS_TEAM in p.groups for p in d.people):
        notes.append(f"nobody in the file is in the group {COMMS_TEAM!r}: nobody can be granted emergency access "
                     "(EMG-02) during a hack")  # fmt: skip
    return notes


def read_directory_text(path: str | Path) -> str:
    """The directory file's text; DirectoryError naming the file when it cannot be read."""
    p = Path(path)
    try:
        return p.read_text(encoding="utf-8")
    except OSError as exc:
        raise DirectoryError(f"{p}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise DirectoryError(f"{p}: not UTF-8 text (byte {exc.start})") from None


def load_directory(path: str | Path) -> Directory:
    return parse_directory(read_directory_text(path), str(path))


# A top-level key starts a line in block style: a cheap test for a second section before a full parse.
_ORGANISATION_KEY = re.compile(r"^organisation[ \t]*:", re.M)


def load_organisation(path: str | Path) -> Organisation:
    """The directory file's organisation section, read alone: what a Kafka worker needs of the file (people and
    accounts reach it as directory.* events), without building a large register's accounts on every start."""
    text, origin = read_directory_text(path), str(path)
    try:
        found = top_level_value(text, "organisation")
    except yaml.YAMLError as exc:
        parse_directory(text, origin)  # names the line and the problem in words
        raise DirectoryError(f"{origin}: not valid YAML: {exc}") from None
    if found is None:
        raise DirectoryError(f"{origin}:1: the directory has no organisation section")
    data, line = found
    if len(_ORGANISATION_KEY.findall(text)) > 1:
        parse_directory(text, origin)  # a second organisation section: refused with both lines, as a start would
    try:
        return Organisation.model_validate(data)
    except ValidationError as err:
        lines = []
        for e in err.errors(include_url=False):
            where = ".".join(str(p) for p in ("organisation", *e["loc"]))
            lines.append(f"{origin}:{line}: {where}: {_problem(e)}")
        raise DirectoryError("\n".join(lines)) from None


def directory_events(d: Directory, at: datetime | None = None) -> Iterator[Event]:
    """The directory.* events equivalent to the file, in a fixed order (people, accounts, roles), at time `at`.

    Without `at` they carry a placeholder time; the engine gives preloaded events the start of time. Made one at a
    time, so a caller that folds them as they come never holds a large register as events all at once.
    """
    stamp = at.isoformat() if at is not None else _EPOCH

    def event(type_: str, id_: str, data: dict[str, Any]) -> Event:
        obj = {"specversion": "1.0", "id": id_, "source": SOURCE, "type": type_, "time": stamp, "data": data}
        return parse_event_obj(obj)

    for p in d.people:
        yield event("directory.person", f"person:{p.person_id}", p.model_dump(exclude_none=True))
    for a in d.accounts:
        reg = a.model_dump(exclude={"admins", "manager", "editors"}, exclude_none=True)
        yield event("directory.account_registered", f"account:{a.account_id}", reg)
        roles = [(pid, "admin") for pid in a.admins] + [(pid, "editor") for pid in a.editors]
        if a.manager:
            roles.append((a.manager, "manager"))
        for pid, role in roles:
            yield event(
                "directory.admin_assigned",
                f"role:{a.account_id}:{pid}:{role}",  # one person may hold two roles: two events
                {"account_id": a.account_id, "person_id": pid, "role": role},
            )


def organisation_params(params: Params, org: Organisation) -> Params:
    """The profile's parameters with the organisation's domains and naming rules from the file."""
    update: dict[str, Any] = {"org_domains": tuple(x.lower() for x in org.domains)}
    if org.handle_prefix is not None:
        update["handle_prefix"] = org.handle_prefix
    if org.forbidden_abbreviations:
        update["forbidden_abbreviations"] = tuple(org.forbidden_abbreviations)
    return params.model_copy(update=update)
