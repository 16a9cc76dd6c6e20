"""The demo data: deterministic, valid against the wire contract, the size it says, and the stories it tells."""

from __future__ import annotations

import inspect
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitor.demo import build_directory, build_events, mix_directory, mix_lines, padded_mix_directory, write_demo
from monitor.directory import parse_directory
from schemas.events import parse_event

SIGN_IN = {"login.succeeded", "login.failed", "mfa.challenge"}


@pytest.fixture(scope="module")
def directory() -> dict[str, Any]:
    return build_directory(7)


@pytest.fixture(scope="module")
def events(directory: dict[str, Any]) -> list[dict[str, Any]]:
    return build_events(directory, 7, 30)


@pytest.fixture(scope="module")
def demo_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return write_demo(tmp_path_factory.mktemp("demo"), seed=7)


def test_same_seed_gives_identical_bytes(demo_files: tuple[Path, Path], tmp_path: Path) -> None:
    again = write_demo(tmp_path / "again", seed=7)
    assert [p.name for p in again] == ["directory.yaml", "events.jsonl"]
    for first, second in zip(demo_files, again, strict=True):
        assert first.read_bytes() == second.read_bytes()


def test_another_seed_differs(demo_files: tuple[Path, Path], tmp_path: Path) -> None:
    other = write_demo(tmp_path / "other", seed=8)
    for first, second in zip(demo_files, other, strict=True):
        assert first.read_bytes() != second.read_bytes()


def test_directory_parses_and_has_the_stated_shape(directory: dict[str, Any], demo_files: tuple[Path, Path]) -> None:
    parsed = parse_directory(demo_files[0].read_text(encoding="utf-8"), "directory.yaml")
    assert parsed.organisation.domains == ["aberwen.ac.uk"]
    assert parsed.organisation.handle_prefix == "Aberwen"
    people, accounts = directory["people"], directory["accounts"]
    assert 380 <= len(people) <= 420
    assert 100 <= len(accounts) <= 140
    assert len({p["email"] for p in people}) == len(people)
    assert all(p["email"].endswith("@aberwen.ac.uk") for p in people)
    assert 6 <= sum("comms-team" in p["groups"] for p in people) <= 10
    assert 4 <= sum(a["central"] for a in accounts) <= 8
    assert {a["platform"] for a in accounts} == {"x", "instagram", "facebook", "linkedin", "tiktok", "youtube"}
    shared = sum(a["credential_model"] == "shared_credential" for a in accounts) / len(accounts)
    assert 0.15 <= shared <= 0.45
    assert 0 < sum(not a["mfa_enabled"] for a in accounts) < len(accounts) * 0.2
    assert 0 < sum(a["emergency_access"] == "none" for a in accounts) <= 8
    assert 0 < sum("approved_by" not in a for a in accounts) <= 8
    assert any(a["registration_email"].endswith("@gmail.com") for a in accounts)
    personal = {p["email"] for p in people}
    assert any(a["registration_email"] in personal for a in accounts)
    assert sum(len(a["admins"]) == 2 for a in accounts) > len(accounts) * 0.7
    assert any(len(a["admins"]) == 1 for a in accounts)
    assert 0 < sum("manager" not in a for a in accounts) <= 10
    assert any(a.get("naming_exempt") for a in accounts)
    assert sum(not a["handle"].startswith("Aberwen") for a in accounts) >= 3  # two breaches, one exemption


def test_every_event_parses(events: list[dict[str, Any]]) -> None:
    for ev in events:
        parsed = parse_event(json.dumps(ev, separators=(",", ":")))
        assert parsed.id == ev["id"]


def test_events_are_sorted_unique_and_inside_the_month(events: list[dict[str, Any]]) -> None:
    assert 20_000 <= len(events) <= 40_000
    keys = [(e["time"], e["id"]) for e in events]
    assert keys == sorted(keys)
    assert len({(e["source"], e["id"]) for e in events}) == len(events)
    assert events[0]["time"] >= "2026-10-01T00:00:00Z"
    assert events[-1]["time"] < "2026-10-31T00:00:00Z"
    assert all(e["time"].endswith("Z") and e["specversion"] == "1.0" for e in events)


def test_the_stories_are_there(directory: dict[str, Any], events: list[dict[str, Any]]) -> None:
    types = Counter(e["type"] for e in events)
    assert types["login.succeeded"] > types["post.published"] / 2
    assert 5 <= types["hr.leaver"] <= 8
    assert types["hr.leaver_cancelled"] == 1
    assert types["hr.role_changed"] == 3
    assert types["directory.access_confirmed"] >= 1
    assert types["directory.account_registered"] == 1
    assert types["directory.account_retired"] == 1
    assert types["directory.admin_unassigned"] >= 1
    for t in (
        "credential.shared",
        "credential.temporary_access",
        "device.approved",
        "mfa.disabled",
        "account.compromise_reported",
        "incident.declared",
        "incident.closed",
        "platform.admin_removed",
    ):
        assert types[t] >= 1, t
    assert types["emergency.access_requested"] == 2
    assert types["credential.temporary_access"] == 2
    # two accounts end up with one fingerprint
    fps: dict[str, set[str]] = {}
    for e in events:
        if e["type"] == "credential.rotated":
            fps.setdefault(e["data"]["fingerprint"], set()).add(e["data"]["account_id"])
    assert sum(len(a) > 1 for a in fps.values()) == 1
    # an account nobody registered signs in
    known = {a["account_id"] for a in directory["accounts"]} | {
        e["data"]["account_id"] for e in events if e["type"] == "directory.account_registered"
    }
    assert any(e["type"] == "login.succeeded" and e["data"]["account_id"] not in known for e in events)
    # a few sign-ins without MFA or from unmanaged devices, most with both
    logins = [e["data"] for e in events if e["type"] == "login.succeeded"]
    assert 0 < sum(not d["device_managed"] for d in logins) < len(logins) * 0.05
    assert sum(d["mfa"] for d in logins) > len(logins) * 0.8


def test_shorter_demo_stays_valid(directory: dict[str, Any]) -> None:
    short = build_events(directory, 7, days=3)
    assert short and all(e["time"] < "2026-10-04T00:00:00Z" for e in short)
    for ev in short:
        parse_event(json.dumps(ev))


def test_demo_replays_without_rejections(demo_files: tuple[Path, Path]) -> None:
    from monitor.directory import load_directory
    from monitor.policy import load_profile
    from monitor.replay import build_engine, read_lines, replay

    dpath, epath = demo_files
    engine = build_engine(load_profile("default"), load_directory(dpath))
    with epath.open("rb") as fh:
        result = replay(engine, read_lines([(str(epath), fh)]))
    assert result.rejected_total == 0
    assert result.lines == len(epath.read_bytes().splitlines())


def test_mix_lines_parse_and_are_mostly_sign_ins() -> None:
    gen = mix_lines(20_000)
    assert inspect.isgenerator(gen)
    types: Counter[str] = Counter()
    last = ""
    seen: set[tuple[str, str]] = set()
    for raw in gen:
        assert isinstance(raw, bytes) and not raw.endswith(b"\n")
        ev = parse_event(raw)
        types[ev.type] += 1  # type: ignore[attr-defined]
        t = ev.time.isoformat()
        assert t >= last
        last = t
        seen.add(ev.key)
    assert sum(types.values()) == 20_000 == len(seen)
    share = sum(types[t] for t in SIGN_IN) / 20_000
    assert 0.87 <= share <= 0.93
    assert types["login.succeeded"] > types["login.failed"] + types["mfa.challenge"]
    assert {"post.published", "credential.rotated", "device.approved"} <= set(types)
    # about 20 events a second of event time: 20,000 events span roughly 1,000 s
    first = parse_event(next(mix_lines(1))).time
    span = (parse_event(raw).time - first).total_seconds()
    assert 700 <= span <= 1300


def test_mix_is_deterministic_and_its_directory_parses() -> None:
    assert list(mix_lines(500, seed=3)) == list(mix_lines(500, seed=3))
    assert list(mix_lines(500, seed=3)) != list(mix_lines(500, seed=4))
    d = mix_directory(50, 200, seed=3)
    parsed = parse_directory(yaml.safe_dump(d, sort_keys=False))
    assert len(parsed.accounts) == 50 and len(parsed.people) == 200
    accounts = {a["account_id"] for a in d["accounts"]}
    people = {p["person_id"] for p in d["people"]}
    for raw in mix_lines(2000, seed=3, accounts=50, people=200):
        data = json.loads(raw)["data"]
        assert data.get("account_id", "acc-0001") in accounts
        assert data.get("person_id", "p-00001") in people


def test_padded_mix_directory_adds_accounts_and_people_the_mix_never_names() -> None:
    base = mix_directory(50, 200, seed=3)
    padded = padded_mix_directory(50, 200, factor=4, seed=3)
    parsed = parse_directory(yaml.safe_dump(padded, sort_keys=False))
    assert len(parsed.accounts) == 200 and len(parsed.people) == 800
    assert padded["accounts"][:50] == base["accounts"] and padded["people"][:200] == base["people"]
    extra_people = {p["person_id"] for p in padded["people"][200:]}
    for a in padded["accounts"][50:]:
        assert {*a["admins"], a["manager"], a["approved_by"]} <= extra_people
    named = {a["account_id"] for a in padded["accounts"][50:]} | extra_people
    for raw in mix_lines(2000, seed=3, accounts=50, people=200):
        data = json.loads(raw)["data"]
        assert not {data.get("account_id"), data.get("person_id")} & named
