"""MFA-01's words say which side is off: the register, or the platform whose last word was that MFA was disabled."""

from __future__ import annotations

import pytest

from monitor.rules.mfa_01_mfa_enabled import CASES
from tests.monitor.caserun import run_case

SAID = [
    ("disabled on the platform, then the directory edited to say on: still open (nothing turned it on)",
     "acc-1 was recorded in the directory as having MFA on, but the platform's last word is that p-2 disabled it at "
     "2026-01-06 10:00Z"),
    ("re-registered with MFA on after it was disabled while retired: alert, saying the platform disabled it",
     "acc-1 was registered with MFA on, but the platform's last word is that p-2 disabled it, still so 1h after "
     "registration, at 2026-01-07 10:00Z"),
    ("registered with MFA off, still off after the grace period: alert",
     "acc-1 was registered with MFA off and it was still off 1h later, at 2026-01-05 10:00Z"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "summary"), SAID, ids=[s[0] for s in SAID])
def test_the_alert_says_what_is_off(name: str, summary: str) -> None:
    (case,) = [c for c in CASES if c.name == name]
    alerts, _ = run_case(case)
    assert [a.summary for a in alerts if a.control == "MFA-01"] == [summary]
