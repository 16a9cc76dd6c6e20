"""EMG-01's lockouts, which a rule case cannot count: a hijack gets a lockout unless one issued at or after its sign
covers it, whatever alert issued that one; the next step says what was done (issued, covered, or advised only);
and an attacker back in after the episode's lockout gets another, once per burst."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import yaml

from monitor.directory import parse_directory
from monitor.engine import Engine
from monitor.policy import Profile, load_profile
from monitor.replay import build_engine, replay
from monitor.rules._fixtures import account, directory, leaver, login, platform_admin_added, rotated, staff
from monitor.rules.base import ev

_DIR = directory(account(), people=staff("p-1", "p-2"))
_EXECUTOR = "lockout-executor"


def _engine(events: list[dict[str, Any]], profile: str | Profile = "default") -> Engine:
    prof = load_profile(profile) if isinstance(profile, str) else profile
    engine = build_engine(prof, parse_directory(yaml.safe_dump(_DIR)))
    result = replay(engine, [("test", i + 1, json.dumps(e).encode()) for i, e in enumerate(events)])
    assert not result.rejected and not engine.stats.rule_errors
    return engine


def _with_executor() -> Profile:
    """The default profile, naming the lockout executor as a service actor."""
    p = load_profile("default")
    return p.model_copy(update={"parameters": p.parameters.model_copy(update={"service_actors": (_EXECUTOR,)})})


def _emg_01(engine: Engine) -> list[Any]:
    return [a for a in engine.final_alerts() if a.control == "EMG-01"]


def _issued(engine: Engine) -> list[datetime]:
    return [x.issued_at for x in engine.lockouts]


def _t(s: str) -> datetime:
    return datetime.fromisoformat(s)


def _report(time: str, id_: str = "cr-1") -> dict[str, Any]:
    return ev("account.compromise_reported", time, id_, account_id="acc-1", reporter_id="p-2")


def _mfa_off(time: str, id_: str, actor: str = "p-x") -> dict[str, Any]:
    return ev("mfa.disabled", time, id_, account_id="acc-1", actor_id=actor)


# HR reports p-1's leaving a day after they signed in: LVR-03 raises, with a lockout, when the report comes.
_LATE_LEAVER = [
    login("2026-07-02T08:00:00Z", "l-1"),
    leaver("2026-07-03T09:00:00Z", "hr-1", "p-1", "2026-07-01T17:00:00Z"),
]


def test_a_hijack_after_another_alert_s_lockout_gets_its_own() -> None:
    """LVR-03's lockout of the day before, still open, cannot cut off a stranger disabling MFA now."""
    engine = _engine([*_LATE_LEAVER, _mfa_off("2026-07-04T03:00:00Z", "m-1")])
    assert _issued(engine) == [_t("2026-07-03T09:00:00Z"), _t("2026-07-04T03:00:00Z")], engine.lockouts
    [alert] = _emg_01(engine)
    second = engine.lockouts[1]
    assert second.alert_id == alert.id, second
    assert f"Emergency lockout {second.id} issued" in alert.next_step, alert.next_step


def test_a_sign_before_a_lockout_under_way_is_covered_by_it_and_the_next_step_says_so() -> None:
    """A sign stamped before LVR-03's lockout (judged late, at its own time) is cut off by that lockout: no second."""
    engine = _engine([*_LATE_LEAVER, _mfa_off("2026-07-03T08:00:00Z", "m-1")])
    assert len(engine.lockouts) == 1, engine.lockouts
    [alert] = _emg_01(engine)
    first = engine.lockouts[0]
    assert first.id in alert.next_step and "covers" in alert.next_step, alert.next_step


def test_a_leaver_s_act_raising_lvr_03_and_emg_01_at_once_gets_one_lockout_both_name() -> None:
    engine = _engine([leaver("2026-07-01T09:00:00Z", "hr-1", "p-1", "2026-07-01T17:00:00Z"),
                      login("2026-07-02T08:00:00Z", "l-1")])  # fmt: skip
    [lockout] = engine.lockouts
    named = [a for a in engine.final_alerts() if a.control in ("EMG-01", "LVR-03")]
    assert len(named) == 2 and all(lockout.id in a.next_step for a in named), named


def test_an_advisory_emg_01_says_the_lockout_is_advised_not_issued() -> None:
    engine = _engine([_report("2026-07-01T20:00:00Z")], "london-met")
    assert engine.lockouts == []
    [alert] = _emg_01(engine)
    assert "issued for" not in alert.next_step and "by hand" in alert.next_step, alert.next_step
    assert "end every session" in alert.next_step, alert.next_step


def test_an_advisory_emg_01_names_an_enforced_lvr_03_lockout_that_covers_it() -> None:
    """Under london-met LVR-03 is enforced: a leaver's act after EMG-01's advice gets LVR-03's lockout, and a
    stranger's change after that lockout is covered by it only when stamped before it."""
    engine = _engine([*_LATE_LEAVER, _mfa_off("2026-07-03T08:00:00Z", "m-1")], "london-met")
    [lockout] = engine.lockouts
    [alert] = _emg_01(engine)
    assert lockout.id in alert.next_step and "covers" in alert.next_step, alert.next_step


def test_the_attacker_back_after_the_lockout_gets_a_second_once_per_burst() -> None:
    """The reviewer's case, executor unnamed (service_actors empty): its rotation ten minutes after the lockout is
    part of the burst the lockout cut off; the stranger's rotation three hours later shows the lockout did not hold,
    and the admin they add a minute after belongs to that second burst."""
    engine = _engine([
        _report("2026-07-01T20:00:00Z"),
        rotated("2026-07-01T20:10:00Z", "v-0", actor_id=_EXECUTOR),
        rotated("2026-07-01T23:00:00Z", "v-1", actor_id="p-x"),
        platform_admin_added("2026-07-01T23:01:00Z", "pa-1", "p-x", actor_id="p-x"),
    ])  # fmt: skip
    assert _issued(engine) == [_t("2026-07-01T20:00:00Z"), _t("2026-07-01T23:00:00Z")], engine.lockouts
    [alert] = _emg_01(engine)
    assert {x.alert_id for x in engine.lockouts} == {alert.id}
    assert engine.lockouts[1].id in alert.next_step, alert.next_step
    assert "at 2026-07-01 23:00Z" in engine.lockouts[1].reason, engine.lockouts[1].reason  # the sign it is for


def test_signs_within_the_relock_interval_of_the_lockout_join_it() -> None:
    interval = load_profile("default").parameters.relock_after
    end = _t("2026-07-01T20:00:00Z") + interval
    engine = _engine([
        _report("2026-07-01T20:00:00Z"),
        rotated("2026-07-01T20:30:00Z", "v-1", actor_id="p-x"),
        _mfa_off(end.isoformat().replace("+00:00", "Z"), "m-1"),  # exactly at the end of the interval: still in it
    ])  # fmt: skip
    assert len(engine.lockouts) == 1, engine.lockouts
    later = end + timedelta(seconds=1)
    engine = _engine([_report("2026-07-01T20:00:00Z"), _mfa_off(later.isoformat().replace("+00:00", "Z"), "m-1")])
    assert len(engine.lockouts) == 2, engine.lockouts


def test_a_sign_after_the_named_executor_acted_gets_a_second_lockout_at_once() -> None:
    """The executor's rotation (a service actor) carried the lockout out; a stranger's change after it, even within
    the interval, shows it did not hold. The executor's own rotation neither alerts nor ends the episode."""
    engine = _engine([
        _report("2026-07-01T20:00:00Z"),
        rotated("2026-07-01T20:10:00Z", "v-0", actor_id=_EXECUTOR),
        rotated("2026-07-01T20:20:00Z", "v-1", actor_id="p-x"),
        platform_admin_added("2026-07-01T20:21:00Z", "pa-1", "p-x", actor_id="p-x"),
    ], _with_executor())  # fmt: skip
    assert _issued(engine) == [_t("2026-07-01T20:00:00Z"), _t("2026-07-01T20:20:00Z")], engine.lockouts
    [alert] = _emg_01(engine)
    assert alert.status == "open" and "v-0" not in alert.evidence, alert
    assert not [a for a in engine.final_alerts() if a.control == "CRD-05" and "v-0" in a.evidence]


def test_the_named_executor_s_rotation_alone_brings_no_second_lockout() -> None:
    engine = _engine([_report("2026-07-01T20:00:00Z"), rotated("2026-07-01T23:10:00Z", "v-0", actor_id=_EXECUTOR)],
                     _with_executor())  # fmt: skip
    assert len(engine.lockouts) == 1, engine.lockouts
    [alert] = _emg_01(engine)
    assert alert.status == "open", alert


def test_a_replay_issues_the_same_lockouts_with_the_same_ids() -> None:
    events = [_report("2026-07-01T20:00:00Z"), rotated("2026-07-01T23:00:00Z", "v-1", actor_id="p-x")]
    first, again = _engine(events), _engine(events)
    assert [x.id for x in first.lockouts] == [x.id for x in again.lockouts] and len(first.lockouts) == 2
    assert len({x.id for x in first.lockouts}) == 2


def test_a_named_executor_may_do_what_a_lockout_asks_and_nothing_more() -> None:
    """service_actors let the executor make any change unseen: MFA off or an admin added under its name is a likely
    hijack like anybody's, while its rotation and its removal of an admin are the lockout carried out."""
    removed = ev("platform.admin_removed", "2026-07-01T20:06:00Z", "pr-1", account_id="acc-1", actor_id=_EXECUTOR,
                 person_id="p-x")  # fmt: skip
    mfa_off = ev("mfa.disabled", "2026-07-02T09:00:00Z", "m-1", account_id="acc-1", actor_id=_EXECUTOR)
    engine = _engine([rotated("2026-07-01T20:05:00Z", "v-1", actor_id=_EXECUTOR), removed, mfa_off], _with_executor())
    crd_05 = [a for a in engine.final_alerts() if a.control == "CRD-05"]
    assert [a.evidence for a in crd_05] == [["m-1"]], crd_05
    assert [a.evidence[0] for a in _emg_01(engine)] == ["m-1"]
