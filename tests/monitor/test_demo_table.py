"""The terminal table of alerts: one line each, saying when it was raised and last updated and on how much evidence."""

from __future__ import annotations

from datetime import UTC, datetime

from monitor.demo_table import alert_table
from schemas.alerts import Alert


def _alert(id_: str, severity: str, raised: datetime, updated: datetime, evidence: int) -> Alert:
    return Alert(
        id=id_, control="MFA-02", severity=severity, status="open", account_id="acc-097", person_id="p-0148",
        raised_at=raised, updated_at=updated, policy="default", sources=["001"],
        evidence=[f"si-{i}" for i in range(evidence)], summary=f"summary of {id_}", next_step="act",
    )  # fmt: skip


def test_a_row_shows_when_its_alert_was_raised_and_last_updated_and_its_evidence() -> None:
    raised, updated = datetime(2026, 10, 2, 9, 0, tzinfo=UTC), datetime(2026, 10, 23, 11, 26, tzinfo=UTC)
    table = alert_table([_alert("al-1", "high", raised, updated, 10), _alert("al-2", "critical", raised, raised, 1)])
    head, rule, first, second = table.splitlines()
    assert head.split() == ["SEVERITY", "CONTROL", "STATUS", "RAISED", "(UTC)", "UPDATED", "(UTC)", "ACCOUNT",
                            "PERSON", "EVID", "SUMMARY", "(as", "last", "updated)"]  # fmt: skip
    assert set(rule) == {"-"}
    assert first.split() == ["critical", "MFA-02", "open", "2026-10-02", "09:00", "2026-10-02", "09:00", "acc-097",
                             "p-0148", "1", "summary", "of", "al-2"]  # fmt: skip
    assert second.split()[3:10] == ["2026-10-02", "09:00", "2026-10-23", "11:26", "acc-097", "p-0148", "10"]
    assert head.index("EVID") + 4 == head.index(" SUMMARY") and first.index(" summary") == head.index(" SUMMARY")
