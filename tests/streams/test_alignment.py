"""Event-time alignment of the input partitions, without a broker."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from streams.alignment import UNKNOWN, Aligner, Lane, pause_changes, plan, watermark

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def lane(time: float | None, read: int | None = 5, end: int | None = 10, held: int = 0) -> Lane[str]:
    ln: Lane[str] = Lane(read=read, end=end, time=None if time is None else at(time))
    for i in range(held):
        ln.held.append((ln.time, f"h{i}"))
    return ln


def test_lanes_ahead_of_the_slowest_unread_lane_are_paused() -> None:
    p = plan({"signins": lane(600), "directory": lane(1), "hr": lane(3)}, margin=timedelta(minutes=2))
    assert p.limit == at(3)
    assert p.pause == {"signins"}  # hr is within the margin


def test_margin_zero_pauses_every_lane_ahead_of_the_floor() -> None:
    p = plan({"a": lane(10), "b": lane(1), "c": lane(1)})
    assert p.limit == at(1) and p.pause == {"a"}


def test_an_idle_lane_does_not_hold_the_others_back() -> None:
    lanes = {"signins": lane(600), "directory": lane(1, read=10, end=10)}
    p = plan(lanes)
    assert p.limit == at(600) and p.pause == set()
    assert plan({"a": lane(1, read=3, end=3), "b": lane(2, read=4, end=4)}).limit is None  # all read to the end


def test_an_idle_lane_still_holding_messages_counts_as_behind() -> None:
    p = plan({"signins": lane(600), "directory": lane(1, read=10, end=10, held=1)})
    assert p.limit == at(1) and p.pause == {"signins", "directory"}


def test_a_lane_with_unknown_position_or_end_stops_everything() -> None:
    # nothing read and no start offset known yet: it may hold the earliest event of all
    p = plan({"signins": lane(600), "hr": lane(None, read=None, end=None)})
    assert p.limit == UNKNOWN and p.pause == {"signins"}
    # its high-water mark not known yet
    assert plan({"signins": lane(600), "hr": lane(None, read=None, end=None)}).limit == UNKNOWN
    # an empty lane: reading starts at its end, so it is idle
    empty: Lane[str] = Lane(start=7, end=7)
    assert plan({"signins": lane(600), "hr": empty}).limit == at(600)
    # a lane with messages before its end, none read yet
    assert plan({"signins": lane(600), "hr": Lane(start=3, end=7)}).limit == UNKNOWN


def test_a_held_lane_is_not_unpaused_by_a_low_floor_elsewhere_until_its_messages_go() -> None:
    p = plan({"a": lane(1, held=1), "b": lane(5)})
    assert p.pause == {"a", "b"}  # a is the floor, but holds a message until it is released


def test_release_merges_lanes_in_event_time_and_holds_what_is_ahead() -> None:
    al: Aligner[str, str] = Aligner()
    al.assign(["signins", "directory"])
    for i, m in enumerate([0, 10, 20, 30]):
        al.read("signins", i, at(m), f"s{m}")
    assert al.release() == []  # directory may hold anything: nothing is known of it
    assert al.pause() == {"signins"}
    al.read("directory", 0, at(5), "d5")
    al.lanes["directory"].end = 3  # more to come from the directory
    al.lanes["signins"].end = 4
    assert al.release() == ["s0", "d5"]
    assert al.pause() == {"signins"}
    al.read("directory", 1, at(15), "d15")
    assert al.release() == ["s10", "d15"]
    al.read("directory", 2, at(25), "d25")  # the directory's last message: it is read to its end
    assert al.release() == ["s20", "d25"]  # but is it still? that end was learnt before s30 was read
    assert al.to_confirm() == ["directory"]
    al.confirm({"directory": 3}, al.reads)  # the broker says so, asked after s30 was read
    assert al.release() == ["s30"]
    assert al.pause() == set() and al.held() == 0
    # signins was read to its end after its end was last confirmed: the watermark stays at it until it is again
    assert al.to_confirm() == ["signins"] and watermark(al.lanes, timedelta(0)) == at(30)
    al.confirm({"signins": 4}, al.reads)
    assert al.to_confirm() == [] and watermark(al.lanes, timedelta(0)) == at(30)  # the newest read, caught up
    assert watermark(al.lanes, timedelta(minutes=5), NOW) == NOW - timedelta(minutes=5)  # or the wall clock


def test_a_lane_that_looks_idle_on_a_stale_end_holds_the_others_until_the_broker_confirms_it() -> None:
    """The flaw this guards against: a paused lane's cached end goes stale; once its held messages had gone it
    looked idle, and another lane's later events ran ahead of the events it had not fetched yet."""
    al: Aligner[str, str] = Aligner()
    al.assign(["signins", "hr"])
    al.lanes["signins"].start = al.lanes["hr"].start = 0
    al.lanes["signins"].end, al.lanes["hr"].end = 100, 1  # hr's end as the client last saw it
    al.read("hr", 0, at(9), "hr9")
    al.read("signins", 0, at(10), "s10")
    al.confirm({"signins": 100, "hr": 1}, al.reads)
    assert al.release() == ["hr9", "s10"]
    al.read("signins", 1, at(600), "s600")  # read after hr gained a message at 20 the client has not seen
    assert al.release() == []
    assert al.to_confirm() == ["hr"]
    al.confirm({"hr": 2}, al.reads)  # the broker knows better: hr has one more
    assert al.release() == [] and al.to_confirm() == []  # hr may yield now: wait for it
    al.read("hr", 1, at(20), "hr20")
    # hr is read to the end the broker gave when asked after s600 was read: s600 may go
    assert al.release() == ["hr20", "s600"]


def test_a_confirmation_asked_before_a_message_was_read_does_not_free_it() -> None:
    al: Aligner[str, str] = Aligner()
    al.assign(["a", "b"])
    al.lanes["a"].start, al.lanes["a"].end, al.lanes["b"].start, al.lanes["b"].end = 0, 10, 0, 0
    seq = al.reads  # the question goes out now
    al.read("a", 0, at(1), "a1")  # the answer comes back after this was read
    al.confirm({"b": 0}, seq)
    assert al.release() == []
    al.confirm({"b": 0}, al.reads)
    assert al.release() == ["a1"]


def test_messages_without_event_time_go_at_the_head_of_their_lane_but_keep_its_order() -> None:
    al: Aligner[str, str] = Aligner()
    al.assign(["a", "b"])
    al.lanes["a"].end = al.lanes["b"].end = 100
    al.read("a", 0, at(50), "a50")
    al.read("a", 1, None, "dead")
    al.read("b", 0, None, "dead-b")
    assert al.release() == ["dead-b"]  # b's time is unknown: nothing with a time can go
    al.read("b", 1, at(60), "b60")
    assert al.release() == ["a50", "dead"]
    assert al.lanes["a"].time == at(50)


def test_unassigned_lanes_are_dropped_with_what_they_held() -> None:
    al: Aligner[str, str] = Aligner()
    al.assign(["a", "b"])
    al.read("a", 0, at(1), "a1")
    al.assign(["b"])
    assert set(al.lanes) == {"b"} and al.held() == 0


@pytest.mark.parametrize("seed", range(20))
def test_no_event_is_forwarded_more_than_the_margin_after_a_later_one(seed: int) -> None:
    """Random skewed lanes, each in time order, read in random order: what is forwarded is never out of order by
    more than the margin (the property the engines' reorder buffer needs), and everything is forwarded."""
    rng = random.Random(seed)
    margin = timedelta(minutes=rng.choice([0, 1, 5]))
    lanes: dict[str, list[tuple[datetime, str]]] = {}
    for k in range(rng.randint(2, 6)):
        n = rng.randint(0, 40)
        step = rng.choice([0.1, 1, 30, 600])
        times = sorted(at(rng.uniform(0, step * max(n, 1))) for _ in range(n))
        lanes[f"l{k}"] = [(t, f"l{k}-{i}") for i, t in enumerate(times)]
    al: Aligner[str, tuple[datetime, str]] = Aligner(margin)
    al.assign(lanes)
    for k, msgs in lanes.items():
        al.lanes[k].start, al.lanes[k].end = 0, len(msgs)
    pos = dict.fromkeys(lanes, 0)
    out: list[tuple[datetime, str]] = []

    def confirm() -> None:  # the router asks the broker (every message is there from the start: a backlog)
        al.confirm({k: len(lanes[k]) for k in al.to_confirm()}, al.reads)
        out.extend(al.release())

    while any(pos[k] < len(m) for k, m in lanes.items()):
        if rng.random() < 0.3:
            confirm()
        choices = [k for k, m in lanes.items() if pos[k] < len(m) and k not in al.pause()]
        while not choices and al.to_confirm():  # everything waits on an end to be confirmed: the timer's turn
            confirm()
            choices = [k for k, m in lanes.items() if pos[k] < len(m) and k not in al.pause()]
        assert choices, "deadlock: every lane with messages left is paused"
        k = rng.choice(choices)
        for _ in range(rng.randint(1, 5)):  # a fetch may deliver several before the pause applies
            if pos[k] < len(lanes[k]):
                t, name = lanes[k][pos[k]]
                al.read(k, pos[k], t, (t, name))
                pos[k] += 1
        out.extend(al.release())
    while al.to_confirm():
        confirm()
    assert sorted(x[1] for x in out) == sorted(x[1] for m in lanes.values() for x in m)
    high = None
    for t, _ in out:
        if high is not None:
            assert t >= high - margin
        high = t if high is None or t > high else high


@pytest.mark.parametrize("seed", range(30))
def test_a_live_feed_read_with_stale_ends_is_forwarded_within_the_margin_plus_the_feeds_own_skew(seed: int) -> None:
    """Events published live, in event-time order, to lanes the router reads with delays, pauses and cached ends
    that lag behind: what is forwarded is never out of order by more than margin + skew (how far the publisher
    lets one lane's event go out after a later one of another lane); 0 skew here."""
    rng = random.Random(seed)
    keys = [f"l{k}" for k in range(rng.randint(2, 5))]
    weights = [rng.choice([1, 5, 50]) for _ in keys]
    published: dict[str, list[datetime]] = {k: [] for k in keys}
    al: Aligner[str, tuple[datetime, str]] = Aligner()
    al.assign(keys)
    for k in keys:
        al.lanes[k].start, al.lanes[k].end = 0, 0
    al.confirm(dict.fromkeys(keys, 0), al.reads)
    pos = dict.fromkeys(keys, 0)
    out: list[tuple[datetime, str]] = []
    clock = 0.0
    for _ in range(400):
        step = rng.random()
        if step < 0.45:  # the publisher: the next event, in time order, to a lane
            clock += rng.uniform(0, 3)
            k = rng.choices(keys, weights)[0]
            published[k].append(at(clock))
        elif step < 0.8:  # the client fetches from an unpaused lane; its cached end is only what it fetched
            paused = al.pause()
            k = rng.choice(keys)
            if k not in paused and pos[k] < len(published[k]):
                for _ in range(rng.randint(1, 3)):
                    if pos[k] < len(published[k]):
                        t = published[k][pos[k]]
                        al.saw_end(k, pos[k] + 1)
                        al.read(k, pos[k], t, (t, f"{k}-{pos[k]}"))
                        pos[k] += 1
        elif step < 0.9:  # the refresh timer copies the client's cached ends: no newer than what it fetched
            for k in keys:
                al.saw_end(k, pos[k])
        else:  # the confirm timer asks the broker for the true ends of what it wants confirmed
            al.confirm({k: len(published[k]) for k in al.to_confirm()}, al.reads)
        out.extend(al.release())
    high = None
    for t, name in out:
        if high is not None:
            assert t >= high, f"{name} at {t} forwarded after an event at {high}"
        high = t if high is None or t > high else high


def test_pausing_is_applied_against_the_clients_state_at_that_moment() -> None:
    """The CI stall this guards against: a rebalance landed between the router's decision and its call to the
    client, the client kept a partition paused that the router thought it fetched, and the floor waited on it."""
    mine = lambda k: k.startswith("in")  # noqa: E731
    # a fresh assignment came with nothing paused: what the router wants paused is paused again
    assert pause_changes(["in0", "in1", "work0"], [], ["in1"], mine) == (["in1"], [])
    # a pause asked for before the rebalance is still in place but no longer wanted: resumed
    assert pause_changes(["in0", "in1"], ["in0", "in1"], ["in1"], mine) == ([], ["in0"])
    # only partitions assigned now are paused; paused partitions of other topics are not this router's
    assert pause_changes(["in0"], ["work0"], ["in0", "in9"], mine) == (["in0"], [])
    assert pause_changes(["in0"], ["in0"], ["in0"], mine) == ([], [])


def test_a_stale_cached_end_does_not_lower_a_confirmed_one() -> None:
    """The router copies the client's cached high-water marks every refresh; a paused lane's is older than the
    end the broker confirmed, and taking it would make the lane look idle while it may still yield."""
    al: Aligner[str, str] = Aligner()
    al.assign(["a", "b"])
    al.lanes["a"].start = al.lanes["b"].start = 0
    al.saw_end("a", 10)
    al.read("b", 0, at(1), "b0")
    al.saw_end("b", 1)
    al.confirm({"b": 2}, al.reads)  # b has one more than the client has seen
    al.saw_end("b", 1)  # the refresh copies the stale cached end
    assert al.lanes["b"].end == 2 and al.lanes["b"].may_yield()


@pytest.mark.parametrize("seed", range(30))
def test_several_routers_feeding_one_engine_by_watermarks_release_every_event_in_time_order(seed: int) -> None:
    """Routers each holding some of the skewed input partitions of a backlog, stepping in random turns, send their
    forwarded events and watermarks to one work partition; an engine that releases events below the lowest
    watermark of all input partitions (streams/partition.py) gets none late and releases all in time order,
    however far one router runs ahead of another."""
    rng = random.Random(seed)
    lanes: dict[str, list[datetime]] = {}
    for k in range(rng.randint(2, 8)):
        n, step = rng.randint(0, 30), rng.choice([0.1, 1, 30, 600])
        lanes[f"l{k}"] = sorted(at(rng.uniform(0, step * max(n, 1))) for _ in range(n))
    keys = list(lanes)
    rng.shuffle(keys)
    cut = sorted(rng.sample(range(1, len(keys)), rng.randint(1, len(keys) - 1)))
    groups = [keys[a:b] for a, b in zip([0, *cut], [*cut, len(keys)], strict=True)]
    routers: list[Aligner[str, tuple[datetime, str]]] = []
    for group in groups:
        al: Aligner[str, tuple[datetime, str]] = Aligner()
        al.assign(group)
        for k in group:
            al.lanes[k].start, al.lanes[k].end = 0, len(lanes[k])
        routers.append(al)
    pos = dict.fromkeys(keys, 0)
    buffer: list[tuple[datetime, str]] = []
    marks: dict[str, datetime] = {}
    released: list[tuple[datetime, str]] = []
    bound: datetime | None = None

    def engine_takes(event: tuple[datetime, str] | None, mark: tuple[datetime, list[str]] | None) -> None:
        nonlocal bound
        if event is not None:
            assert bound is None or event[0] >= bound, f"{event[1]} late: the engine released up to {bound}"
            buffer.append(event)
        if mark is not None:
            for k in mark[1]:
                marks[k] = max(marks.get(k, mark[0]), mark[0])
            if len(marks) == len(keys):
                bound = min(marks.values())
                buffer.sort()
                while buffer and buffer[0][0] < bound:
                    released.append(buffer.pop(0))

    def step(al: Aligner[str, tuple[datetime, str]]) -> None:
        action = rng.random()
        if action < 0.6:  # a fetch from an unpaused lane of this router
            choices = [k for k in al.lanes if pos[k] < len(lanes[k]) and k not in al.pause()]
            if choices:
                k = rng.choice(choices)
                for _ in range(rng.randint(1, 4)):
                    if pos[k] < len(lanes[k]):
                        t = lanes[k][pos[k]]
                        al.read(k, pos[k], t, (t, f"{k}-{pos[k]}"))
                        pos[k] += 1
        elif action < 0.8:  # the confirm timer (every message was published before: a backlog)
            al.confirm({k: len(lanes[k]) for k in al.to_confirm()}, al.reads)
        else:  # the watermark timer
            mark = watermark(al.lanes, timedelta(0))
            if mark is not None:
                engine_takes(None, (mark, list(al.lanes)))
        for event in al.release():
            engine_takes(event, None)

    for _ in range(3000):
        step(rng.choice(routers))
    for al in routers:  # each router finishes its backlog and says so
        while any(lane.may_yield() for lane in al.lanes.values()) or al.to_confirm():
            step(al)
        mark = watermark(al.lanes, timedelta(0))
        if mark is not None:
            engine_takes(None, (mark, list(al.lanes)))
    everything = sorted((t, f"{k}-{i}") for k, ts in lanes.items() for i, t in enumerate(ts))
    assert released == everything[: len(released)]  # in time order, nothing skipped
    assert sorted(released + buffer) == everything  # the rest waits for a later event or the wall clock
    if everything and len(marks) == len(keys):
        assert all(t >= min(marks.values()) for t, _ in buffer)


def test_a_lane_is_paused_only_once_it_holds_enough_to_be_worth_it() -> None:
    """Pausing bounds memory; a live feed's lanes each hold a message or two for a moment, and pausing and
    resuming them for that cost a call into the consumer's thread per message (session 5: the watermark lagged
    0.4 to 1 s behind a 200 events/s feed; 0.1 to 0.3 s with a threshold)."""
    lanes = {"a": lane(1, held=1), "b": lane(5, held=3), "c": lane(9)}
    assert plan(lanes).pause == {"a", "b", "c"}  # c holds nothing but is read ahead of the floor (a)
    assert plan(lanes, hold=3).pause == {"b"}
    al: Aligner[str, str] = Aligner(hold=2)
    al.assign(["x", "y"])
    al.lanes["x"].end = al.lanes["y"].end = 10
    al.read("x", 0, at(5), "x5")
    assert al.pause() == set() and al.release() == []  # y is unknown: x5 is held, x keeps fetching
    al.read("x", 1, at(6), "x6")
    assert al.pause() == {"x"}


def test_a_watermark_does_not_pass_an_event_an_idle_lane_may_still_bring_before_a_held_one() -> None:
    """The two-worker flake (an MFA-03 alert replay did not give): workers read the month while it is published,
    so their lanes are read to their ends between the publisher's sends. credentials is idle, its end confirmed
    after its last read; the publisher then sends a device approval to it and a later sign-in to signins. The
    sign-in is read first and held: credentials' end was confirmed before it was read. The watermark must not
    pass the approval while the sign-in waits for that end, or the engine takes the approval late."""
    al: Aligner[str, str] = Aligner()
    al.assign(["signins", "credentials"])
    al.lanes["signins"].start = al.lanes["credentials"].start = 0
    al.saw_end("signins", 1)
    al.saw_end("credentials", 1)
    al.read("credentials", 0, at(0), "c0")
    al.read("signins", 0, at(1), "s1")
    al.confirm({"signins": 1, "credentials": 1}, al.reads)
    assert al.release() == ["c0", "s1"]
    assert watermark(al.lanes, timedelta(0)) == at(1)  # caught up: nothing it knows of is still to come
    # published now, in time order: the approval at 5 to credentials, a sign-in at 30 to signins
    al.saw_end("signins", 2)
    al.read("signins", 1, at(30), "s30")  # fetched before credentials' new end is known
    assert al.release() == [] and al.to_confirm() == ["credentials"]  # s30 waits for credentials' end
    mark = watermark(al.lanes, timedelta(0))
    assert mark is None or mark <= at(5), f"watermark {mark} passes the approval credentials may still bring"
    al.confirm({"credentials": 2}, al.reads)  # the broker: credentials has one more
    al.read("credentials", 1, at(5), "c5")
    assert al.release() == ["c5", "s30"]


@pytest.mark.parametrize("seed", range(40))
def test_routers_reading_a_live_feed_with_rebalances_send_no_watermark_an_event_comes_under(seed: int) -> None:
    """Events published in event-time order (no skew) while several routers read them, with stale cached ends,
    their own end questions, watermarks, commits and input partitions moved from one router to another (the new
    owner reads again from the committed offset; what the old one held is dropped, unacked): no event reaches the
    engine below the lowest watermark of all input partitions, with a lateness of 0 (the two-worker test starts its
    workers before it publishes the month)."""
    rng = random.Random(seed)
    keys = [f"l{k}" for k in range(rng.randint(2, 6))]
    weights = [rng.choice([1, 5, 50]) for _ in keys]
    published: dict[str, list[datetime]] = {k: [] for k in keys}
    routers: list[Aligner[str, tuple[datetime, str, int]]] = [Aligner() for _ in range(rng.randint(1, 3))]
    owner = {k: rng.randrange(len(routers)) for k in keys}
    pos = dict.fromkeys(keys, 0)  # where each lane's owner fetches next (its client's position)
    acked = dict.fromkeys(keys, 0)  # offset after the last message forwarded, in offset order
    committed = dict.fromkeys(keys, 0)
    for i, al in enumerate(routers):
        al.assign(k for k in keys if owner[k] == i)
        for k in al.lanes:
            al.lanes[k].start = 0
    marks: dict[str, datetime] = {}
    seen: set[str] = set()
    clock = 0.0

    def engine_takes(event: tuple[datetime, str, int]) -> None:
        if event[1] in seen:
            return  # a duplicate (read again after a move): the engine drops it before judging it
        seen.add(event[1])
        bound = min(marks.values()) if len(marks) == len(keys) else None
        assert bound is None or event[0] >= bound, f"{event[1]} at {event[0]} late: the watermarks passed {bound}"

    for _ in range(3000):
        step = rng.random()
        al = rng.choice(routers)
        if step < 0.35:  # the publisher: the next event, in time order, to a lane
            clock += rng.uniform(0, 3)
            k = rng.choices(keys, weights)[0]
            published[k].append(at(clock))
        elif step < 0.65:  # a router's client fetches from an unpaused lane; its cached end is what it fetched
            paused = al.pause()
            mine = [k for k in al.lanes if k not in paused and pos[k] < len(published[k])]
            if mine:
                k = rng.choice(mine)
                for _ in range(rng.randint(1, 3)):
                    if pos[k] < len(published[k]):
                        t = published[k][pos[k]]
                        al.saw_end(k, pos[k] + 1)
                        al.read(k, pos[k], t, (t, f"{k}-{pos[k]}", pos[k]))
                        pos[k] += 1
        elif step < 0.72:  # the refresh timer copies the client's cached ends
            for k in al.lanes:
                al.saw_end(k, pos[k])
        elif step < 0.82:  # the confirm timer asks the broker
            al.confirm({k: len(published[k]) for k in al.to_confirm()}, al.reads)
        elif step < 0.92:  # the watermark timer: a work message after everything this router forwarded
            mark = watermark(al.lanes, timedelta(0))
            if mark is not None and al.lanes:
                for k in al.lanes:
                    marks[k] = max(marks.get(k, mark), mark)
        elif step < 0.96:  # the consumer commits what was acked
            for k in keys:
                committed[k] = acked[k]
        elif len(routers) > 1:  # a rebalance moves a lane: its new owner reads again from the committed offset
            k = rng.choice(keys)
            old, new = routers[owner[k]], rng.randrange(len(routers))
            old.assign(x for x in old.lanes if x != k)
            owner[k] = new
            routers[new].assign([*routers[new].lanes, k])
            routers[new].lanes[k].start = pos[k] = acked[k] = committed[k]
        for event in al.release():
            engine_takes(event)
            k = event[1].rsplit("-", 1)[0]
            acked[k] = max(acked[k], event[2] + 1)


def test_a_lane_gained_in_a_rebalance_that_looks_empty_holds_the_watermark_until_its_end_is_confirmed() -> None:
    """What the two-worker test's workers did after each rebalance (seen in their logs): a lane gained with its
    committed offset at the client's cached end looks empty, and was left out of the watermark before the broker
    had confirmed that end, while messages of other lanes read meanwhile were held for it."""
    al: Aligner[str, str] = Aligner()
    al.assign(["signins", "credentials"])
    al.lanes["signins"].start, al.lanes["credentials"].start = 0, 40  # credentials' committed offset
    al.saw_end("signins", 3)
    al.saw_end("credentials", 40)  # the client's cached end: nothing after the committed offset, it seems
    al.read("signins", 0, at(30), "s30")
    al.read("signins", 1, at(31), "s31")
    assert al.release() == [] and al.to_confirm() == ["credentials"]
    assert watermark(al.lanes, timedelta(0)) is None  # credentials may yield anything until the broker says not
    al.confirm({"credentials": 41}, al.reads)  # an approval at 5 came after the committed offset
    assert watermark(al.lanes, timedelta(0)) is None  # and may now be read: its time is not known yet
    al.read("credentials", 40, at(5), "c5")
    assert al.release() == ["c5", "s30", "s31"]
