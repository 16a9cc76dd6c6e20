"""The API clients of the `monitor` command against the real API (in process): a refusal is one line, exit 2."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from monitor import cli
from service import auth
from service.api import build_api
from service.client import Client
from service.embedded import EmbeddedMonitor
from tests.service.conftest import NOW


@dataclass
class Api:
    monitor: EmbeddedMonitor
    tokens: dict[str, str]
    comms: str


@pytest.fixture
def api(make_monitor: Callable[..., EmbeddedMonitor], monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    m = make_monitor()
    d = m.directory
    assert d is not None
    comms = next(p.person_id for p in d.people if "comms-team" in p.groups)
    tokens = {
        role: auth.create_token(m.store, comms if role == "comms" else f"{role}-1", role, NOW)
        for role in ("security", "hr", "comms", "admin")
    }
    app = build_api(m, console=False)

    def client(args: Any) -> Client:
        import os

        token = os.environ["MONITOR_TOKEN"]
        c = Client("http://testserver", token)
        c.http.close()
        c.http = TestClient(app, headers={"Authorization": f"Bearer {token}"})
        return c

    monkeypatch.setattr(cli, "_client", client)
    monkeypatch.setattr(cli, "_utcnow", lambda: NOW)  # one clock for the people's commands and the monitor
    yield Api(m, tokens, comms)


def run_as(
    api: Api, role: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *argv: str
) -> tuple[int, str, str]:
    monkeypatch.setenv("MONITOR_TOKEN", api.tokens[role])
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    ("role", "argv", "said"),
    [
        ("comms", ("emergency", "request", "acc-001", "--reason", "x", "--minutes", "-5"), "minutes: "),
        ("comms", ("emergency", "request", "acc-001", "--reason", "x", "--minutes", "100000"), "minutes: "),
        ("comms", ("emergency", "request", "acc-001", "--reason", "x", "--minutes", "0"), "minutes: "),
    ],
    ids=[
        "minutes-negative",
        "minutes-huge",
        "minutes-0",
    ],
)
def test_a_422_outside_events_is_a_refusal_in_one_line_not_a_traceback(
    api: Api,
    role: str,
    argv: tuple[str, ...],
    said: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    code, out, err = run_as(api, role, capsys, monkeypatch, *argv)
    assert code == 2, (out, err)
    assert err.startswith("monitor: 422: ") and said in err, err
    assert len(err.strip().splitlines()) == 1, err


def _mfa_01_alert(api: Api) -> str:
    """The id of an alert raised now: MFA turned off on acc-001 (MFA-01)."""
    off = {"specversion": "1.0", "id": "t-1", "source": "t", "type": "mfa.disabled", "time": "2026-10-30T10:00:00Z",
           "data": {"account_id": "acc-001", "actor_id": "p-0001"}}  # fmt: skip
    made = api.monitor.submit([("test", None, json.dumps(off).encode())], "test").alerts
    return next(a.id for a in made if a.control == "MFA-01")


def test_control_ids_are_taken_in_any_case_and_an_unknown_one_is_refused_listing_the_controls(
    api: Api, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from monitor.rules import RULES

    _mfa_01_alert(api)
    code, out, err = run_as(api, "security", capsys, monkeypatch, "alerts", "list", "--json", "--control", "mfa-01")
    controls = {json.loads(line)["control"] for line in out.splitlines()}
    assert code == 0 and controls == {"MFA-01"}, (out, err)
    sent: list[object] = []
    monkeypatch.setattr(Client, "call", lambda *a, **kw: sent.append(a))
    for bad in ("LVR-1", "XYZ-99"):  # the API's 422 in its own terms, and an empty list, silently
        code, out, err = run_as(api, "security", capsys, monkeypatch, "alerts", "list", "--control", "LVR-01",
                                "--control", bad)  # fmt: skip
        assert code == 2 and out == "" and sent == [], (out, err)
        assert err.startswith(f"monitor: no control {bad!r} (--control); the controls that raise alerts are "
                              "CRD-01, CRD-02,"), err  # fmt: skip
        alerting = [cid for cid, spec in RULES.items() if spec.kind == "alert"]
        assert all(cid in err for cid in alerting) and len(err.strip().splitlines()) == 1, err
    code, out, err = run_as(api, "security", capsys, monkeypatch, "alerts", "list", "--control", "lvr-05")
    assert code == 2 and out == "" and sent == [], (out, err)  # a report: it would list nothing, ever
    assert err == "monitor: LVR-05 is a report, not an alert: `monitor report leavers` or GET /api/leavers shows it\n"


def test_events_partly_rejected_are_an_answer_listing_them(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MONITOR_TOKEN", api.tokens["hr"])
    good = {"specversion": "1.0", "id": "t-1", "source": "t", "type": "hr.leaver", "time": "2026-10-30T10:00:00Z",
            "data": {"person_id": "p-0001", "leaving_at": "2026-10-30T17:00:00Z"}}  # fmt: skip
    out = cli._client(None).submit([good, {**good, "id": "t-2", "type": "hr.sacked"}])
    assert (out["accepted"], len(out["rejected"])) == (1, 1)


def test_an_hr_correction_back_to_an_earlier_date_is_taken_and_a_retry_is_not(
    api: Api, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import timedelta

    now = [NOW]
    monkeypatch.setattr(cli, "_utcnow", lambda: now[0])

    def leaver(day: str, *more: str) -> tuple[int, str, str]:
        return run_as(api, "hr", capsys, monkeypatch, "hr", "leaver", "p-0160", "--leaving-at", day, *more)

    first, later = "2026-12-10T17:00:00Z", "2026-12-12T17:00:00Z"
    assert leaver(first)[1].startswith("accepted 1, duplicates 0")
    code, out, err = leaver(first)  # a retry: one event, and said so
    assert code == 0 and out.startswith("accepted 0, duplicates 1") and "send it again with --again" in err
    assert leaver(later)[1].startswith("accepted 1, duplicates 0")
    assert leaver(first, "--again")[1].startswith("accepted 1, duplicates 0")  # the correction back, at once
    now[0] = NOW + timedelta(hours=1)
    assert leaver(later)[1].startswith("accepted 1, duplicates 0")  # and later, without --again
    logged = [json.loads(body) for _, _, body in api.monitor.store.log() if b'"hr.leaver"' in body]
    assert [ev["data"]["leaving_at"][:10] for ev in logged] == ["2026-12-10", "2026-12-12", "2026-12-10", "2026-12-12"]


def test_a_retry_across_the_edge_of_a_retry_window_is_one_event(
    api: Api, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from datetime import timedelta

    edge = NOW.replace(minute=15)  # a retry window starts here: the report's id alone would change across it
    now = [edge - timedelta(seconds=1)]
    monkeypatch.setattr(cli, "_utcnow", lambda: now[0])
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))

    def leaver(*more: str) -> str:
        return run_as(api, "hr", capsys, monkeypatch, "hr", "leaver", "p-0160", "--leaving-at", "2026-12-10T17:00:00Z",
                      *more)[1]  # fmt: skip

    assert leaver().startswith("accepted 1, duplicates 0")
    now[0] = edge + timedelta(seconds=1)
    assert leaver().startswith("accepted 0, duplicates 1")  # two seconds later, in the next window
    now[0] = edge + timedelta(minutes=14, seconds=58)
    assert leaver().startswith("accepted 0, duplicates 1")  # still within 15 minutes of the report
    now[0] = edge + timedelta(minutes=15)
    assert leaver().startswith("accepted 1, duplicates 0")  # 15 minutes on: a report of its own
    record = (tmp_path / "social-account-monitor" / "sent-reports.json").read_text()
    assert "p-0160" not in record and "2026-12-10" not in record  # digests, ids and times: no HR facts kept
    logged = [json.loads(body) for _, _, body in api.monitor.store.log() if b'"hr.leaver"' in body]
    assert [ev["time"] for ev in logged] == ["2026-11-02T09:14:59Z", "2026-11-02T09:30:00Z"]


def test_a_retry_is_still_one_event_when_the_sent_record_cannot_be_kept(
    api: Api, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "file"))  # not a folder: nothing can be written under it
    monkeypatch.setattr(cli, "_utcnow", lambda: NOW)
    argv = ("hr", "mover", "p-0160", "--effective-at", "2026-12-10T17:00:00Z", "--new-role", "Lecturer")
    assert run_as(api, "hr", capsys, monkeypatch, *argv)[1].startswith("accepted 1, duplicates 0")
    code, out, err = run_as(api, "hr", capsys, monkeypatch, *argv)
    assert code == 0 and out.startswith("accepted 0, duplicates 1"), err


def test_an_alert_id_is_one_path_segment_and_a_blank_resolve_note_is_refused(
    api: Api, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, _, err = run_as(api, "security", capsys, monkeypatch, "alerts", "ack", "al-x?y=1")
    assert code == 2 and err.startswith("monitor: 404: no alert") and "al-x?y=1" in err, err
    for note in ("", "   "):  # "" was a KeyError on the monitor's 422, then refused here as blank
        code, _, err = run_as(api, "security", capsys, monkeypatch, "alerts", "resolve", "al-x", "--note", note)
        assert code == 2 and err.startswith("monitor: say what was done with --note"), err


def test_resolving_a_resolved_alert_says_by_whom_and_when_and_that_its_note_is_unchanged(
    api: Api, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    alert_id = _mfa_01_alert(api)
    code, out, _ = run_as(api, "security", capsys, monkeypatch, "alerts", "resolve", alert_id, "--note", "done")
    assert code == 0 and out == f"{alert_id} MFA-01 resolved\n"
    resolved = api.monitor.read(lambda _, store: store.alert(alert_id))
    when = f"{resolved.updated_at.astimezone(UTC):%Y-%m-%d %H:%M}Z"
    code, out, _ = run_as(api, "security", capsys, monkeypatch, "alerts", "resolve", alert_id, "--note", "again")
    assert code == 0 and out == (f"{alert_id} MFA-01 resolved already, by security-1 at {when}: nothing changed, its "
                                 "note stays 'done' (yours, 'again', was not kept)\n")  # fmt: skip
    assert api.monitor.read(lambda _, store: store.alert(alert_id)) == resolved
    code, out, _ = run_as(api, "security", capsys, monkeypatch, "alerts", "resolve", alert_id, "--note", " done")
    assert out.endswith("its note stays 'done'\n")  # the same note: nothing is lost, but not resolved by this
    cli._client(None).call("POST", f"/api/alerts/{alert_id}/resolve", json={"note": "the API, again"})
    trail = api.monitor.read(lambda _, store: store.audit_trail(alert_id))
    assert [(e.action, e.detail) for e in trail] == [("alert.resolved", '{"note": "done"}')]  # one resolve, as it was


def test_an_alert_resolved_by_someone_else_just_before_is_said_to_be_resolved_already(
    api: Api, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    alert_id = _mfa_01_alert(api)
    call = Client.call

    def first_someone_else(c: Client, method: str, path: str, **kw: Any) -> Any:
        if method == "POST":  # between the command's look at the alert and its resolve
            api.monitor.resolve(alert_id, "security-2", "rotated and re-enrolled")
        return call(c, method, path, **kw)

    monkeypatch.setattr(Client, "call", first_someone_else)
    code, out, _ = run_as(api, "security", capsys, monkeypatch, "alerts", "resolve", alert_id, "--note", "done")
    assert code == 0 and f"{alert_id} MFA-01 resolved already, by security-2 at " in out
    assert out.endswith("its note stays 'rotated and re-enrolled' (yours, 'done', was not kept)\n")


def test_ctrl_c_while_the_monitor_works_is_one_line_saying_what_may_still_happen_not_a_traceback(
    api: Api,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    demo_files: tuple[Path, Path],
    tmp_path: Path,
) -> None:
    def interrupted(*a: Any, **kw: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(Client, "call", interrupted)
    code, out, err = run_as(api, "comms", capsys, monkeypatch, "directory", "import", str(demo_files[0]))
    said = err.strip().splitlines()[-1]
    assert code == 130 and out == "" and "Traceback" not in err, err
    assert said.startswith("monitor: interrupted while waiting for the monitor at http://testserver: what was sent "
                           "may still be carried out there"), said  # fmt: skip
    assert said.endswith("`monitor directory export` shows the register as the monitor has it, and importing the "
                         "file again takes only what still differs"), said  # fmt: skip
    code, out, err = run_as(api, "security", capsys, monkeypatch, "alerts", "list")  # a read: nothing to undo
    assert (code, out, err) == (130, "", "monitor: interrupted\n")
    leaver = ("hr", "leaver", "p-0160", "--leaving-at", "2026-12-10T17:00:00Z")
    code, _, err = run_as(api, "hr", capsys, monkeypatch, *leaver)
    assert code == 130 and err.endswith("the same command run again within 15 minutes of its first run is taken "
                                        "as a retry of it, not a second report\n"), err  # fmt: skip
    code, _, err = run_as(api, "hr", capsys, monkeypatch, *leaver, "--again")  # run again, a report of its own
    assert code == 130 and err.endswith("check what it did before sending it again\n"), err


def test_an_import_says_which_registered_accounts_its_file_leaves_out_and_whether_they_stay_or_would(
    api: Api,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    demo_files: tuple[Path, Path],
    tmp_path: Path,
) -> None:
    import yaml

    from service.register import export as register_export

    api.monitor.tick()  # the register it started with, in effect
    register = yaml.safe_load(demo_files[0].read_text())
    left_out = [a["account_id"] for a in register["accounts"][2:14]]  # twelve: ten named, two counted
    register["accounts"] = register["accounts"][:2] + register["accounts"][14:]
    path = tmp_path / "register.yaml"
    path.write_text(yaml.safe_dump(register, sort_keys=False))
    code, out, err = run_as(api, "comms", capsys, monkeypatch, "directory", "import", str(path))
    assert code == 0 and out == "0 changes: 0 taken, 0 already known\n", (out, err)
    named = ", ".join(sorted(left_out)[:10])
    assert err.splitlines()[-1] == (f"monitor: note: the file does not list 12 registered accounts ({named} and 2 "
                                    "more), which stay registered: --retire-missing retires what the file leaves "
                                    "out")  # fmt: skip
    before = api.monitor.read(lambda e, _: register_export(e, api.monitor.directory))
    code, out, err = run_as(api, "comms", capsys, monkeypatch, "directory", "import", "--retire-missing", "--dry-run",
                            str(path))  # fmt: skip
    assert code == 0 and out == (
        "would make 12 changes (12 accounts retired); nothing was changed (--dry-run)\n"
        f"would retire 12 registered accounts the file does not list: {named} and 2 more\n"
    ), (out, err)
    assert api.monitor.read(lambda e, _: register_export(e, api.monitor.directory)) == before  # nothing changed
    code, out, err = run_as(api, "comms", capsys, monkeypatch, "directory", "import", "--retire-missing", str(path))
    retired = f"retired 12 registered accounts the file does not list: {named} and 2 more\n"
    assert code == 0 and out == "12 changes (12 accounts retired): 12 taken, 0 already known\n" + retired, out
    code, out, err = run_as(api, "comms", capsys, monkeypatch, "directory", "import", str(path))
    assert code == 0 and out == "0 changes: 0 taken, 0 already known\n" and "note" not in err, (out, err)


def test_a_dry_run_import_lists_each_change_in_words_a_role_holder_s_changed_roles_as_one(
    api: Api,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    demo_files: tuple[Path, Path],
    tmp_path: Path,
) -> None:
    """The counts are by event type: a manager who stops being an admin read "1 role holder unassigned, 1 role
    assigned", as if somebody left and somebody else came. The dry run says each change, by ids and field names."""
    import yaml

    api.monitor.tick()
    register = yaml.safe_load(demo_files[0].read_text())
    acc = next(a for a in register["accounts"] if len(a["admins"]) == 2 and a.get("manager") not in a["admins"]
               and not a.get("editors"))  # fmt: skip
    (stays, moves), manager = acc["admins"], acc["manager"]
    acc["admins"], acc["manager"], acc["editors"] = [stays], moves, [stays]  # an admin becomes the manager
    acc["handle"] += "_new"
    person = register["people"][0]
    person["unit"], person["email"] = "Renamed unit", "renamed@" + person["email"].split("@")[1]
    new_account = {**register["accounts"][0], "account_id": "acc-new", "handle": "brand_new"}
    register["accounts"].append(new_account)
    register["people"].append({"person_id": "p-new", "email": "new.person@example.ac.uk", "groups": []})
    path = tmp_path / "register.yaml"
    path.write_text(yaml.safe_dump(register, sort_keys=False))
    code, out, err = run_as(api, "comms", capsys, monkeypatch, "directory", "import", "--dry-run", str(path))
    assert code == 0, (out, err)
    head, *said = out.splitlines()
    assert head.endswith("; nothing was changed (--dry-run)") and "2 role holders unassigned" in head, out
    assert said == [
        f"  {person['person_id']}: email, unit changed",
        "  p-new: added to the register",
        f"  {acc['account_id']}: handle changed",
        *sorted(
            (
                f"  {acc['account_id']}: {stays} gets editor; keeps admin",
                f"  {acc['account_id']}: {moves} gets manager; loses admin",
                f"  {acc['account_id']}: {manager} loses manager",
            )
        ),
        f"  acc-new: registered ({new_account['platform']} brand_new)",
        *(f"  acc-new: {p} gets {r}" for p, r in _roles_of(new_account)),
    ], out
    assert person["email"] not in out and "Renamed unit" not in out  # names of fields, not HR facts


def _roles_of(account: dict[str, Any]) -> list[tuple[str, str]]:
    """(person, their roles as the dry run says them) of a directory file's account, by person id."""
    roles: dict[str, list[str]] = {}
    for pid in account["admins"]:
        roles.setdefault(pid, []).append("admin")
    for pid in account.get("editors", []):
        roles.setdefault(pid, []).append("editor")
    if account.get("manager"):
        roles.setdefault(account["manager"], []).append("manager")
    return [(pid, ", ".join(sorted(r))) for pid, r in sorted(roles.items())]


def test_hr_reads_the_running_monitor_s_leaver_report_with_url_rather_than_an_empty_replay(
    api: Api, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from monitor.report import LeaverRow, format_report

    api.monitor.tick()
    code, _, err = run_as(api, "hr", capsys, monkeypatch, "hr", "leaver", "p-0002", "--leaving-at",
                          "2026-11-01T17:00:00Z")  # fmt: skip
    assert code == 0, err
    # HR's reports that reach no account are listed too, each in one row with no account, so HR sees them arrive
    reaches_none = next(p for p, f in sorted(api.monitor.engine.people.items()) if f.in_directory and not f.accounts)
    for person in (reaches_none, "p-9999"):  # nothing to revoke; a mistyped id
        code, _, err = run_as(api, "hr", capsys, monkeypatch, "hr", "leaver", person, "--leaving-at",
                              "2026-11-01T17:00:00Z")  # fmt: skip
        assert code == 0, err
    api.monitor.advance(NOW)
    code, out, err = run_as(api, "hr", capsys, monkeypatch, "report", "leavers", "--url")
    rows = api.monitor.leaver_report()
    assert code == 0 and out == format_report(rows) + "\n", (out, err)
    assert {r.person_id for r in rows} >= {"p-0002"} and "p-0002  leaver" in out
    assert [(r.account_id, r.status) for r in rows if r.person_id in (reaches_none, "p-9999")] == [
        (None, "nothing to revoke"), (None, "not in the register")], rows  # fmt: skip
    assert re.search(rf"\n{reaches_none} +leaver +\(none\) .* nothing to revoke ", out), out
    code, out, _ = run_as(api, "hr", capsys, monkeypatch, "report", "leavers", "--url", "http://x:1", "--json")
    assert code == 0 and [LeaverRow.model_validate_json(line) for line in out.splitlines()] == rows
    code, out, err = run_as(api, "hr", capsys, monkeypatch, "report", "leavers", "--url", "--until",
                            "2026-11-03T00:00:00Z", "events.jsonl")  # fmt: skip
    assert (code, out) == (2, "") and err == ("monitor: --url reads the running monitor's report, which replays "
                                              "nothing: leave out event files, --until\n")  # fmt: skip


def test_blanks_around_an_id_on_the_command_line_are_not_part_of_it_and_a_blank_id_is_refused_unsent(
    api: Api, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    api.monitor.tick()
    code, out, err = run_as(api, "hr", capsys, monkeypatch, "hr", "leaver", " p-0160\t", "--leaving-at",
                            "2026-12-10T17:00:00Z")  # fmt: skip
    assert code == 0 and "p-0160 reaches " in out and "does not name" not in err, (out, err)
    logged = [json.loads(body) for _, _, body in api.monitor.store.log() if b'"hr.leaver"' in body]
    assert [ev["data"]["person_id"] for ev in logged] == ["p-0160"]
    sent: list[object] = []
    monkeypatch.setattr(Client, "call", lambda *a, **kw: sent.append(a))
    for argv, blank in ((("hr", "leaver", "", "--leaving-at", "2026-12-10T17:00:00Z"), "person: ''"),
                        (("hr", "mover", " ", "--effective-at", "2026-12-10T17:00:00Z", "--new-role", "Lecturer"),
                         "person: ' '"),
                        (("emergency", "request", "  ", "--reason", "hacked"), "account: '  '"),
                        # and a reason of blanks, on either runtime (the Kafka one has no API to refuse it)
                        (("emergency", "request", "acc-001", "--reason", " "), "--reason: ' '"),
                        (("emergency", "request", "acc-001", "--reason", "", "--broker", "kafka://127.0.0.1:1",
                          "--by", "p-1"), "--reason: ''")):  # fmt: skip
        with pytest.raises(SystemExit) as exit_:
            run_as(api, "comms" if argv[0] == "emergency" else "hr", capsys, monkeypatch, *argv)
        assert exit_.value.code == 2 and sent == []
        assert f"argument {blank} is blank" in capsys.readouterr().err, argv


def test_an_hr_date_far_from_now_is_warned_about_as_a_mistyped_year_would_be(
    api: Api, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli, "_utcnow", lambda: NOW)  # 2026-11-02T09:00Z
    code, out, err = run_as(api, "hr", capsys, monkeypatch, "hr", "leaver", "p-0160", "--leaving-at",
                            "2025-10-30T17:00:00Z")  # fmt: skip
    assert code == 0 and out.startswith("accepted 1"), (out, err)
    assert err.splitlines()[0] == ("monitor: warning: --leaving-at 2025-10-30T17:00:00Z is 367 days before now: their "
                                   "access was due to go long ago, and what they did on their accounts since counts "
                                   "as acting after leaving (LVR-03: critical alerts and emergency lockouts, which a "
                                   "corrected report does not withdraw). If the year is mistyped, report the right "
                                   "date at once")  # fmt: skip
    code, out, err = run_as(api, "hr", capsys, monkeypatch, "hr", "mover", "p-0161", "--effective-at",
                            "2027-11-02T09:00:00Z", "--new-role", "Lecturer")  # fmt: skip
    assert code == 0 and err.splitlines()[0] == ("monitor: warning: --effective-at 2027-11-02T09:00:00Z is 365 days "
                                                 "after now: nothing falls due until then. If the year is mistyped, "
                                                 "report the right date at once"), err  # fmt: skip
    for when in ("2026-05-07T09:00:01Z", "2027-04-30T09:00:00Z"):  # within 180 days either way: said nothing of
        code, out, err = run_as(api, "hr", capsys, monkeypatch, "hr", "leaver", "p-0162", "--leaving-at", when)
        assert code == 0 and "warning" not in err, err


def test_an_emergency_request_says_where_to_follow_it_and_when_the_policy_granted_less_than_asked(
    api: Api, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    api.monitor.tick()
    code, out, err = run_as(api, "comms", capsys, monkeypatch, "emergency", "request", "acc-001", "--reason",
                            "hacked", "--minutes", "5000")  # fmt: skip
    lines = out.splitlines()
    rid = lines[0].removeprefix("request ").removesuffix(": granted")
    assert code == 0 and lines[0] == f"request {rid}: granted", (out, err)
    assert lines[2] == "  that is 1,440 minutes, the most the policy grants, not the 5000 asked for"
    assert lines[-1] == (f"  follow it: http://testserver/console/emergency/{rid} (the lockout, the access ending and "
                         "the credential's rotation after it)")  # fmt: skip
    code, out, _ = run_as(api, "comms", capsys, monkeypatch, "emergency", "request", "acc-002", "--reason", "hacked",
                          "--minutes", "30")  # fmt: skip
    assert code == 0 and "the most the policy grants" not in out and "  follow it: " in out, out


def test_retire_missing_with_a_file_that_lists_no_accounts_is_refused_and_changes_nothing(
    api: Api,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    demo_files: tuple[Path, Path],
    tmp_path: Path,
) -> None:
    import yaml

    from service.client import ClientError

    api.monitor.tick()
    register = yaml.safe_load(demo_files[0].read_text())
    path = tmp_path / "people-only.yaml"
    path.write_text(yaml.safe_dump({"organisation": register["organisation"], "people": register["people"]}))
    before = api.monitor.store.last_seq()
    said = (
        "import: the file lists no accounts, so retiring what it leaves out would retire every registered "
        "account; nothing was changed. Import the whole register (`monitor directory export` gives it)"
    )
    for runtime in ((), ("--broker", "kafka://127.0.0.1:1")):  # refused before anything is sent, on either runtime
        code, out, err = run_as(api, "comms", capsys, monkeypatch, "directory", "import", "--retire-missing",
                                str(path), *runtime)  # fmt: skip
        assert (code, out) == (2, "") and err.splitlines()[-1] == f"monitor: {path}: {said}", err
    monkeypatch.setenv("MONITOR_TOKEN", api.tokens["comms"])
    with pytest.raises(ClientError) as refused:  # and by the monitor itself, for any other client
        cli._client(None).call("POST", "/api/register/import", content=path.read_bytes(),
                               params={"retire_missing": "true"})  # fmt: skip
    assert refused.value.status == 422 and said in str(refused.value)
    assert api.monitor.store.last_seq() == before
    code, out, _ = run_as(api, "comms", capsys, monkeypatch, "directory", "import", str(path))  # without: kept
    assert code == 0 and out.startswith("0 changes"), out


# What an event may carry in an id: a window title set, the screen cleared, a fake all-clear in red.
HOSTILE = "d\x1b]0;owned\x07\x1b[2J\x1b[1;31mFAKE: all clear\x1b[0m"
# Control characters (C0 but newline, DEL, C1) and bidirectional overrides: none may reach the terminal raw.
RAW = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
SHOWN = "d\\u001b]0;owned\\u0007\\u001b[2J\\u001b[1;31mFAKE: all clear\\u001b[0m"


def test_event_text_reaches_the_terminal_as_visible_escapes_in_alerts_lockouts_leavers_and_emergencies(
    api: Api, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ids and summaries come from events: printed raw, a device id's escape sequences cleared the analyst's screen
    and set the window title (`monitor alerts list`); the console already shows them as escapes."""
    from schemas.alerts import LockoutCommand

    api.monitor.advance(NOW)
    data = {"account_id": "acc-001", "person_id": "p-0001", "device_id": HOSTILE, "device_managed": False,
            "mfa": False, "ip": "203.0.113.9"}  # fmt: skip
    ev = {"specversion": "1.0", "id": "l-1", "source": "x/audit", "type": "login.succeeded",
          "time": "2026-11-02T09:00:00Z", "data": data}  # fmt: skip
    made = api.monitor.submit([("test", None, json.dumps(ev).encode())], "test").alerts
    assert any(HOSTILE in a.summary for a in made)
    code, out, err = run_as(api, "security", capsys, monkeypatch, "alerts", "list")
    assert code == 0 and not RAW.search(out), repr(out)
    assert "from device d\\u001b]0;owned\\u0007\\u001b[2J" in out, out  # the rest cut at the table's width

    cmd = LockoutCommand(id=f"lk-{HOSTILE}", account_id=f"acc-{HOSTILE}", alert_id=f"al-{HOSTILE}", issued_at=NOW,
                         reason=f"because {HOSTILE}\nforged line", actions=[HOSTILE], notify=[HOSTILE])  # fmt: skip
    api.monitor.store.begin()
    api.monitor.store.put_lockout(cmd)
    api.monitor.store.commit()
    code, out, err = run_as(api, "security", capsys, monkeypatch, "lockouts", "list")
    assert code == 0 and not RAW.search(out), repr(out)
    assert f"  why:    because {SHOWN}\\u000aforged line\n" in out and f"  do:     {SHOWN}\n" in out, out

    code, out, err = run_as(api, "hr", capsys, monkeypatch, "hr", "leaver", f"p-{HOSTILE}", "--leaving-at",
                            "2026-11-01T17:00:00Z")  # fmt: skip
    assert code == 0 and not RAW.search(out + err), repr(out + err)
    api.monitor.advance(NOW)
    code, out, err = run_as(api, "hr", capsys, monkeypatch, "report", "leavers", "--url")
    assert code == 0 and not RAW.search(out), repr(out)
    assert f"p-{SHOWN}" in out, out

    granted = {"request_id": f"er-{HOSTILE}", "status": "granted", "lockouts": [{"id": f"lk-{HOSTILE}",
               "actions": [HOSTILE], "notify": [HOSTILE]}], "grant": {"account_id": f"acc-{HOSTILE}",
               "requester_id": f"p-{HOSTILE}", "granted_at": "2026-11-02T09:00:00Z",
               "expires_at": "2026-11-02T10:00:00Z"}}  # fmt: skip
    monkeypatch.setattr(Client, "call", lambda c, method, path, **kw: granted)
    code, out, err = run_as(api, "comms", capsys, monkeypatch, "emergency", "request", "acc-001", "--reason", "x")
    assert code == 0 and not RAW.search(out), repr(out)
    assert f"  access to acc-{SHOWN} for p-{SHOWN} until" in out and f"  lockout lk-{SHOWN}: {SHOWN};" in out, out
