"""LVR-03 raises one alert per leaver and account: a corrected HR report (a second hr.leaver for the same person,
with a new event id and a leaving time still before their act) joins the alert raised on the first report instead
of raising a second for the same act. A rule case cannot count alerts, so these do."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest
import yaml

from monitor.directory import parse_directory
from monitor.engine import Engine, alert_id
from monitor.policy import load_profile
from monitor.replay import build_engine, replay
from monitor.rules._fixtures import account, directory, leaver, login, staff
from monitor.rules.lvr_03_acted_after_leaving import CASES

_DIR = directory(account(), people=staff("p-1", "p-2"))
_FIRST = leaver("2026-11-02T09:00:00Z", "hr-1", "p-1", "2026-11-06T17:00:00Z")
_LATE = leaver("2026-11-08T09:00:00Z", "hr-1", "p-1", "2026-11-06T17:00:00Z")  # after the act
_CORRECTED = leaver("2026-11-09T09:00:00Z", "hr-9", "p-1", "2026-11-05T17:00:00Z")  # a day earlier, new id
_ACT = login("2026-11-07T08:00:00Z", "l-1")
_ACT_AT = datetime.fromisoformat("2026-11-07T08:00:00Z")
_ALERT = alert_id("LVR-03", "acc-1", "p-1", "hr-1")  # keyed on the first report, as before


def _engine(events: list[dict[str, Any]], register: dict[str, Any] = _DIR) -> Engine:
    engine = build_engine(load_profile("default"), parse_directory(yaml.safe_dump(register)))
    _feed(engine, events)
    return engine


def _feed(engine: Engine, events: list[dict[str, Any]]) -> None:
    result = replay(engine, [("test", i + 1, json.dumps(e).encode()) for i, e in enumerate(events)])
    assert not result.rejected and not engine.stats.rule_errors


def _lvr_03(engine: Engine) -> list[Any]:
    return [a for a in engine.final_alerts() if a.control == "LVR-03"]


@pytest.mark.parametrize(
    "events",
    [[_FIRST, _ACT, _CORRECTED], [_ACT, _LATE, _CORRECTED]],
    ids=["reported-before-the-act", "reported-after-the-act"],
)
def test_a_corrected_report_joins_the_alert_rather_than_raising_a_second(events: list[dict[str, Any]]) -> None:
    engine = _engine(events)
    [alert] = _lvr_03(engine)
    assert alert.id == _ALERT, alert
    assert {"hr-1", "hr-9", "l-1"} <= set(alert.evidence), alert.evidence
    assert alert.status == "open"
    assert "2026-11-05 17:00Z" in alert.summary, alert.summary  # the corrected leaving time
    assert len(engine.lockouts) == 1, engine.lockouts  # LVR-03's or EMG-01's, for the same act
    assert engine.rule_state["acc-1"]["LVR-03"] == {"p-1": ("hr-1", "l-1")}


def test_the_leaver_acting_again_after_a_correction_joins_the_same_alert() -> None:
    """LVR-03 joins; EMG-01 locks out again: the leaver back three days after the lockout shows it did not hold."""
    engine = _engine([_FIRST, _ACT, _CORRECTED, login("2026-11-10T08:00:00Z", "l-2")])
    [alert] = _lvr_03(engine)
    assert alert.id == _ALERT and alert.evidence[-1] == "l-2", alert
    assert [x.issued_at for x in engine.lockouts] == [_ACT_AT, datetime.fromisoformat("2026-11-10T08:00:00Z")]
    assert engine.lockouts[1].alert_id == alert_id("EMG-01", "acc-1", None, "l-1"), engine.lockouts


def _resolve_all(engine: Engine, at: str) -> None:
    for a in list(engine.alerts.values()):
        if a.status != "resolved":
            engine.resolve(a.id, "sec-1", datetime.fromisoformat(at), "seat removed, credential rotated")


def test_a_corrected_report_about_an_act_dealt_with_reopens_nothing_and_locks_nothing_out() -> None:
    """The act was alerted, locked out and resolved; HR then corrects the leaving date: nothing new happened, so a
    second lockout would end sessions and rotate the credential again for an act already handled."""
    engine = _engine([_FIRST, _ACT])
    _resolve_all(engine, "2026-11-07T10:00:00Z")
    _feed(engine, [_CORRECTED])
    [alert] = _lvr_03(engine)
    assert (alert.id, alert.status) == (_ALERT, "resolved"), alert
    assert len(engine.lockouts) == 1, engine.lockouts


def test_the_leaver_acting_again_after_the_alert_was_resolved_reopens_it_with_a_new_lockout() -> None:
    engine = _engine([_FIRST, _ACT])
    _resolve_all(engine, "2026-11-07T10:00:00Z")
    _feed(engine, [login("2026-11-21T08:00:00Z", "l-2")])
    [alert] = _lvr_03(engine)
    assert (alert.id, alert.status, alert.evidence[-1]) == (_ALERT, "open", "l-2"), alert
    assert len(engine.lockouts) == 2, engine.lockouts


def test_a_new_leaving_after_a_cancelled_one_raises_a_new_alert_not_the_old_one_reopened() -> None:
    """HR reported p-1 leaving by mistake and cancelled it after an alert; a year later p-1 really leaves and signs
    in after: a new alert, dated then and keyed on the new report, not last year's reopened."""
    cancel = {**_FIRST, "id": "hr-2", "type": "hr.leaver_cancelled", "time": "2026-11-08T09:00:00Z",
              "data": {"person_id": "p-1"}}  # fmt: skip
    engine = _engine([_FIRST, _ACT, cancel])
    _resolve_all(engine, "2026-11-08T10:00:00Z")
    assert "LVR-03" not in engine.rule_state.get("acc-1", {}), engine.rule_state  # forgotten with the leaving
    _feed(engine, [leaver("2027-10-01T09:00:00Z", "hr-5", "p-1", "2027-10-05T17:00:00Z"),
                   login("2027-10-06T08:00:00Z", "l-9")])  # fmt: skip
    new = [a for a in _lvr_03(engine) if a.status == "open"]
    assert [a.id for a in new] == [alert_id("LVR-03", "acc-1", "p-1", "hr-5")], _lvr_03(engine)
    assert new[0].raised_at == datetime.fromisoformat("2027-10-06T08:00:00Z")


def test_a_correction_to_after_the_act_raises_nothing_new() -> None:
    """HR moves the leaving time past the act: no new alert, and the one raised stays (README: a corrected report
    does not withdraw it)."""
    later = leaver("2026-11-09T09:00:00Z", "hr-9", "p-1", "2026-11-08T17:00:00Z")
    engine = _engine([_FIRST, _ACT, later])
    [alert] = _lvr_03(engine)
    assert (alert.id, alert.status) == (_ALERT, "open")


_ONE_ALERT_CASES = [c for c in CASES if "the same alert" in c.name]


def test_the_rule_has_cases_about_one_alert() -> None:
    assert len(_ONE_ALERT_CASES) >= 2, [c.name for c in CASES]


@pytest.mark.parametrize("case", _ONE_ALERT_CASES, ids=lambda c: c.name)
def test_the_rule_cases_about_one_alert_raise_one(case: Any) -> None:
    """The cases beside the rule that say "the same alert" raise exactly one LVR-03 alert."""
    assert case.directory is not None
    engine = _engine(list(case.events), case.directory)
    assert len(_lvr_03(engine)) == 1, [a.summary for a in _lvr_03(engine)]
