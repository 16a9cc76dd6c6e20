"""An engine restored from a snapshot taken mid-stream ends exactly where one that never stopped ends."""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.demo import write_demo
from monitor.directory import load_directory
from monitor.engine import Engine, dumps_state, loads_state
from monitor.policy import load_profile
from monitor.replay import build_engine, read_lines
from schemas.events import Event, parse_event

END = datetime(2026, 10, 31, tzinfo=UTC)


@pytest.fixture(scope="module")
def month(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Event]]:
    dp, ep = write_demo(tmp_path_factory.mktemp("demo"))
    with ep.open("rb") as fh:
        return dp, [parse_event(raw) for _, _, raw in read_lines([("e", fh)])]


def _engine(directory: Path) -> Engine:
    return build_engine(load_profile("default"), load_directory(directory), lateness=timedelta(hours=1))


def _finish(e: Engine, events: list[Event]) -> list[str]:
    for ev in events:
        e.submit(ev)
    e.flush()
    e.advance(END)
    return [a.model_dump_json() for a in e.final_alerts()]


@pytest.mark.parametrize("cut", [0, 1, 2_500, 13_000, 25_000])
def test_restore_mid_stream_gives_the_same_alerts(month: tuple[Path, list[Event]], cut: int) -> None:
    directory, events = month
    whole = _finish(_engine(directory), events)
    first = _engine(directory)
    for ev in events[:cut]:
        first.submit(ev)
    blob = first.snapshot()
    second = _engine(directory)
    second.restore(blob)
    assert second.clock == first.clock
    assert len(second._buffer) == len(first._buffer)  # events still in the reorder buffer travel too
    assert _finish(second, events[cut:]) == whole


def test_a_snapshot_missing_a_part_is_refused(month: tuple[Path, list[Event]]) -> None:

    e = _engine(month[0])
    state = loads_state(zlib.decompress(e.snapshot()))
    del state["alerts"]
    with pytest.raises(ValueError, match="snapshot lacks \\['alerts'\\]"):
        e.restore(zlib.compress(dumps_state(state)))


def test_a_snapshot_is_compressed_and_a_damaged_one_is_refused(month: tuple[Path, list[Event]]) -> None:
    """A snapshot is its pickled state compressed (under half the size here); a cut one fails, never half-restores."""

    e = _engine(month[0])
    for ev in month[1]:
        e.submit(ev)
    blob = e.snapshot()
    assert len(blob) * 2 < len(zlib.decompress(blob))
    fresh = _engine(month[0])
    with pytest.raises(zlib.error):
        fresh.restore(blob[: len(blob) // 2])
    assert fresh.clock is None and not fresh.alerts


def test_state_records_pickle_by_their_fields_and_come_back_equal() -> None:
    """PersonFacts, AccountFacts, Duty and AlertState pickle as (class, field values): every field round-trips.

    Each record's fields are set away from their defaults, so a field dropped or shifted by one would show."""
    import dataclasses
    import pickle

    from monitor.engine import AlertState
    from monitor.facts import AccountFacts, Duty, PersonFacts

    t = datetime(2026, 10, 1, tzinfo=UTC)
    records = [
        PersonFacts("p-1", True, "a@x.ac.uk", "comms", frozenset({"g"}), t, "ev-1", t, "role", "ev-2", {"acc-1"}),
        Duty("leaver", "p-1", t, "ev-1", True, True, t, "ev-3", t, "ev-4", t, None),
        AlertState("AL-1", "LVR-01", "k", "high", "open", "acc-1", "p-1", t, t, ["ev-1"], "s", "n", t, "x", "note"),
    ]
    acc = AccountFacts("acc-1", True, t, False, "x", "@h", "r@x.ac.uk", "shared_credential", True, True, "p-2")
    acc.roles["p-1"] = {"admin"}
    acc.seats_removed = {"p-3": (t, "ev-5")}
    acc.mfa_changed_at = t
    acc.duties["p-1"] = records[1]
    records.append(acc)
    for r in records:
        back = pickle.loads(pickle.dumps(r, protocol=pickle.HIGHEST_PROTOCOL))
        assert type(back) is type(r)
        names = [f.name for f in dataclasses.fields(r)]
        assert [getattr(back, n) for n in names] == [getattr(r, n) for n in names]


def test_people_share_their_empty_sets_and_equal_groups_and_a_snapshot_keeps_it(
    month: tuple[Path, list[Event]],
) -> None:
    """People without accounts hold one shared empty set, people with the same groups one frozenset, in every
    engine of the process, and a restored engine keeps that sharing within itself (a Kafka worker keeps one
    engine per partition, each holding every person)."""
    directory, events = month
    a, b = _engine(directory), _engine(directory)
    for e in (a, b):
        e.advance(events[0].time)  # folds the register
    c = build_engine(load_profile("default"), None)
    c.restore(a.snapshot())
    assert len(a.people) > 10 and set(a.people) == set(b.people) == set(c.people)
    assert len({p.groups for p in a.people.values()}) > 1  # some people are in groups, some not
    for pid, pa in a.people.items():
        pb, pc = b.people[pid], c.people[pid]
        assert pa is not pb and pa is not pc and pa == pb == pc
        assert pa.groups is pb.groups
        if not pa.accounts:
            assert pa.accounts == () and pb.accounts == ()
    for e in (a, c):
        people = list(e.people.values())
        assert len({id(p.groups) for p in people}) == len({p.groups for p in people})
        assert len({id(p.accounts) for p in people if not p.accounts}) == 1
    assert any(not p.accounts for p in a.people.values())


def test_a_person_reaches_accounts_as_a_tuple_while_few_then_a_set() -> None:
    """A person's accounts start as the empty tuple, grow as tuples up to _FEW (a tuple of one is 48 bytes, a set
    216), then become a set of their own; the same account twice is kept once, and another person is untouched."""
    from monitor.facts import _FEW, PersonFacts

    p, q = PersonFacts("p-1"), PersonFacts("p-2")
    assert p.accounts == ()
    p.reaches("acc-1")
    p.reaches("acc-2")
    p.reaches("acc-1")
    assert p.accounts == ("acc-1", "acc-2")
    for i in range(3, _FEW + 2):
        p.reaches(f"acc-{i}")
    assert p.accounts == {f"acc-{i}" for i in range(1, _FEW + 2)} and isinstance(p.accounts, set)
    p.reaches("acc-1")
    assert len(p.accounts) == _FEW + 1
    assert q.accounts == ()


def test_a_restored_engine_still_knows_every_event_it_took(month: tuple[Path, list[Event]]) -> None:
    """The duplicate-event memory travels packed (digests end to end, runs of equal times) and comes back whole."""
    directory, events = month
    first = _engine(directory)
    for ev in events[:5_000]:
        first.submit(ev)
    second = _engine(directory)
    second.restore(first.snapshot())
    assert second._seen == first._seen and len(second._seen) > 1_000
    for ev in events[:5_000:97]:
        assert not second.submit(ev)  # each taken before the snapshot: a duplicate
    assert second.stats.duplicates == len(events[:5_000:97])
    times = list(second._seen.values())
    assert len({id(t) for t in times}) == len(set(times)) < len(times)  # one datetime per distinct time


def test_a_damaged_duplicate_event_memory_is_refused(month: tuple[Path, list[Event]]) -> None:

    e = _engine(month[0])
    for ev in month[1][:100]:
        e.submit(ev)
    state = loads_state(zlib.decompress(e.snapshot()))
    digests, runs = state["_seen"]
    state["_seen"] = (digests[:-16], runs)  # one event's digest lost
    with pytest.raises(ValueError, match="duplicate-event memory damaged"):
        _engine(month[0]).restore(zlib.compress(dumps_state(state)))


def test_the_preloaded_register_is_drawn_at_the_first_moment_and_a_snapshot_before_it_keeps_it(
    month: tuple[Path, list[Event]],
) -> None:
    """preload takes its events as they come (a large register is never held as events all at once), and a
    snapshot taken before the first event still carries the whole register, in the engine and in the blob."""
    from monitor.directory import directory_events

    directory, events = month
    whole = _finish(_engine(directory), events)
    drawn = 0

    def counted() -> Iterator[Event]:
        nonlocal drawn
        for ev in directory_events(load_directory(directory)):
            drawn += 1
            yield ev

    lazy = Engine(load_profile("default"), params=_engine(directory).params, lateness=timedelta(hours=1))
    lazy.preload(counted())
    assert drawn == 0
    lazy.advance(events[0].time)
    assert drawn > 100 and lazy._initial == [] and len(lazy.accounts) > 10
    assert _finish(lazy, events) == whole

    early = _engine(directory)  # build_engine preloads the register as it comes
    blob = early.snapshot()
    restored = _engine(directory)
    restored.restore(blob)
    assert _finish(early, events) == whole
    assert _finish(restored, events) == whole


def test_accounts_share_empty_sets_and_roles_and_register_checks_share_their_evidence(
    month: tuple[Path, list[Event]],
) -> None:
    """An account's unfilled sets are the one shared empty set, equal roles are one frozenset, and the register
    checks of one account hold one `seen` tuple between them (bench/README, "State"), in the engine and restored."""
    from monitor.facts import _EMPTY_SET
    from monitor.rules._register import Judging

    directory, events = month
    a = _engine(directory)
    a.advance(events[0].time)  # folds the register
    c = build_engine(load_profile("default"), None)
    c.restore(a.snapshot())
    for e in (a, c):
        accounts = list(e.accounts.values())
        assert len(accounts) > 10
        assert any(not x.platform_admins for x in accounts)
        assert len({id(x.platform_admins) for x in accounts if not x.platform_admins}) == 1
        assert len({id(x.confirmed) for x in accounts if not x.confirmed}) == 1
        roles = [r for x in accounts for r in x.roles.values()]
        assert len({id(r) for r in roles}) == len(set(roles)) < len(roles)
        for aid, states in e.rule_state.items():
            judged = [s for s in states.values() if isinstance(s, Judging)]
            if e is a and e.accounts[aid].registered:
                assert len(judged) == 6  # DIR-02 to DIR-07
            staff = [states[ctl] for ctl in ("DIR-02", "DIR-03", "DIR-05") if ctl in states]
            assert len({id(s.seen) for s in staff}) <= 1
    assert all(x.platform_admins is _EMPTY_SET for x in a.accounts.values() if not x.platform_admins)


def test_a_state_s_datetimes_come_back_equal_with_their_fold_and_zone_and_shared() -> None:
    """The table of times kept each datetime's fields but not its fold (a wall time given twice by a clock going
    back): all the engine's times are UTC, where the fold changes nothing, but the table must not change a time."""
    from zoneinfo import ZoneInfo

    london = ZoneInfo("Europe/London")
    twice = datetime(2026, 10, 25, 1, 30, tzinfo=london)  # the clocks go back at 02:00 BST: 01:30 happens twice
    state = {"a": [twice, twice.replace(fold=1)], "b": (datetime(2026, 11, 2, 9, tzinfo=UTC),) * 2}
    back = loads_state(dumps_state(state))
    assert back == state and [t.fold for t in back["a"]] == [0, 1]
    assert [t.utcoffset() for t in back["a"]] == [timedelta(hours=1), timedelta(0)]
    assert back["b"][0] is back["b"][1]  # equal times come back as one object
