"""The console pages through FastAPI's TestClient: roles, login, CSRF, acting on alerts, escaping, emergencies."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from monitor.demo import write_demo
from monitor.policy import load_profile
from service import auth, register
from service.api import build_api
from service.console import safe_back, visible
from service.embedded import EmbeddedMonitor

NOW = datetime(2026, 11, 1, tzinfo=UTC)
SCRIPT = "<script>alert(1)</script>"
# a person id carrying markup and terminal control characters (ESC, BEL) and a bidi override
EVIL_NAME = f"{SCRIPT}\x1b[31m\x07\u202e"
EVIL_REASON = "<img src=x onerror=alert(2)> account hijacked\x00\x1b[2J"
PAGES = ["/console/alerts", "/console/leavers", "/console/emergency", "/console/register"]


@dataclass
class Demo:
    """The demo university in an embedded monitor, with a token per role."""

    monitor: EmbeddedMonitor
    tokens: dict[str, str]
    member: str  # a current comms-team member (the comms token's person)
    outsider: str  # a person outside the comms team


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """The demo university replayed into a fresh embedded monitor."""
    d: Path = tmp_path_factory.mktemp("console")
    dpath, epath = write_demo(d)
    m = EmbeddedMonitor(d / "m.db", load_profile("default"), dpath.read_text(), clock=lambda: NOW)
    with epath.open("rb") as fh:
        m.submit([(str(epath), n, line.strip()) for n, line in enumerate(fh, 1)], "test")
    people = m.read(register.people)
    member = next(p.person_id for p in people if "comms-team" in p.groups)
    outsider = next(p.person_id for p in people if "comms-team" not in p.groups)
    names = {
        "security": "sec-analyst",
        "hr": "hr-officer",
        "comms": member,
        "registrar": "registrar-1",
        "admin": "admin-1",
        "outsider": outsider,
        "evil": EVIL_NAME,
        "hr-member": [p.person_id for p in people if "comms-team" in p.groups][1],
    }
    roles = {"outsider": "comms", "evil": "comms", "hr-member": "hr"}
    tokens = {k: auth.create_token(m.store, name, roles.get(k, k), NOW) for k, name in names.items()}
    yield Demo(m, tokens, member, outsider)
    m.close()


def login(demo: Demo, who: str) -> TestClient:
    """A client signed in with `who`'s token."""
    c = TestClient(build_api(demo.monitor), base_url="http://testserver")
    r = c.post("/console/login", data={"token": demo.tokens[who], "next": "/console"}, follow_redirects=False)
    assert r.status_code == 303, r.text
    return c


def csrf(html: str) -> str:
    """The CSRF token in a page's forms."""
    found = re.search(r'name="csrf" value="([0-9a-f]{64})"', html)
    assert found, "no CSRF field on the page"
    return found.group(1)


def an_alert(demo: Demo, status: str = "open", skip: int = 0) -> str:
    """The id of an alert in `status`."""
    return demo.monitor.read(lambda _, s: s.alerts(status=[status], limit=1, offset=skip))[1][0].id


# ----- roles ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "allowed", "denied", "roles_named"),
    [
        ("/console/alerts", ["security", "comms", "admin"], ["hr", "registrar"], "admin, comms, security"),
        ("/console/leavers", ["hr", "security", "admin"], ["comms", "registrar"], "admin, hr, security"),
        ("/console/register", ["security", "hr", "comms", "registrar", "admin"], [], ""),
        ("/console/emergency", ["security", "hr", "comms", "registrar", "admin"], [], ""),
    ],
)
def test_pages_render_for_allowed_roles_and_refuse_the_others(
    demo: Demo, path: str, allowed: list[str], denied: list[str], roles_named: str
) -> None:
    for role in allowed:
        r = login(demo, role).get(path)
        assert r.status_code == 200, (role, r.text)
        assert 'id="refused"' not in r.text
        assert '<a class="skip" href="#main">' in r.text
    for role in denied:
        r = login(demo, role).get(path)
        assert r.status_code == 403, role
        assert f"Your role ({role}) may not" in r.text
        assert roles_named in r.text


def test_alert_detail_for_readers_only(demo: Demo) -> None:
    aid = an_alert(demo)
    r = login(demo, "comms").get(f"/console/alerts/{aid}")
    assert r.status_code == 200
    a = demo.monitor.read(lambda _, s: s.alert(aid))
    assert a is not None
    for part in (a.next_step, *a.evidence, *a.sources):
        assert _text(part) in r.text
    assert "Versions" in r.text and "Audit trail" in r.text
    assert 'action="/console/alerts/' not in r.text  # comms may read, not act
    assert login(demo, "hr").get(f"/console/alerts/{aid}").status_code == 403
    assert login(demo, "security").get("/console/alerts/al-nope").status_code == 404


def test_emergency_page_explains_itself_to_other_roles(demo: Demo) -> None:
    hr = login(demo, "hr").get("/console/emergency").text
    assert 'id="not-comms"' in hr and 'id="emergency-form"' not in hr
    assert 'id="requests"' not in hr  # hr may not follow requests
    comms = login(demo, "comms").get("/console/emergency").text
    assert 'id="emergency-form"' in comms and 'for="account_id"' in comms and 'for="reason"' in comms
    assert 'id="requests"' in comms  # the demo's granted request, fed as an event
    assert "em-000001" in comms


def test_home_sends_each_role_to_a_page_it_may_open(demo: Demo) -> None:
    assert login(demo, "security").get("/console", follow_redirects=False).status_code == 200
    r = login(demo, "hr").get("/console", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/console/leavers"


# ----- login and logout ----------------------------------------------------------------------------


def test_without_a_session_every_page_redirects_to_login(demo: Demo) -> None:
    c = TestClient(build_api(demo.monitor))
    for path in ["/console", *PAGES, "/console/alerts/x"]:
        r = c.get(path, follow_redirects=False)
        assert r.status_code == 303
        assert r.headers["location"].startswith("/console/login?why=login&next=")
    r = c.get("/console/alerts?status=open", follow_redirects=True)
    assert "Sign in to continue" in r.text
    assert 'name="next" value="/console/alerts?status=open"' in r.text


def test_login_sets_a_strict_httponly_cookie_and_logout_clears_it(demo: Demo) -> None:
    c = TestClient(build_api(demo.monitor))
    form = c.get("/console/login")
    assert form.status_code == 200 and '<label for="token">' in form.text
    r = c.post("/console/login", data={"token": demo.tokens["security"]}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/console"
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/console" in cookie
    page = c.get("/console")
    assert page.status_code == 200 and "sec-analyst" in page.text
    assert c.post("/console/logout", data={}, follow_redirects=False).status_code == 403  # CSRF applies
    out = c.post("/console/logout", data={"csrf": csrf(page.text)}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/console/login?why=logged_out"
    assert 'monitor_console=""' in out.headers["set-cookie"] or "max-age=0" in out.headers["set-cookie"].lower()
    assert c.get("/console", follow_redirects=False).status_code == 303


def test_a_wrong_token_is_refused_with_a_reason(demo: Demo) -> None:
    c = TestClient(build_api(demo.monitor))
    r = c.post("/console/login", data={"token": "smon_nope"})
    assert r.status_code == 401 and "not known to this monitor" in r.text
    r = c.post("/console/login", data={"token": "hunter2"})
    assert r.status_code == 401 and "start with" in r.text
    assert "monitor_console" not in r.headers.get("set-cookie", "")


def test_a_revoked_token_says_it_was_revoked(demo: Demo) -> None:
    token = auth.create_token(demo.monitor.store, "leaving-analyst", "security", NOW)
    c = TestClient(build_api(demo.monitor))
    c.post("/console/login", data={"token": token})
    assert c.get("/console/alerts").status_code == 200
    auth.revoke_tokens(demo.monitor.store, "leaving-analyst", NOW)
    r = c.get("/console/alerts", follow_redirects=False)
    assert r.status_code == 303 and "why=revoked" in r.headers["location"]
    assert "revoked" in c.get(r.headers["location"]).text


def test_login_never_redirects_off_the_console(demo: Demo) -> None:
    for bad in ["https://evil.example/", "//evil.example", "/console\\@evil", "/api/alerts"]:
        assert safe_back(bad) == "/console"
    c = TestClient(build_api(demo.monitor))
    r = c.post(
        "/console/login", data={"token": demo.tokens["security"], "next": "//evil.example"}, follow_redirects=False
    )
    assert r.headers["location"] == "/console"


# ----- acting on alerts ----------------------------------------------------------------------------


def test_acknowledge_and_resolve_through_the_forms(demo: Demo) -> None:
    c = login(demo, "security")
    aid = an_alert(demo, skip=3)
    board = c.get("/console/alerts?status=open")
    assert f'id="ack-{aid}"' in board.text or aid in c.get("/console/alerts?status=open&page=2").text
    token = csrf(board.text)
    back = "/console/alerts?status=open"
    r = c.post(
        f"/console/alerts/{aid}/acknowledge", data={"csrf": token, "back": back, "note": ""}, follow_redirects=False
    )
    assert r.status_code == 303 and r.headers["location"] == back
    after = demo.monitor.read(lambda _, s: s.alert(aid))
    assert after is not None and after.status == "acknowledged"
    shown = c.get(back)
    assert f"Alert {aid} acknowledged." in shown.text
    assert f"Alert {aid} acknowledged." not in c.get(back).text  # a flash shows once

    r = c.post(f"/console/alerts/{aid}/resolve", data={"csrf": token, "note": "  "}, follow_redirects=True)
    assert "needs a note" in r.text
    assert demo.monitor.read(lambda _, s: s.alert(aid)).status == "acknowledged"  # type: ignore[union-attr]

    r = c.post(
        f"/console/alerts/{aid}/resolve",
        data={"csrf": token, "note": "seat removed on the platform"},
        follow_redirects=False,
    )
    assert r.headers["location"] == f"/console/alerts/{aid}"  # no `back`: the alert's page
    done = demo.monitor.read(lambda _, s: s.alert(aid))
    assert done is not None and done.status == "resolved" and done.note == "seat removed on the platform"
    detail = c.get(f"/console/alerts/{aid}").text
    assert "alert.resolved" in detail and "seat removed on the platform" in detail and "sec-analyst" in detail

    r = c.post(f"/console/alerts/{aid}/acknowledge", data={"csrf": token}, follow_redirects=True)
    assert "Nothing was changed" in r.text  # a resolved alert cannot be acknowledged


def test_every_post_needs_the_sessions_csrf_token(demo: Demo) -> None:
    c = login(demo, "security")
    aid = an_alert(demo, skip=5)
    for data in ({}, {"csrf": "0" * 64}, {"csrf": csrf(login(demo, "admin").get("/console").text)}):
        r = c.post(f"/console/alerts/{aid}/acknowledge", data=data)
        assert r.status_code == 403 and "CSRF" in r.text
        r = c.post(f"/console/alerts/{aid}/resolve", data={**data, "note": "x"})
        assert r.status_code == 403
    assert demo.monitor.read(lambda _, s: s.alert(aid)).status == "open"  # type: ignore[union-attr]
    r = login(demo, "comms").post("/console/emergency", data={"account_id": "acc-001", "reason": "hack"})
    assert r.status_code == 403 and "CSRF" in r.text


def test_a_form_of_too_many_fields_is_a_400_saying_so_not_a_crash(demo: Demo) -> None:
    """60 fields crashed every form's handler (500), signed in or not: the form parser's limit raised ValueError."""
    c = TestClient(build_api(demo.monitor), base_url="http://testserver", raise_server_exceptions=False)
    page = login(demo, "security").get("/console")
    fields = {f"f{i}": "x" for i in range(60)}
    aid = an_alert(demo, skip=7)
    signed_in = login(demo, "security")
    for client, path in [(c, "/console/login"), (signed_in, f"/console/alerts/{aid}/acknowledge"),
                         (signed_in, f"/console/alerts/{aid}/resolve"), (signed_in, "/console/logout"),
                         (signed_in, "/console/emergency")]:  # fmt: skip
        r = client.post(path, data={"csrf": csrf(page.text), **fields}, follow_redirects=False)
        assert r.status_code == 400, (path, r.status_code, r.text[:200])
        assert "more than 50 fields" in r.text and "Nothing was changed" in r.text, path
    assert demo.monitor.read(lambda _, s: s.alert(aid)).status == "open"  # type: ignore[union-attr]
    r = signed_in.post(f"/console/alerts/{aid}/acknowledge", data={"csrf": csrf(signed_in.get("/console").text)},
                       follow_redirects=False)  # fmt: skip
    assert r.status_code == 303  # still signed in, and a form of its own fields is taken


def test_only_managers_get_the_buttons_or_may_post(demo: Demo) -> None:
    comms = login(demo, "comms")
    page = comms.get("/console/alerts")
    assert "/acknowledge" not in page.text
    aid = an_alert(demo, skip=6)
    r = comms.post(f"/console/alerts/{aid}/acknowledge", data={"csrf": csrf(page.text)})
    assert r.status_code == 403 and "security" in r.text
    assert demo.monitor.read(lambda _, s: s.alert(aid)).status == "open"  # type: ignore[union-attr]


def test_board_filters_page_and_count(demo: Demo) -> None:
    c = login(demo, "security")
    total, _ = demo.monitor.read(lambda _, s: s.alerts(limit=1))
    page = c.get("/console/alerts").text
    assert f"of {total} matching alerts" in page and "Next page" in page
    two = c.get("/console/alerts?page=2").text
    assert "Showing 51–" in two and "Previous page" in two
    mfa = c.get("/console/alerts?control=MFA-02&severity=high").text
    n, rows = demo.monitor.read(lambda _, s: s.alerts(control=["MFA-02"], severity=["high"]))
    assert f"of {n} matching" in mfa and all(a.id in mfa for a in rows[:50])
    assert 'value="MFA-02" selected' in mfa and 'id="severity-high" checked' in mfa
    junk = c.get("/console/alerts?status=bogus&control=<b>&page=x&severity=zzz")
    assert junk.status_code == 200 and f"of {total} matching" in junk.text and "<b>" not in junk.text


def test_register_links_failing_controls_to_the_board(demo: Demo) -> None:
    accounts = demo.monitor.read(register.accounts)
    failing = next(a for a in accounts if a.failing)
    page = login(demo, "registrar").get("/console/register").text
    assert "compliant" in page
    link = f"/console/alerts?account={failing.account_id}&amp;control={failing.failing[0]}"
    assert link in page
    assert all(a.account_id in page for a in accounts)


def test_the_register_page_says_when_the_register_is_not_applied_yet(
    demo: Demo, make_monitor: Callable[..., EmbeddedMonitor]
) -> None:
    assert 'id="register-not-applied"' not in login(demo, "registrar").get("/console/register").text
    fresh = make_monitor()  # no event or tick yet
    token = auth.create_token(fresh.store, "registrar-1", "registrar", NOW)
    c = TestClient(build_api(fresh), base_url="http://testserver")
    assert c.post("/console/login", data={"token": token, "next": "/console"}, follow_redirects=False).is_redirect
    page = c.get("/console/register").text
    assert 'id="register-not-applied"' in page and "0 accounts" in page


# ----- escaping ------------------------------------------------------------------------------------


def test_markup_and_control_characters_from_events_are_shown_escaped(demo: Demo) -> None:
    evil = login(demo, "evil")
    form = evil.get("/console/emergency")
    r = evil.post("/console/emergency", data={"csrf": csrf(form.text), "account_id": "acc-003", "reason": EVIL_REASON})
    assert r.status_code == 403  # not a comms-team member
    raised = demo.monitor.read(lambda _, s: s.alerts(control=["EMG-02"], person_id=EVIL_NAME))[1]
    assert raised, "the refused request raised an EMG-02 alert about the person"
    sec = login(demo, "security")
    pages = [
        r.text,
        sec.get("/console/alerts?control=EMG-02").text,
        sec.get(f"/console/alerts/{raised[0].id}").text,
        sec.get("/console/emergency").text,
        sec.get("/console/alerts", params={"person": EVIL_NAME}).text,
    ]
    for html in pages:
        assert SCRIPT not in html and "<img src=x" not in html
        assert not re.search("[\x00-\x08\x0b\x0c\x0e-\x1f\u202e]", html), "a raw control character reached the page"
    assert any("&lt;script&gt;alert(1)&lt;/script&gt;" in html for html in pages)
    assert any("&lt;img src=x onerror=alert(2)&gt;" in html for html in pages)
    assert "\\u001b[31m" in pages[2]  # ESC shown as a visible escape


def test_visible_escapes_controls_but_keeps_text() -> None:
    assert visible("a\x1bb\tc\nd\u202e") == "a\\u001bb\tc\nd\\u202e"
    assert visible(None) == ""


# ----- emergencies ---------------------------------------------------------------------------------


def test_emergency_request_from_a_comms_member_is_granted(demo: Demo) -> None:
    c = login(demo, "comms")
    form = c.get("/console/emergency")
    r = c.post(
        "/console/emergency",
        data={"csrf": csrf(form.text), "account_id": "acc-001", "reason": "hijacked: posts overnight", "minutes": "90"},
    )
    assert r.status_code == 200, r.text
    assert "Emergency access granted" in r.text and "2026-11-01 01:30 UTC" in r.text
    assert "Notified: account manager, it security, requester" in r.text  # the grant's lockout command
    grant = [g for g in demo.monitor.read(lambda _, s: s.grants()) if g.requester_id == demo.member]
    assert grant and grant[-1].account_id == "acc-001"
    listed = c.get("/console/emergency").text
    assert grant[-1].evidence in listed and "not yet expired" in listed
    assert c.get(f"/console/emergency/{grant[-1].evidence}").status_code == 200


def test_emergency_request_from_outside_the_comms_team_is_refused_and_alerted(demo: Demo) -> None:
    c = login(demo, "outsider")
    form = c.get("/console/emergency")
    r = c.post("/console/emergency", data={"csrf": csrf(form.text), "account_id": "acc-002", "reason": "let me in"})
    assert r.status_code == 403
    assert "recorded and IT security alerted" in r.text and "Emergency access refused" in r.text
    alerts = demo.monitor.read(lambda _, s: s.alerts(control=["EMG-02"], person_id=demo.outsider))[1]
    assert alerts and alerts[0].severity == "critical"
    assert not [g for g in demo.monitor.read(lambda _, s: s.grants()) if g.requester_id == demo.outsider]


def test_emergency_request_for_an_account_not_in_the_register_is_refused_naming_it(demo: Demo) -> None:
    c = login(demo, "comms")
    form = c.get("/console/emergency")
    r = c.post("/console/emergency", data={"csrf": csrf(form.text), "account_id": "acc-nope", "reason": "hacked"})
    assert r.status_code == 403
    assert "Emergency access refused" in r.text and "acc-nope is not in the register" in r.text
    assert not [g for g in demo.monitor.read(lambda _, s: s.grants()) if g.account_id == "acc-nope"]
    assert demo.monitor.read(lambda _, s: s.lockouts("acc-nope")) == []
    page = login(demo, "registrar").get("/console/register").text
    assert "not in the register" in page and 'id="acct-acc-nope"' in page


def test_emergency_request_with_the_wrong_role_follows_the_api(demo: Demo) -> None:
    c = login(demo, "hr-member")  # a comms-team member signed in with their HR token
    page = c.get("/console/emergency")
    r = c.post("/console/emergency", data={"csrf": csrf(page.text), "account_id": "acc-001", "reason": "hack"})
    assert r.status_code == 403 and "comms token" in r.text and "comms" in r.text
    denied = demo.monitor.read(
        lambda _, s: s.conn.execute("SELECT COUNT(*) FROM audit WHERE action = ?", ("emergency.denied",)).fetchone()[0]
    )
    assert denied >= 1
    hr = login(demo, "hr")  # not a member: the request is filed, refused and alerted, as the API does
    r = hr.post(
        "/console/emergency",
        data={"csrf": csrf(hr.get("/console/emergency").text), "account_id": "acc-004", "reason": "x"},
    )
    assert r.status_code == 403 and "IT security alerted" in r.text


def test_emergency_form_errors_keep_what_was_typed(demo: Demo) -> None:
    c = login(demo, "comms")
    token = csrf(c.get("/console/emergency").text)
    r = c.post("/console/emergency", data={"csrf": token, "account_id": "acc-001", "reason": "", "minutes": "-5"})
    assert r.status_code == 422 and "Say why" in r.text and "Minutes must be" in r.text
    assert 'value="acc-001" selected' in r.text and 'value="-5"' in r.text


# ----- headers and static files --------------------------------------------------------------------


def test_security_headers_and_stylesheet(demo: Demo) -> None:
    c = login(demo, "security")
    for path in ["/console/alerts", "/console/login", "/console/static/console.css"]:
        r = c.get(path)
        assert r.status_code == 200
        assert "default-src 'self'" in r.headers["content-security-policy"]
        assert "'unsafe-inline'" not in r.headers["content-security-policy"]
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["referrer-policy"] == "no-referrer"
    css = c.get("/console/static/console.css")
    assert css.headers["content-type"].startswith("text/css") and ":focus" in css.text
    page = c.get("/console/alerts").text
    assert "<script" not in page and " style=" not in page and " on" + "click" not in page
    assert "/console" not in c.get("/openapi.json").text  # the console stays out of the API's OpenAPI


def _text(s: str) -> str:
    """`s` as it appears in HTML (escaped)."""
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&#34;").replace("'", "&#39;")


def test_the_leavers_page_names_reported_people_who_reach_no_account(
    make_monitor: Callable[..., EmbeddedMonitor],
) -> None:
    import json

    m = make_monitor()
    m.tick()
    reaches_none = next(p for p, f in sorted(m.engine.people.items()) if f.in_directory and not f.accounts)
    moved = {"effective_at": "2026-10-30T17:00:00Z", "new_role": "Lecturer"}
    reports = [
        ("hr.leaver", "p-002", {"leaving_at": "2026-10-30T17:00:00Z"}),  # a mistyped id
        ("hr.role_changed", reaches_none, moved),
    ]
    events = [
        {"specversion": "1.0", "id": f"hr-{n}", "source": "hr/test", "type": type_, "time": "2026-10-31T10:00:00Z",
         "data": {"person_id": pid, **more}}
        for n, (type_, pid, more) in enumerate(reports)
    ]  # fmt: skip
    m.submit([("test", None, json.dumps(ev).encode()) for ev in events], "test")
    token = auth.create_token(m.store, "hr-officer", "hr", NOW)
    c = TestClient(build_api(m), base_url="http://testserver")
    assert c.post("/console/login", data={"token": token}, follow_redirects=False).status_code == 303
    page = c.get("/console/leavers").text
    found = re.search(r'<section id="leavers-unplaced".*?</section>', page, re.S)
    assert found, page
    assert "<li>p-002 (leaver; not in the register)</li>" in found.group(0)
    assert f"<li>{reaches_none} (mover)</li>" in found.group(0)
    assert "No leavers or movers yet." not in page


def test_the_leavers_page_says_kept_for_access_kept_on_purpose_and_colours_every_status(demo: Demo) -> None:
    from typing import get_args

    from monitor.report import NO_ACCOUNT, Status

    rows = demo.monitor.leaver_report()
    kept = next(r for r in rows if r.status == "kept (confirmed)" and r.had_seat)
    page = login(demo, "hr").get("/console/leavers").text
    row = re.search(rf"<tr>\s*<td>{kept.person_id}</td>\s*<td>{kept.kind}</td>\s*<td>{kept.account_id}</td>.*?</tr>",
                    page, re.S)  # fmt: skip
    assert row, page
    assert "<td>kept</td>" in row.group(0) and "still held" not in row.group(0)  # as the CLI's report says
    assert 'class="status status-kept"' in row.group(0)
    css = (Path(__file__).parents[2] / "service" / "static" / "console.css").read_text()
    for status in set(get_args(Status)) - set(NO_ACCOUNT):  # a row with no account is listed apart, uncoloured
        assert re.search(rf"\.status-{status.split()[0]}\b[^{{]*\{{", css), status  # overdue was left uncoloured
