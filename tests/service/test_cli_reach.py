"""After HR's report is taken, `monitor hr` says which accounts the person reaches, or that the register does not
name them: a mistyped id must not look like a leaver with nothing to revoke."""

from __future__ import annotations

import pytest

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
