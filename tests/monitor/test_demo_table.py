"""The terminal table of alerts: one line each, saying when it was raised and last updated and on how much evidence."""

from __future__ import annotations

import re
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


# What an event may carry in an id or a summary: a window title set, the screen cleared, a fake all-clear in red.
HOSTILE = "d\x1b]0;owned\x07\x1b[2J\x1b[1;31mFAKE: all clear\x1b[0m"
# Control characters (C0 but newline, DEL, C1) and bidirectional overrides: none may reach the terminal raw.
RAW = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def test_event_text_in_a_row_is_shown_as_escapes_never_sent_raw_to_the_terminal() -> None:
    """A device id from a sign-in is in the summary (and ids are anyone's text): its escape sequences cleared the
    analyst's screen and set the window title, and a newline in it could forge a row."""
    at = datetime(2026, 10, 2, 9, 0, tzinfo=UTC)
    hostile = _alert(f"al-{HOSTILE}", "high", at, at, 1).model_copy(
        update={"account_id": f"acc\u202e{HOSTILE}", "person_id": "p\x9b2J", "summary": f"from {HOSTILE}\nlow  x\r"}
    )
    for ids in (False, True):
        table = alert_table([hostile, _alert("al-2", "low", at, at, 1)], ids=ids, width=1000)
        assert not RAW.search(table), repr(table)
        _, _, first, second = table.splitlines()  # one line a row: the newline in the summary is shown, not made
        shown = "d\\u001b]0;owned\\u0007\\u001b[2J\\u001b[1;31mFAKE: all clear\\u001b[0m"
        assert f"from {shown}\\u000alow  x\\u000d" in first
        assert "acc\\u202ed\\u001b]0;owned" in first and " p\\u009b2J " in first
        assert ("al-d\\u001b]0;owned" in first) is ids
        assert second.split()[-3:] == ["summary", "of", "al-2"]
