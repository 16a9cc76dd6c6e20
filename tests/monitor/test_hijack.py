"""The changes only admins or the manager may make (CHANGE_TYPES) are read alike by every rule that uses them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from monitor.rules import RULES
from monitor.rules._fixtures import account, directory, login, staff, temporary_access
from monitor.rules._hijack import ACTING_TYPES, CHANGE_TYPES, stamp
from monitor.rules.base import Case
from tests.monitor.caserun import run_case


def test_every_guarded_change_is_an_admin_action_and_a_hijack_sign() -> None:
    for control, types in (("CRD-05", CHANGE_TYPES), ("SIG-01", CHANGE_TYPES), ("EMG-01", ACTING_TYPES)):
        missing = set(types) - RULES[control].on
        assert not missing, f"{control} does not read {sorted(missing)}"
    assert set(CHANGE_TYPES) <= set(ACTING_TYPES), "a guarded change is also an act (LVR-03, EMG-01)"
    assert "credential.temporary_access" in CHANGE_TYPES, "a temporary password replaces the credential"


def test_a_temporary_password_set_from_an_unmanaged_device_is_evidence_of_sig_01() -> None:
    # The unmanaged sign-in alone raises the same SIG-01 alert (one key per device), so a case cannot tell
    # whether the change was read: its evidence and summary can.
    case = Case(
        "temporary password after an unmanaged sign-in",
        "alert",
        (
            login("2026-04-01T09:00:00Z", "l-1", managed=False),
            temporary_access("2026-04-01T09:05:00Z", "v-1", "p-2", "2026-04-02T09:00:00Z", actor_id="p-1"),
        ),
        directory(account(), people=staff("p-1", "p-2")),
    )
    alerts, _ = run_case(case)
    (sig,) = [a for a in alerts if a.control == "SIG-01"]
    assert sig.evidence == ["l-1", "v-1"]
    assert "set a temporary password for p-2 (takeover until 2026-04-02 09:00Z) on acc-1" in sig.summary


_ZONES = st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30)), timezone(-timedelta(hours=11))])


@given(st.datetimes(timezones=_ZONES))
def test_stamp_is_strftime_to_the_minute_in_utc(t: datetime) -> None:
    # stamp spells the time out by hand for speed; it must stay the text strftime gives, years before 1000 included.
    try:
        expected = f"{t.astimezone(UTC):%Y-%m-%d %H:%M}Z"
    except OverflowError:
        return
    assert stamp(t) == expected
