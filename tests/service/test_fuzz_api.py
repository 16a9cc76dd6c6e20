"""Fuzzing the API: 10,000 mutated events, with valid ones among them; never a 5xx, every bad one has a reason."""

from __future__ import annotations

import json
from collections.abc import Callable
from itertools import islice
from random import Random

from fastapi.testclient import TestClient

from service import auth
from service.api import build_api
from service.embedded import EmbeddedMonitor
from tests.fuzzing import CANARY, marker, mutants, seed_events
from tests.service.conftest import NOW

N = 10_000


def test_ten_thousand_mutants_through_the_api(make_monitor: Callable[..., EmbeddedMonitor]) -> None:
    m = make_monitor()
    token = auth.create_token(m.store, "fuzzer", "admin", NOW)
    client = TestClient(build_api(m, console=False), raise_server_exceptions=False)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"}
    stream = list(islice(mutants(seed_events(), Random(7)), N))
    batches: list[list[bytes]] = [[]]
    for raw in stream:  # requests under the 1 MiB body limit
        if sum(len(x) + 1 for x in batches[-1]) + len(raw) > 900_000:
            batches.append([])
        batches[-1].append(raw)
    rejected = 0
    for r, bad in enumerate(batches):
        body = b"\n".join([json.dumps(marker(r)).encode(), *bad, json.dumps(marker(10_000 + r)).encode()])
        res = client.post("/api/events", headers=headers, content=body)
        assert res.status_code in (202, 422), res.text[:500]
        out = res.json()
        assert all(x["reason"] for x in out["rejected"])
        assert CANARY not in res.text
        rejected += out["rejected_total"]
        assert len(out["rejected"]) == min(out["rejected_total"], 100)  # listed by position, the first 100
        lines = [x for x in body.splitlines() if x.strip()]
        assert out["accepted"] + out["duplicates"] + out["rejected_total"] == len(lines)
    assert rejected > N * 0.5
    assert len(batches) >= 10
    for r in range(len(batches)):  # the valid events around the bad ones all got in
        for i in (r, 10_000 + r):
            assert _logged(m, f'"fuzz-marker-{i}"'.encode())
    assert not _logged(m, CANARY.encode())
    assert client.get("/health").json()["status"] == "ok"


def _logged(m: EmbeddedMonitor, needle: bytes) -> bool:
    return m.store.conn.execute("SELECT 1 FROM log WHERE instr(body, ?) > 0", (needle,)).fetchone() is not None


def test_hostile_requests_get_4xx_not_5xx(make_monitor: Callable[..., EmbeddedMonitor]) -> None:
    m = make_monitor()
    token = auth.create_token(m.store, "fuzzer", "admin", NOW)
    client = TestClient(build_api(m, console=False), raise_server_exceptions=False)
    h = {"Authorization": f"Bearer {token}"}
    rng = Random(3)
    cases = [
        ("POST", "/api/events", {"content": b"\xff\xfe\x00garbage"}),
        ("POST", "/api/events", {"content": b"[" * 10_000}),
        ("POST", "/api/events", {"content": b'{"a":' * 5000 + b"1" + b"}" * 5000}),
        ("POST", "/api/alerts/%00%0a/acknowledge", {"json": {"note": "x"}}),
        ("POST", "/api/alerts/x/resolve", {"content": b"not json"}),
        ("POST", "/api/emergency-requests", {"json": {"account_id": "", "reason": "x"}}),
        ("POST", "/api/emergency-requests", {"json": {"account_id": "a", "reason": "x", "minutes": -5}}),
        ("POST", "/api/emergency-requests", {"json": {"account_id": "a", "reason": "x", "password": "p"}}),
        ("POST", "/api/register/import", {"content": b"people: [\n"}),
        ("POST", "/api/register/import", {"content": bytes(rng.randrange(256) for _ in range(2000))}),
        ("POST", "/api/clock/advance", {"json": {"until": "2026-10-01T00:00:00"}}),
        ("GET", "/api/alerts?limit=-1", {}),
        ("GET", "/api/alerts?severity=%3Cscript%3E", {}),
    ]
    for method, path, kw in cases:
        res = client.request(method, path, headers=h, **kw)  # type: ignore[arg-type]
        assert 400 <= res.status_code < 500, (path, res.status_code, res.text[:300])
        out = res.json()
        assert out.get("detail") or out["rejected"][0]["reason"], (path, res.text[:300])
