"""Decoding events: what is accepted, and every kind of bad input rejected with its reason."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC
from typing import Any, get_args

import pytest
from pydantic import BaseModel

from schemas import directory, events
from schemas.events import (
    EVENT_MODELS,
    MAX_EVENT_BYTES,
    MAX_LINE_BYTES,
    Rejected,
    parse_event,
    parse_time,
    secret_field_name,
)
from tests.event_sizes import size_cases


def _login(**over: Any) -> dict[str, Any]:
    e: dict[str, Any] = {
        "specversion": "1.0",
        "id": "e-1",
        "source": "okta",
        "type": "login.succeeded",
        "time": "2026-11-02T09:00:00+01:00",
        "data": {
            "account_id": "acc-1",
            "person_id": "p-1",
            "device_id": "d-1",
            "device_managed": True,
            "mfa": True,
            "ip": "192.0.2.1",
            "geo": {"lat": 51.5, "lon": -3.2, "country": "GB"},
        },
    }
    e.update(over)
    return e


def _reject(obj: Any) -> Rejected:
    raw = obj if isinstance(obj, (str, bytes)) else json.dumps(obj)
    with pytest.raises(Rejected) as info:
        parse_event(raw)
    return info.value


def test_valid_event_keeps_its_instant_and_identity() -> None:
    ev = parse_event(json.dumps(_login()))
    assert ev.key == ("okta", "e-1")
    assert ev.time.isoformat() == "2026-11-02T08:00:00+00:00"  # the same instant, held as UTC
    assert ev.data.geo.country == "GB"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("text", "utc"),
    [
        ("2026-11-02T09:00:00Z", "2026-11-02T09:00:00+00:00"),
        ("2026-11-02t09:00:00z", "2026-11-02T09:00:00+00:00"),  # RFC 3339 takes either case
        ("2026-11-02 09:00:00Z", "2026-11-02T09:00:00+00:00"),  # and a space, its note 5.6 says
        ("2026-11-02T09:00:00.123456789+05:30", "2026-11-02T03:30:00.123456+00:00"),  # to the microsecond
        ("2026-11-02T00:30:00-01:00", "2026-11-02T01:30:00+00:00"),
        ("8999-12-31T23:59:59Z", "8999-12-31T23:59:59+00:00"),
    ],
)
def test_rfc3339_times_are_taken_as_the_same_instant_in_utc(text: str, utc: str) -> None:
    e = _login()
    e["time"] = text
    t = parse_event(json.dumps(e)).time
    assert t.isoformat() == utc and t.tzinfo is UTC


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("2026-11-30T00:00Z", "should be an RFC 3339 time with seconds and an offset, e.g. 2026-11-02T09:00:00Z"),
        ("2026-11-30T00:00:00+0100", "should be an RFC 3339 time with seconds and an offset"),
        ("2026-W48-1T00:00:00Z", "should be an RFC 3339 time with seconds and an offset"),
        ("2026-02-30T09:00:00Z", "is not a valid date and time (day is out of range"),
        ("0001-01-01T00:00:00Z", "is out of range: event times must lie in the years 1900 to 8999"),
        ("2026-11-30T00:00:00", "needs a time zone offset (RFC 3339)"),
    ],
)
def test_parse_time_refuses_what_an_event_time_refuses_with_the_same_reason(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match="^" + re.escape(reason)):
        parse_time(text)
    assert reason in _reject(_login(time=text)).reason


@pytest.mark.parametrize("text", ["2026-11-02t09:00:00z", "2026-11-02 09:00:00Z", "2026-11-02T00:30:00-01:00",
                                  "1900-01-01T00:00:00Z", "2026-11-02T09:00:00.123456789+05:30"])  # fmt: skip
def test_parse_time_takes_what_an_event_time_takes_as_the_same_instant(text: str) -> None:
    assert parse_time(text) == parse_event(json.dumps(_login(time=text))).time
    assert parse_time(text).tzinfo is UTC


def test_unknown_fields_in_data_are_ignored_not_fatal() -> None:
    e = _login()
    e["data"]["browser"] = "firefox"
    assert parse_event(json.dumps(e)).type == "login.succeeded"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda e: e.update(type="login.maybe"), "unknown event type 'login.maybe'"),
        (lambda e: e.pop("type"), "missing field 'type'"),
        (lambda e: e["data"].pop("device_id"), "missing field 'data.device_id'"),
        (lambda e: e["data"].update(mfa="yes"), "'data.mfa': Input should be a valid boolean"),
        (lambda e: e["data"].update(device_managed=1), "'data.device_managed': Input should be a valid boolean"),
        (lambda e: e.update(time="last tuesday"), "'time': should be an RFC 3339 time with seconds and an offset"),
        (lambda e: e.update(time="2026-11-02T09:00:00"), "'time' needs a time zone offset"),
        (lambda e: e.update(time="2026-11-02T09:00:00.5"), "'time' needs a time zone offset"),
        (lambda e: e.update(time="1793610000"), "'time': should be an RFC 3339 time"),  # Unix seconds
        (lambda e: e.update(time=1793610000), "'time': should be an RFC 3339 time as a string"),
        (lambda e: e.update(time="2026-11-02T09:00Z"), "'time': should be an RFC 3339 time with seconds"),
        (lambda e: e.update(time="2026-11-02T09:00:00+0100"), "'time': should be an RFC 3339 time"),
        (lambda e: e.update(time="2026-W45-1T09:00:00Z"), "'time': should be an RFC 3339 time"),
        (lambda e: e.update(time="2026-02-30T09:00:00Z"), "'time': is not a valid date and time (day is out of range"),
        (lambda e: e.update(time="9999-12-31T23:59:59-01:00"), "'time': is out of range"),  # past datetime.max in UTC
        (lambda e: e.update(time="0001-01-01T00:00:00+01:00"), "'time': is out of range"),
        (lambda e: e.update(time="9000-01-01T00:00:00Z"), "'time': is out of range: event times must lie in the years"),
        (lambda e: e.update(time="1899-12-31T23:59:59Z"), "'time': is out of range"),
        (lambda e: e.update(specversion="0.3"), "'specversion'"),
        (lambda e: e.update(id=""), "'id'"),
        (lambda e: e["data"].update(password="hunter2"), "field 'data.password' looks like it holds a secret"),
        (lambda e: e["data"].update(apiKey="x"), "field 'data.apiKey' looks like it holds a secret"),
        (lambda e: e.update(session_token="x"), "field 'session_token' looks like it holds a secret"),
        (lambda e: e["data"]["geo"].update(otp="123456"), "field 'data.geo.otp' looks like it holds a secret"),
        (lambda e: e["data"]["geo"].update(lat=123.0), "'data.geo.lat'"),
        (lambda e: e["data"]["geo"].pop("country"), "missing field 'data.geo.country'"),
    ],
)
def test_bad_input_is_rejected_with_its_reason(mutate: Any, reason: str) -> None:
    e = _login()
    mutate(e)
    rej = _reject(e)
    assert reason in rej.reason


def test_rejection_names_the_event_id_when_it_can() -> None:
    e = _login(type="nope", id="evt-77")
    assert _reject(e).event_id == "evt-77"
    inner_first = b'{"data":{"id":"inner","account_id":"a"},"type":"nope","id":"evt-78","specversion":"1.0"}'
    assert _reject(inner_first).event_id == "evt-78"
    assert _reject(b'{"type":"nope","data":{"id":"inner"}}').event_id is None  # no id of its own
    assert _reject(b'{"id":"evt-79","type":"hr.leaver",').event_id == "evt-79"  # not JSON: the first found


def test_over_64_kib_is_rejected() -> None:
    e = _login()
    e["data"]["note"] = "x" * MAX_EVENT_BYTES
    rej = _reject(e)
    assert "over the 65536-byte limit" in rej.reason


@pytest.mark.parametrize(("name", "raw", "accepted"), size_cases("schemas"), ids=lambda x: str(x)[:20])
def test_the_size_limit_is_on_compact_json_in_utf8_however_the_event_is_written(
    name: str, raw: bytes, accepted: bool
) -> None:
    if accepted:
        assert parse_event(raw).id.startswith("size-")
        assert parse_event(raw.decode()).id.startswith("size-")
    else:
        assert re.fullmatch(r"event is \d+ bytes as compact JSON, over the 65536-byte limit", _reject(raw).reason)


def test_a_line_over_the_line_limit_is_refused_unread(monkeypatch: pytest.MonkeyPatch) -> None:
    e = _login()
    raw = json.dumps(e).encode()
    raw = raw[:1] + b" " * (MAX_LINE_BYTES + 1 - len(raw)) + raw[1:]  # one byte over, though the event is small

    def unread(*_: Any) -> Any:
        raise AssertionError("a line over the line limit was read")

    monkeypatch.setattr(events.json, "loads", unread)
    rej = _reject(raw)
    assert rej.reason.startswith(f"line is {MAX_LINE_BYTES + 1} bytes, over the {MAX_LINE_BYTES}-byte limit")
    assert rej.event_id == "e-1"


def test_an_event_of_a_quarter_of_the_limit_is_not_measured(monkeypatch: pytest.MonkeyPatch) -> None:
    def unmeasured(*_: Any) -> Any:
        raise AssertionError("measured")

    monkeypatch.setattr(events, "compact_json", unmeasured)
    e = _login()
    e["data"]["note"] = "x"
    e["data"]["note"] = "x" * (MAX_EVENT_BYTES // 4 - len(json.dumps(e)) + 1)
    assert len(json.dumps(e)) == MAX_EVENT_BYTES // 4
    assert parse_event(json.dumps(e)).id == "e-1"


def test_not_json() -> None:
    assert "not valid JSON" in _reject(b"{nope").reason
    assert "not valid JSON" in _reject(b'{"password": ').reason


def test_a_secret_in_a_value_is_not_a_field_name() -> None:
    e = _login()
    e["data"]["ip"] = "token-passport-10.0.0.1"
    assert parse_event(json.dumps(e)).id == "e-1"


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("password", True),
        ("newPassword", True),
        ("user_passwd", True),
        ("client_secret", True),
        ("accessToken", True),
        ("otp", True),
        ("api_key", True),
        ("recovery-code", True),
        ("mfa_code", True),  # found by the fuzz test
        ("authCode", True),
        ("one_time_passcode", True),
        ("session_id", True),
        ("passwords", True),  # plurals and run-together names, found by a review of the contract
        ("secrets", True),
        ("access_tokens", True),
        ("client_secrets", True),
        ("otps", True),
        ("recoveryCodes", True),
        ("passcode", True),
        ("pw", True),
        ("passwordHash", True),
        ("pass_word", True),
        ("api_keys", True),
        ("backup_codes", True),
        ("authTokens", True),
        ("clientSecrets", True),
        ("cookies", True),
        ("status", False),
        ("tokenless", False),
        ("passwordless", False),
        ("secretary", False),
        ("reason_code", False),
        ("pin", True),
        ("fingerprint", False),
        ("person_id", False),
        ("topic", False),
        ("keyboard", False),
        ("credential_model", False),
        ("credential", True),  # names a usability review found let through
        ("credentials", True),
        ("credential_id", False),
        ("has_credential", False),  # a flag, not the credential
        ("photo", False),
        ("spinner", False),
        ("device_id", False),
    ],
)
def test_secret_field_names(name: str, secret: bool) -> None:
    assert secret_field_name(name) is secret


# Names a review found accepted on credential.rotated: letters against digits, words run together in lower case,
# and "credential" with a word saying it is the value.
LET_THROUGH = [
    "Password1",
    "secretkey",
    "new_credential",
    "credential_value",
    "old_credentials",
    "recoverycode",
    "mfacode",
    "2fa_code",
    "onetimecode",
    "accesskey",
    "sessionid",
]
MORE_SECRETS = [
    "SecretKey",
    "secret_key",
    "pw2",
    "2FACode",
    "MFACode",
    "OTPCode",
    "otp_code",
    "SessionID",
    "session_ids",
    "backupCodes",
    "apikey",
    "api_key_2",
    "private-key",
    "signing_key",
    "one_time_code",
    "passphrase",
    "pass_phrase",
    "current_credential",
    "previousCredentials",
    "credential_plaintext",
    "credential_raw",
    "credential_new",
    "credential_base64",
    "credential_hash",
    "user_credential",
]
NOT_SECRETS = [
    "credential_id",
    "credential_model",
    "credential_type",
    "credential_store",
    "credential_vault",
    "credentials_rotated",
    "credential_rotated_at",
    "credential_count",
    "has_credential",
    "is_credential",
    "new_credential_id",
    "secretary",
    "token_count",  # the last word says what a field holds: a count, length or type of tokens holds none
    "tokens_count",
    "password_length",
    "token_type",
    "password_policy",
    "status",
    "pinned",
    "spinner",
    "passenger",
    "keyboard",
    "session_count",
    "session_start",
    "monkey",
    "sha256",
    "ipv4",
    "mfa_enabled",
    "2fa_enabled",
    "phone_time",
    "author",
    "authority",
    "access_level",
    "recovery_email",
    "backup_at",
    "keyring_name",
]


@pytest.mark.parametrize("name", LET_THROUGH + MORE_SECRETS)
def test_secret_names_are_rejected(name: str) -> None:
    assert secret_field_name(name)
    e = _rotated()
    e["data"][name] = "s3cr3t-value"
    rej = _reject(e)
    assert f"field 'data.{name}' looks like it holds a secret" in rej.reason
    assert "s3cr3t-value" not in rej.reason


@pytest.mark.parametrize("name", NOT_SECRETS)
def test_names_that_hold_no_secret_are_accepted(name: str) -> None:
    assert not secret_field_name(name)
    e = _rotated()
    e["data"][name] = "x"
    assert parse_event(json.dumps(e)).id == "r-1"


def test_a_name_of_many_words_is_judged_in_linear_time() -> None:
    started = time.perf_counter()
    assert not secret_field_name("a_" * 30_000)
    assert secret_field_name("a_" * 30_000 + "2fa_code")
    assert time.perf_counter() - started < 1.0


def _rotated() -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": "r-1",
        "source": "vault",
        "type": "credential.rotated",
        "time": "2026-11-02T09:00:00Z",
        "data": {"account_id": "acc-1", "actor_id": "p-1", "fingerprint": "fp-0123456789"},
    }


def _field_names(model: type[BaseModel], seen: set[type[BaseModel]]) -> set[str]:
    """Every field name and alias of a model and of the models its fields hold, however nested."""
    if model in seen:
        return set()
    seen.add(model)
    names: set[str] = set()
    for name, field in model.model_fields.items():
        names |= {name, field.alias or name}
        todo: list[Any] = [field.annotation]
        while todo:
            t = todo.pop()
            if isinstance(t, type) and issubclass(t, BaseModel):
                names |= _field_names(t, seen)
            todo.extend(get_args(t))
    return names


def test_every_field_name_the_schemas_declare_is_accepted() -> None:
    seen: set[type[BaseModel]] = set()
    models = [*EVENT_MODELS.values(), *(m for m in vars(directory).values() if isinstance(m, type))]
    names = set().union(*(_field_names(m, seen) for m in models if issubclass(m, BaseModel)))
    assert {"fingerprint", "credential_model", "person_id", "lat", "registration_email"} <= names  # all found
    assert [n for n in sorted(names) if secret_field_name(n)] == []
