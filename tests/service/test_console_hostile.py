"""Every text field an event can carry, filled with markup and control characters, is shown escaped everywhere.

Each string field of each event type gets its own tag (`<i/data-f="FIELD">`), so a raw tag on a page
names the field that leaked; the events are built to raise alerts of many controls about hostile ids.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from monitor.policy import load_profile
from service import auth
from service.api import build_api
from service.embedded import EmbeddedMonitor
from tests.service.conftest import NOW


def _evil(where: str) -> str:
    return f'<i/data-f="{where}">x</i>\x1b[2J\u202e'  # no spaces: it must pass as an email too


ACC, P1, P2 = _evil("account"), _evil("person1"), _evil("person2")


def _ev(i: int, type_: str, time: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"specversion": "1.0", "id": f"h-{i}", "source": _evil("source"), "type": type_, "time": time,
            "subject": _evil("subject"), "data": data}  # fmt: skip


def hostile_events() -> list[dict[str, Any]]:
    t = "2026-10-0{}T10:00:00Z".format
    reg = {"account_id": ACC, "platform": "x", "handle": _evil("handle"), "registration_email": _evil("email") + "@x",
           "credential_model": "shared_credential", "mfa_enabled": False, "central": False,
           "approved_by": _evil("approved_by"), "emergency_access": "none"}  # fmt: skip
    geo = {"lat": 51.0, "lon": -3.0, "country": _evil("country")}
    signin = {"account_id": ACC, "person_id": P2, "device_id": _evil("device"), "device_managed": False,
              "mfa": False, "ip": _evil("ip"), "geo": geo}  # fmt: skip
    return [
        _ev(
            1,
            "directory.person",
            t(1),
            {"person_id": P1, "email": _evil("email") + "@x", "unit": _evil("unit"), "groups": [_evil("group")]},
        ),
        _ev(2, "directory.account_registered", t(1), reg),
        _ev(3, "directory.admin_assigned", t(1), {"account_id": ACC, "person_id": P1, "role": "admin"}),
        _ev(4, "credential.shared", t(2), {"account_id": ACC, "actor_id": P2, "recipient_id": _evil("recipient")}),
        _ev(5, "login.succeeded", t(2), signin),
        _ev(6, "mfa.disabled", t(2), {"account_id": ACC, "actor_id": _evil("actor")}),
        _ev(7, "hr.leaver", t(3), {"person_id": P1, "leaving_at": t(3), "reason": _evil("leaver_reason")}),
        _ev(
            8,
            "hr.role_changed",
            t(3),
            {"person_id": P2, "effective_at": t(3), "new_role": _evil("new_role"), "new_unit": _evil("new_unit")},
        ),
        _ev(
            9,
            "login.failed",
            t(4),
            {"account_id": ACC, "person_id": P1, "ip": _evil("ip2"), "reason": _evil("fail_reason")},
        ),
        _ev(
            10,
            "account.compromise_reported",
            t(4),
            {"account_id": ACC, "reporter_id": _evil("reporter"), "detail": _evil("detail")},
        ),
        _ev(
            11,
            "emergency.access_requested",
            t(5),
            {"account_id": ACC, "requester_id": _evil("requester"), "reason": _evil("emergency_reason")},
        ),
        _ev(12, "post.published", t(6), {"account_id": _evil("unregistered"), "person_id": P1}),
    ]


def test_no_field_reaches_a_page_unescaped(tmp_path: Path, demo_files: tuple[Path, Path]) -> None:
    import json

    m = EmbeddedMonitor(tmp_path / "m.db", load_profile("default"), demo_files[0].read_text(), clock=lambda: NOW)
    lines = [("hostile", i, json.dumps(e).encode()) for i, e in enumerate(hostile_events(), 1)]
    result = m.submit(lines, "test")
    assert (result.accepted, result.rejected) == (len(lines), [])
    m.advance(NOW)
    token = auth.create_token(m.store, "admin-1", "admin", NOW)
    c = TestClient(build_api(m))
    assert (
        c.post("/console/login", data={"token": token, "next": "/console"}, follow_redirects=False).status_code == 303
    )
    _, alerts = m.store.alerts(limit=1000, account_id=ACC)
    controls = {a.control for a in alerts}
    assert len(controls) >= 5, controls  # many controls spoke about the hostile account
    pages = {
        "board": c.get("/console/alerts", params={"account": ACC}).text,
        "leavers": c.get("/console/leavers").text,
        "register": c.get("/console/register").text,
        "emergency": c.get("/console/emergency").text,
        **{f"alert {a.control}": c.get(f"/console/alerts/{a.id}").text for a in alerts},
    }
    for name, html in pages.items():
        leaked = re.findall(r'<i/data-f="([^"]+)"', html)
        assert not leaked, f"{name}: raw markup from {leaked}"
        assert not re.search("[\x00-\x08\x0b\x0c\x0e-\x1f\u202e]", html), f"{name}: a raw control character"
    shown = "".join(pages.values())
    found = set(re.findall(r"&lt;i/data-f=&#34;([a-z_0-9]+)&#34;&gt;", shown))
    print("fields shown (escaped):", sorted(found))
    for field in ("account", "person1", "person2", "handle", "unregistered", "requester"):
        assert f"&lt;i/data-f=&#34;{field}&#34;&gt;" in shown, f"{field} is not shown at all"
    m.close()
