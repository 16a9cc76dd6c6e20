"""After HR's report is taken, `monitor hr` says which accounts the person reaches, or that the register does not
name them: a mistyped id must not look like a leaver with nothing to revoke."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from service import auth
from service.api import build_api
from service.client import Client
from service.embedded import EmbeddedMonitor
from tests.service.conftest import NOW
from tests.service.test_cli_api import Api, api, run_as

__all__ = ["api"]  # the fixture, used by name below


def test_a_leaver_is_answered_with_the_accounts_the_monitor_now_checks(
    api: Api, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    api.monitor.tick()  # the register is folded at the monitor's first moment
    people = api.monitor.engine.people
    pid = next(p for p, facts in sorted(people.items()) if facts.in_directory and len(facts.accounts) > 1)
    reach = sorted(people[pid].accounts)
    code, out, err = run_as(api, "hr", capsys, monkeypatch, "hr", "leaver", pid, "--leaving-at", "2026-12-10T17:00:00Z")
    assert code == 0, err
    assert out.splitlines()[1] == (
        f"{pid} reaches {len(reach)} registered accounts: {', '.join(reach)}; the monitor checks that each loses "
        f"their access (`monitor alerts list --person {pid}` shows what is still open)"
    )


def test_a_person_the_register_does_not_name_is_said_so_and_the_report_is_kept(
    api: Api, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, err = run_as(api, "hr", capsys, monkeypatch, "hr", "mover", "p-9999", "--effective-at",
                            "2026-12-10T17:00:00Z", "--new-role", "Lecturer")  # fmt: skip
    assert code == 0 and out.startswith("accepted 1, duplicates 0"), err
    assert "monitor: note: the register's directory does not name p-9999, so no account of theirs is known" in err
    assert len(out.splitlines()) == 1


def test_a_person_who_reaches_no_account_is_told_there_is_nothing_to_revoke(
    api: Api, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    api.monitor.tick()  # the register is folded at the monitor's first moment
    people = api.monitor.engine.people
    pid = next(p for p, facts in sorted(people.items()) if facts.in_directory and not facts.accounts)
    code, out, err = run_as(api, "hr", capsys, monkeypatch, "hr", "leaver", pid, "--leaving-at", "2026-12-10T17:00:00Z")
    assert code == 0 and "note" not in err, err
    assert out.splitlines()[1] == (
        f"{pid} holds no role, seat or credential on an account the monitor knows: nothing to revoke"
    )


def test_before_the_register_is_applied_nobody_is_said_to_be_missing_from_it(
    make_monitor: Callable[..., EmbeddedMonitor], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from monitor import cli
    from service.client import ClientError

    m = make_monitor(lateness=timedelta(minutes=5))  # the report waits in the reorder buffer: no first moment yet
    token = auth.create_token(m.store, "hr-1", "hr", NOW)
    app = build_api(m, console=False)

    def client(args: object) -> Client:
        c = Client("http://testserver", token)
        c.http.close()
        c.http = TestClient(app, headers={"Authorization": f"Bearer {token}"})
        return c

    monkeypatch.setattr(cli, "_client", client)
    monkeypatch.setattr(cli, "_utcnow", lambda: NOW)  # one clock for HR's command and the monitor
    code = cli.main(["hr", "leaver", "p-9999", "--leaving-at", "2026-12-10T17:00:00Z"])
    out, err = capsys.readouterr()
    assert m.engine.clock is None and code == 0 and out.startswith("accepted 1") and "note" not in err, err
    with pytest.raises(ClientError) as refused:
        client(None).call("GET", "/api/register/people/p-9999")
    assert refused.value.status == 503 and "not applied yet" in str(refused.value)


def test_the_register_answers_one_person_or_404(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    from monitor import cli
    from service.client import ClientError

    api.monitor.tick()
    monkeypatch.setenv("MONITOR_TOKEN", api.tokens["security"])
    client = cli._client(None)
    listed = client.call("GET", "/api/register/people")
    assert client.call("GET", f"/api/register/people/{listed[0]['person_id']}") == listed[0]
    with pytest.raises(ClientError) as err:
        client.call("GET", "/api/register/people/p-9999")
    assert err.value.status == 404 and str(err.value) == "404: no person with id p-9999 in the register"


def test_hr_can_withdraw_a_leaving_and_the_report_says_cancelled(
    api: Api, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rehire or a withdrawn notice (hr.leaver_cancelled): HR had no command for it, so the leaving stood, its
    duties fell overdue and what the person did after the date counted as acting after leaving (LVR-03)."""
    api.monitor.tick()  # the register is folded at the monitor's first moment
    people = api.monitor.engine.people
    pid = next(p for p, facts in sorted(people.items()) if facts.in_directory and facts.accounts)
    code, _, err = run_as(api, "hr", capsys, monkeypatch, "hr", "leaver", pid, "--leaving-at", "2026-12-10T17:00:00Z")
    assert code == 0, err
    code, out, err = run_as(api, "hr", capsys, monkeypatch, "hr", "cancel", pid)
    assert code == 0 and out.startswith("accepted 1, duplicates 0"), err
    assert out.splitlines()[1] == (
        f"{pid}: the leaving HR reported, if any, is withdrawn and its duties cancelled; a move HR reported stands"
    )
    rows = [r for r in api.monitor.leaver_report() if r.person_id == pid]
    assert rows and {r.status for r in rows} == {"cancelled"}
    assert people[pid].leaving_at is None
