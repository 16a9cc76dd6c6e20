"""The decoder's fast paths give exactly what the plain paths give: the same times, events and rejections."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import islice
from random import Random
from typing import Any

import pydantic_core
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import AwareDatetime, TypeAdapter

from schemas.events import (
    EVENT_ADAPTER,
    RFC3339,
    Rejected,
    Time,
    _event_id,
    _reason,
    _rfc3339_shape,
    _secret_in_extras,
    parse_event,
)
from tests.fuzzing import mutants, seed_events

_AWARE: TypeAdapter[datetime] = TypeAdapter(AwareDatetime)
_TIME: TypeAdapter[datetime] = TypeAdapter(Time)


def _same(a: datetime, b: datetime) -> bool:
    return repr(a) == repr(b) and a.fold == b.fold and type(a) is type(b) and a.tzinfo is b.tzinfo


@settings(max_examples=1000, deadline=None)
@given(
    st.datetimes(min_value=datetime(1900, 1, 2), max_value=datetime(8999, 12, 30)),
    st.sampled_from(["Z", "z", "+00:00", "-00:00", "+01:00", "-05:30", "+23:59"]),
    st.sampled_from(["seconds", "milliseconds", "microseconds"]),
    st.sampled_from(["T", "t", " "]),
)
def test_times_are_the_instant_pydantic_parses_held_in_stdlib_utc(
    t: datetime, suffix: str, spec: str, sep: str
) -> None:
    text = f'"{t.isoformat(sep=sep, timespec=spec)}{suffix}"'
    ours = _TIME.validate_json(text)
    assert ours == _AWARE.validate_json(text.replace(" ", "T"))  # pydantic's own parse, with its TzInfo
    assert ours.tzinfo is UTC and type(ours) is datetime


def _fromisoformat_takes(text: str) -> bool:
    for form in (text, text.upper()):
        try:
            datetime.fromisoformat(form)
            return True
        except ValueError:
            pass
    return False


_NEAR_TIMES = st.tuples(
    st.sampled_from(["2026-11-02T09:00:00Z", "2026-11-02t09:00:00.041+05:30", "2026-11-02 09:00:00.5-00:00"]),
    st.lists(st.tuples(st.integers(0, 40), st.sampled_from(["", *"0123456789-:Tt Zz+.,W\u00b2\u0663"])), max_size=4),
).map(lambda p: _mutated(*p))


def _mutated(text: str, edits: list[tuple[int, str]]) -> str:
    for at, char in edits:  # each edit replaces one character (or deletes it, or appends past the end)
        text = text[:at] + char + text[at + 1 :]
    return text


@settings(max_examples=5000, deadline=None)
@given(st.one_of(_NEAR_TIMES, st.text(alphabet="0123456789-:Tt Zz+.,", max_size=40)))
def test_the_separator_check_with_fromisoformat_takes_exactly_rfc3339(text: str) -> None:
    """The decoder checks a time's separators, not the whole grammar, and leaves the digits to fromisoformat:
    together they must take what the RFC 3339 grammar takes, and nothing else."""
    assert (_rfc3339_shape(text) and _fromisoformat_takes(text)) == (
        RFC3339(text) is not None and _fromisoformat_takes(text)
    ), text


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
