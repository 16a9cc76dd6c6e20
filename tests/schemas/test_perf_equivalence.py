"""The decoder's fast paths give exactly what the plain paths give: the same times, events and rejections."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from itertools import islice
from random import Random
from typing import Any
from zoneinfo import ZoneInfo

import pydantic_core
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import AwareDatetime, TypeAdapter
from pydantic_core import TzInfo

from schemas.events import EVENT_ADAPTER, Rejected, _as_utc, _event_id, _reason, _secret_in_extras, parse_event
from tests.fuzzing import mutants, seed_events

_AWARE: TypeAdapter[datetime] = TypeAdapter(AwareDatetime)


def _same(a: datetime, b: datetime) -> bool:
    return repr(a) == repr(b) and a.fold == b.fold and type(a) is type(b) and a.tzinfo is b.tzinfo


offsets = st.integers(min_value=-86_399, max_value=86_399)
zones = st.one_of(
    offsets.map(TzInfo),
    offsets.map(lambda s: timezone(timedelta(seconds=s))),
    st.just(UTC),
    st.sampled_from(["Europe/London", "America/New_York", "Australia/Lord_Howe"]).map(ZoneInfo),
)


@settings(max_examples=2000, deadline=None)
@given(
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), allow_imaginary=False),
    zones,
    st.sampled_from([0, 1]),
)
def test_as_utc_is_astimezone_utc(t: datetime, tz: Any, fold: int) -> None:
    aware = t.replace(tzinfo=tz, fold=fold)
    assert _same(_as_utc(aware), aware.astimezone(UTC))


@settings(max_examples=1000, deadline=None)
@given(
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
    st.sampled_from(["Z", "z", "+00:00", "-00:00", "+01:00", "-05:30", "+23:59"]),
    st.sampled_from(["seconds", "milliseconds", "microseconds"]),
)
def test_parsed_times_are_astimezone_utc(t: datetime, suffix: str, spec: str) -> None:
    text = f'"{t.isoformat(timespec=spec)}{suffix}"'
    parsed = _AWARE.validate_json(text)  # pydantic's own parse, with its TzInfo
    assert _same(_as_utc(parsed), parsed.astimezone(UTC))


def _plain(raw: bytes) -> tuple[str, Any]:
    """The decoder as it was before its fast paths: the adapter's wrapper and the full secret check."""
    try:
        if len(raw) > 64 * 1024:
            return "rejected", ("size", _event_id(raw))
        ev = EVENT_ADAPTER.validate_json(raw)
    except pydantic_core.ValidationError as err:
        return "rejected", (_reason(err), _event_id(raw))
    where = _secret_in_extras(ev)
    if where:
        return "rejected", ("secret " + where, ev.id)
    return "ok", ev


def _fast(raw: bytes) -> tuple[str, Any]:
    try:
        return "ok", parse_event(raw)
    except Rejected as rej:
        reason = rej.reason
        if reason.startswith("event is "):
            reason = "size"
        elif reason.startswith("field '"):
            reason = "secret " + reason.split("'")[1]
        return "rejected", (reason, rej.event_id)


def _check(raw: bytes) -> str:
    plain, fast = _plain(raw), _fast(raw)
    assert plain[0] == fast[0], raw[:300]
    if plain[0] == "rejected":
        assert plain[1] == fast[1], raw[:300]
    else:
        a, b = plain[1], fast[1]
        assert type(a) is type(b)
        assert a.model_dump_json() == b.model_dump_json()
        assert a.__pydantic_extra__ == b.__pydantic_extra__
        assert _same(a.time, b.time) and a.time.tzinfo is UTC
    return plain[0]


def test_ten_thousand_mutants_decode_as_before() -> None:
    seeds = seed_events()
    outcomes = [_check(raw) for raw in islice(mutants(seeds, Random(5)), 10_000)]
    assert outcomes.count("ok") > 100 and outcomes.count("rejected") > 100


def test_secret_looking_extras_anywhere_are_rejected_as_before() -> None:
    login = {
        "specversion": "1.0",
        "id": "l-1",
        "source": "okta",
        "type": "login.succeeded",
        "time": "2026-10-01T10:00:00+02:00",
        "data": {
            "account_id": "acc-1",
            "person_id": "p-1",
            "device_id": "d-1",
            "device_managed": True,
            "mfa": True,
            "ip": "203.0.113.9",
            "geo": {"lat": 1.0, "lon": 2.0, "country": "GB"},
        },
    }
    import json

    variants: list[dict[str, Any]] = [login]
    for where in ("envelope", "data", "geo"):
        for name, value in (("password", "x"), ("note", "x"), ("nested", {"api_key": 1}), ("list", [{"otp": 1}])):
            ev = json.loads(json.dumps(login))
            target = {"envelope": ev, "data": ev["data"], "geo": ev["data"]["geo"]}[where]
            target[name] = value
            variants.append(ev)
    no_geo = json.loads(json.dumps(login))
    no_geo["data"]["geo"] = None
    variants.append(no_geo)
    outcomes = [_check(json.dumps(v).encode()) for v in variants]
    assert outcomes.count("rejected") == 9 and outcomes.count("ok") == 5
