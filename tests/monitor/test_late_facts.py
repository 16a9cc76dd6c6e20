"""An event that arrives after a newer one (past the reorder buffer) is judged at its own time and must not move the
facts back: the monitor judges by event time, never by arrival (EVENTS.md). Each scenario here gives no alert with
its events in time order, and must give none in the late order either."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest
import yaml

from monitor.directory import parse_directory
from monitor.engine import Engine
from monitor.policy import load_profile
from monitor.replay import build_engine, replay
from monitor.rules._fixtures import account, directory, leaver, login, post, rotated, shared, staff
from monitor.rules.base import ev

_SHARED = directory(account(credential_model="shared_credential"), people=staff("p-1", "p-2", "p-3", "p-9"))
_NAMED = directory(account(), people=staff("p-1", "p-2", "p-9"))


def _engine(events: list[dict[str, Any]], register: dict[str, Any], until: str) -> Engine:
    engine = build_engine(load_profile("default"), parse_directory(yaml.safe_dump(register)))
    lines = [("test", i + 1, json.dumps(e).encode()) for i, e in enumerate(events)]
    result = replay(engine, lines, until=datetime.fromisoformat(until))
    assert not result.rejected and not engine.stats.rule_errors
    return engine


def _summaries(engine: Engine, *controls: str) -> list[str]:
    return sorted(f"{a.control} {a.status}: {a.summary}" for a in engine.final_alerts() if a.control in controls)


def _both_orders(events: list[dict[str, Any]], late: list[int], register: dict[str, Any], until: str, *controls: str):
    """The alerts of `controls` with the events in time order and in the order `late` gives."""
    in_order = _summaries(_engine(events, register, until), *controls)
    out_of_order = _summaries(_engine([events[i] for i in late], register, until), *controls)
    return in_order, out_of_order


_START = post("2026-02-01T08:00:00Z", "post-0", person_id="p-1")
_ROT_FEB = rotated("2026-02-01T09:00:00Z", "r1")
_SHARE_P3 = shared("2026-02-15T09:00:00Z", "s1", "p-3")
_P3_SIGNS_IN = login("2026-02-21T09:00:00Z", "l1", person_id="p-3", ip="10.0.0.3")


def test_a_late_rotation_keeps_the_holders_given_the_credential_after_it() -> None:
    """Rotation 1 Feb arriving after a share to p-3 on 15 Feb: p-3 still holds the credential when signing in."""
    events = [_START, _ROT_FEB, _SHARE_P3, _P3_SIGNS_IN]
    in_order, late = _both_orders(events, [0, 2, 1, 3], _SHARED, "2026-02-22T00:00:00Z", "SIG-02", "CRD-04", "EMG-01")
    assert in_order == [] and late == []


def test_a_late_share_from_before_the_last_rotation_gives_no_hold_on_the_new_credential() -> None:
    """A share on 1 Feb arriving after the 15 Feb rotation: p-3's sign-in after it is without access, as in order."""
    share = shared("2026-02-01T10:00:00Z", "s1", "p-3")
    rot = rotated("2026-02-15T09:00:00Z", "r1")
    events = [_START, share, rot, _P3_SIGNS_IN]
    in_order, late = _both_orders(events, [0, 2, 1, 3], _SHARED, "2026-02-22T00:00:00Z", "SIG-02", "CRD-04")
    assert in_order and late == in_order


def test_a_late_rotation_does_not_turn_the_credential_age_back() -> None:
    """Rotations on 1 Feb and 1 Mar, the first arriving last: CRD-01 falls due 90 days after 1 Mar, not 1 Feb."""
    start = post("2026-01-01T09:00:00Z", "post-0", person_id="p-1")
    r2 = rotated("2026-03-01T09:00:00Z", "r2")
    events = [start, _ROT_FEB, r2]
    for until in ("2026-05-15T00:00:00Z", "2026-05-30T09:00:00Z"):
        in_order, late = _both_orders(events, [0, 2, 1], _SHARED, until, "CRD-01")
        assert late == in_order
    in_order, late = _both_orders(events, [0, 2, 1], _SHARED, "2026-05-30T10:00:00Z", "CRD-01")
    assert late == in_order and len(late) == 1 and "last rotated at 2026-03-01" in late[0]


def test_a_late_rotation_leaves_the_current_fingerprint() -> None:
    """A late rotation's fingerprint is not the account's current one: CRD-06 does not match another account on it."""
    register = directory(
        account(credential_model="shared_credential"),
        account("acc-2", handle="UniSport", credential_model="shared_credential"),
        people=staff("p-1", "p-2", "p-9"),
    )
    old = rotated("2026-02-01T09:00:00Z", "r1", fingerprint="fp-old-0000")
    new = rotated("2026-03-01T09:00:00Z", "r2", fingerprint="fp-new-0000")
    other = rotated("2026-03-05T09:00:00Z", "r3", account_id="acc-2", fingerprint="fp-old-0000")
    events = [_START, old, new, other]
    in_order, late = _both_orders(events, [0, 2, 3, 1], register, "2026-03-06T00:00:00Z", "CRD-06")
    assert in_order == [] and late == []
    engine = _engine([events[i] for i in (0, 2, 3, 1)], register, "2026-03-06T00:00:00Z")
    acc = engine.accounts["acc-1"]
    assert (acc.fingerprint, acc.rotation_event) == ("fp-new-0000", "r2")
    assert engine.fingerprints.get("fp-new-0000") == {"acc-1"} and engine.fingerprints.get("fp-old-0000") == {"acc-2"}


def test_a_late_sign_in_does_not_turn_the_last_activity_back() -> None:
    """Sign-ins on 1 Jan, 15 Jan and 1 Mar, the 15 Jan one arriving last: not dormant on 15 Apr."""
    logins = [login(t, f"l{i}") for i, t in enumerate(("2026-01-01T09:00:00Z", "2026-01-15T09:00:00Z",
                                                       "2026-03-01T09:00:00Z"))]  # fmt: skip
    in_order, late = _both_orders(logins, [0, 2, 1], _NAMED, "2026-04-20T00:00:00Z", "SIG-05")
    assert in_order == [] and late == []


def test_a_late_post_does_not_turn_the_last_activity_back() -> None:
    events = [login("2026-01-01T09:00:00Z", "l0"), login("2026-03-01T09:00:00Z", "l1"),
              post("2026-01-15T09:00:00Z", "post-1", person_id="p-1")]  # fmt: skip
    in_order, late = _both_orders(sorted(events, key=lambda e: e["time"]), [0, 2, 1], _NAMED, "2026-04-20T00:00:00Z",
                                  "SIG-05")  # fmt: skip
    assert in_order == [] and late == []


def test_a_late_mfa_change_does_not_undo_a_newer_one() -> None:
    """MFA turned off on 1 Feb and back on 2 Feb, the 'off' arriving last: MFA is on, and no MFA-01 alert is open."""
    off = ev("mfa.disabled", "2026-02-01T09:00:00Z", "m1", account_id="acc-1", actor_id="p-2")
    on = ev("mfa.enabled", "2026-02-02T09:00:00Z", "m2", account_id="acc-1", actor_id="p-2")
    events = [_START, on, off, login("2026-02-03T09:00:00Z", "l1")]
    engine = _engine(events, _NAMED, "2026-02-10T00:00:00Z")
    assert engine.accounts["acc-1"].mfa_on is True
    assert not [a for a in engine.final_alerts() if a.control == "MFA-01" and a.status == "open"]


def test_a_late_seat_removal_does_not_replace_a_newer_one() -> None:
    """Two removals of p-1's seat; the older arriving last leaves the newer as the evidence kept."""
    from monitor.rules._fixtures import platform_admin_removed

    first = platform_admin_removed("2026-02-01T09:00:00Z", "pa-1", "p-1", actor_id="p-2")
    second = platform_admin_removed("2026-02-05T09:00:00Z", "pa-2", "p-1", actor_id="p-2")
    engine = _engine([_START, second, first], _NAMED, "2026-02-10T00:00:00Z")
    removed = engine.accounts["acc-1"].seats_removed
    assert removed is not None and removed["p-1"][1] == "pa-2"


@pytest.mark.parametrize("late", [False, True], ids=["in-order", "late"])
def test_a_late_rotation_before_a_share_to_the_leaver_does_not_do_their_duty(late: bool) -> None:
    """p-1 leaves on 6 Feb; the credential is rotated on 7 Feb and shared with them two hours later: LVR-01 alerts
    at the deadline, whether the rotation arrives in order or after the share."""
    notice = leaver("2026-02-02T09:00:00Z", "hr-1", "p-1", "2026-02-06T17:00:00Z")
    rot = rotated("2026-02-07T09:00:00Z", "r1")
    share = shared("2026-02-07T11:00:00Z", "s1", "p-1")
    events = [_START, notice, share, rot] if late else [_START, notice, rot, share]
    alerts = _summaries(_engine(events, _SHARED, "2026-02-12T00:00:00Z"), "LVR-01")
    assert len(alerts) == 1 and alerts[0].startswith("LVR-01 open")


def test_a_late_rotation_on_another_partitions_account_leaves_the_index_and_a_snapshot_keeps_it() -> None:
    """A Kafka worker indexes the fingerprints of accounts it does not own (CRD-06): a late rotation there leaves the
    newer fingerprint, and the time it judges by travels in the snapshot."""
    register = directory(account(), people=staff("p-1", "p-2", "p-9"))
    engine = build_engine(load_profile("default"), parse_directory(yaml.safe_dump(register)))
    engine.owns = lambda aid: aid != "acc-2"
    other = [rotated("2026-03-01T09:00:00Z", "r2", account_id="acc-2", fingerprint="fp-new-0000"),
             rotated("2026-02-01T09:00:00Z", "r1", account_id="acc-2", fingerprint="fp-old-0000")]  # fmt: skip
    replay(engine, [("test", i + 1, json.dumps(e).encode()) for i, e in enumerate([_START, *other])])
    assert engine.fingerprints.get("fp-new-0000") == {"acc-2"} and "fp-old-0000" not in engine.fingerprints
    restored = build_engine(load_profile("default"), parse_directory(yaml.safe_dump(register)))
    restored.restore(engine.snapshot())
    assert restored._foreign_fingerprints == engine._foreign_fingerprints


def _seat_changes() -> tuple[dict[str, Any], ...]:
    from monitor.rules._fixtures import platform_admin_added, platform_admin_removed

    return (
        platform_admin_added("2026-02-01T09:00:00Z", "pa-1", "p-9", actor_id="p-2"),
        platform_admin_removed("2026-02-03T09:00:00Z", "pr-1", "p-9", actor_id="p-2"),
        platform_admin_added("2026-02-05T09:00:00Z", "pa-2", "p-9", actor_id="p-2"),
    )


def test_a_late_seat_removal_older_than_the_seat_given_back_leaves_the_seat() -> None:
    """p-9's seat removed on 3 Feb and given back on 5 Feb, the removal arriving last; p-9 leaves on 7 Feb: the seat
    they still hold is LVR-01's to report, whichever order the platform's log arrived in."""
    add, removal, back = _seat_changes()
    notice = leaver("2026-02-06T09:00:00Z", "hr-1", "p-9", "2026-02-07T17:00:00Z")
    in_order, late = _both_orders(
        [_START, add, removal, back, notice], [0, 1, 3, 2, 4], _NAMED, "2026-02-20T00:00:00Z", "LVR-01"
    )
    assert len(in_order) == 1 and in_order[0].startswith("LVR-01 open"), in_order
    assert late == in_order


def test_a_late_seat_given_older_than_its_removal_does_not_give_it_back() -> None:
    """p-9's seat given on 1 Feb and removed on 3 Feb, the giving arriving last; p-9 leaves on 7 Feb with no seat left:
    nothing to report, whichever order the platform's log arrived in."""
    add, removal, _ = _seat_changes()
    notice = leaver("2026-02-06T09:00:00Z", "hr-1", "p-9", "2026-02-07T17:00:00Z")
    in_order, late = _both_orders(
        [_START, add, removal, notice], [0, 2, 1, 3], _NAMED, "2026-02-20T00:00:00Z", "LVR-01"
    )
    assert in_order == [] and late == in_order
