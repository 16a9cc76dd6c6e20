"""Wire contract v1 (shared/EVENTS.md): CloudEvents 1.0 envelopes with typed `data`."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    TypeAdapter,
    ValidationError,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError, core_schema

# An event's size is its compact JSON in UTF-8 (`compact_json`), however it arrived: spaced out, with its text as
# \u escapes, or re-encoded by the API. A line or message over MAX_LINE_BYTES is refused without reading it.
MAX_EVENT_BYTES = 64 * 1024
MAX_LINE_BYTES = 1024 * 1024
# Re-encoded compactly, JSON grows only where a number has an exponent ("1E15" -> "1000000000000000.0"), never to
# 4 times its length: a line of a quarter of the limit fits without measuring, so most events cost nothing here.
_FITS_UNMEASURED = MAX_EVENT_BYTES // 4

Id = Annotated[str, Field(min_length=1, max_length=256)]

# RFC 3339 date-time (section 5.6): full date, "T" (any case, or a space), full time with seconds and an optional
# fraction, and "Z" or a numeric offset with its colon. pydantic's own datetime parsing also takes Unix seconds in
# a string, times without seconds and offsets without a colon, which the contract does not allow.
RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?(?:[Zz]|[+-][0-9]{2}:[0-9]{2})"
).fullmatch
_NO_OFFSET = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?").fullmatch


def _rfc3339_shape(v: str) -> bool:
    """RFC3339's shape by its separators, for a third of the regex's cost; `datetime.fromisoformat` then checks the
    digits. Together they take exactly what RFC3339 and fromisoformat take (tests/schemas/test_perf_equivalence.py)."""
    if len(v) < 20 or v[4] != "-" or v[7] != "-" or v[10] not in "Tt " or v[13] != ":" or v[16] != ":":
        return False
    end = -1 if v[-1] in "Zz" else -6  # where "Z" or "+hh:mm" starts
    if end == -6 and (v[-3] != ":" or v[-6] not in "+-"):
        return False
    return (v[19] == v[end] and len(v) == 19 - end) or (v[19] == "." and v[20:end].isdigit() and v.isascii())


_fromisoformat = datetime.fromisoformat
# Event times outside these years are refused: the engine adds deadlines of days or years to them, which would
# overflow near the ends of what a datetime holds, and no social media account acts in them.
MIN_TIME = datetime(1900, 1, 1, tzinfo=UTC)
MAX_TIME = datetime(9000, 1, 1, tzinfo=UTC)


def _time(v: Any) -> datetime:
    """An RFC 3339 time with an offset (the contract's `time` fields), as the same instant in stdlib UTC.

    Held in stdlib UTC because comparing datetimes whose zones are one object needs no `utcoffset` call.
    """
    if type(v) is str:
        if not _rfc3339_shape(v):
            if _NO_OFFSET(v):
                raise PydanticCustomError("timezone_aware", "Input should have timezone info")
            raise PydanticCustomError("rfc3339", "should be an RFC 3339 time with seconds and an offset, "
                                      "e.g. 2026-11-02T09:00:00Z")  # fmt: skip
        try:
            t = _fromisoformat(v)
        except ValueError:
            try:
                t = _fromisoformat(v.upper())  # "t" and "z" in lower case, which RFC 3339 allows
            except ValueError as exc:
                raise PydanticCustomError("rfc3339", "is not a valid date and time ({reason})",
                                          {"reason": str(exc)}) from None  # fmt: skip
    elif isinstance(v, datetime):  # built in code, not read from JSON
        if v.tzinfo is None or v.utcoffset() is None:
            raise PydanticCustomError("timezone_aware", "Input should have timezone info")
        t = v
    else:
        raise PydanticCustomError("rfc3339", "should be an RFC 3339 time as a string, e.g. 2026-11-02T09:00:00Z")
    if t.tzinfo is not UTC:
        try:
            t = t.astimezone(UTC)
        except OverflowError:
            t = MAX_TIME if t.year > 2000 else MIN_TIME - timedelta(1)  # judged out of range just below
    if not MIN_TIME <= t < MAX_TIME:
        raise PydanticCustomError("time_range", "is out of range: event times must lie in the years 1900 to 8999")
    return t


def parse_time(text: str) -> datetime:
    """A time typed outside an event (the command line's options), taken exactly as event times are: the same
    instant in UTC, or ValueError giving the reason an event with that time is rejected for."""
    try:
        return _time(text)
    except PydanticCustomError as exc:
        if exc.type == "timezone_aware":  # pydantic's own words, which `_reason` rewrites for events
            raise ValueError("needs a time zone offset (RFC 3339), e.g. 2026-11-02T09:00:00Z") from None
        raise ValueError(exc.message()) from None


class _Rfc3339Time:
    """Validation by `_time` alone; written out and described as pydantic writes and describes a datetime (with
    `PlainValidator`, pydantic 2.14 warns on every JSON dump that the datetime serialiser was given a string)."""

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_plain_validator_function(
            _time, serialization=core_schema.simple_ser_schema("datetime")
        )

    def __get_pydantic_json_schema__(self, schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        return {"type": "string", "format": "date-time"}


# An RFC 3339 time with an offset, held as UTC (the same instant).
Time = Annotated[datetime, _Rfc3339Time()]
Text = Annotated[str, Field(max_length=4096)]


class _Data(BaseModel):
    """Base of every `data` payload: frozen, strict types; unknown fields tolerated (checked for secrets)."""

    model_config = ConfigDict(frozen=True, strict=True, extra="allow")


class Geo(_Data):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    country: Text  # required when geo is given: EVENTS.md marks only geo itself optional


# People and HR


class HrLeaverData(_Data):
    person_id: Id
    leaving_at: Time
    reason: Text | None = None


class HrLeaverCancelledData(_Data):
    person_id: Id


class HrRoleChangedData(_Data):
    person_id: Id
    effective_at: Time
    new_role: Text
    new_unit: Text | None = None


class DirectoryPersonData(_Data):
    person_id: Id
    email: Annotated[str, Field(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")]
    unit: Text | None = None
    groups: list[Id]


# The register

# The contract names no list of platforms, so any is taken by its name ("x", "instagram", "mastodon", ...).
Platform = Annotated[str, Field(min_length=1, max_length=256)]
CredentialModel = Literal["named_logins", "shared_credential"]
EmergencyAccess = Literal["backup_admin", "escrow", "none"]
Role = Literal["admin", "manager", "editor"]


class AccountRegisteredData(_Data):
    account_id: Id
    platform: Platform
    handle: Annotated[str, Field(min_length=1, max_length=256)]
    registration_email: Annotated[str, Field(min_length=3, max_length=320)]
    credential_model: CredentialModel
    mfa_enabled: bool
    central: bool
    approved_by: Id | None = None
    naming_exempt: bool | None = None
    emergency_access: EmergencyAccess


class AccountUpdatedData(_Data):
    account_id: Id
    platform: Platform | None = None
    handle: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    registration_email: Annotated[str, Field(min_length=3, max_length=320)] | None = None
    credential_model: CredentialModel | None = None
    mfa_enabled: bool | None = None
    central: bool | None = None
    approved_by: Id | None = None
    naming_exempt: bool | None = None
    emergency_access: EmergencyAccess | None = None


class AccountRef(_Data):
    account_id: Id


class AdminAssignedData(_Data):
    account_id: Id
    person_id: Id
    role: Role


class AccountPersonData(_Data):
    account_id: Id
    person_id: Id


# The platform and the vault


class CredentialRotatedData(_Data):
    account_id: Id
    actor_id: Id
    fingerprint: Annotated[str, Field(min_length=8, max_length=256)] | None = None


class CredentialSharedData(_Data):
    account_id: Id
    actor_id: Id
    recipient_id: Id


class TemporaryAccessData(_Data):
    account_id: Id
    actor_id: Id
    recipient_id: Id
    ends_at: Time


class PlatformAdminData(_Data):
    account_id: Id
    actor_id: Id
    person_id: Id


class MfaChangeData(_Data):
    account_id: Id
    actor_id: Id


class DeviceApprovedData(_Data):
    account_id: Id
    actor_id: Id
    person_id: Id
    device_id: Id


# Sign-in signals


class LoginSucceededData(_Data):
    account_id: Id
    person_id: Id | None = None
    device_id: Id
    device_managed: bool
    mfa: bool
    ip: Annotated[str, Field(min_length=2, max_length=64)]
    geo: Geo | None = None


class LoginFailedData(_Data):
    account_id: Id
    person_id: Id | None = None
    device_id: Id | None = None
    ip: Annotated[str, Field(min_length=2, max_length=64)]
    reason: Text | None = None


class MfaChallengeData(_Data):
    account_id: Id
    person_id: Id
    result: Literal["approved", "denied", "timeout"]


class PostPublishedData(_Data):
    account_id: Id
    person_id: Id | None = None


# Incidents and emergencies


class IncidentData(_Data):
    incident_id: Id


class CompromiseReportedData(_Data):
    account_id: Id
    reporter_id: Id
    detail: Text | None = None


class EmergencyRequestData(_Data):
    account_id: Id
    requester_id: Id
    reason: Annotated[str, Field(min_length=1, max_length=4096)]
    minutes: Annotated[int, Field(gt=0)] | None = None


class _Envelope(BaseModel):
    """CloudEvents 1.0 structured-mode attributes; extension attributes tolerated (checked for secrets)."""

    model_config = ConfigDict(frozen=True, strict=True, extra="allow")

    specversion: Literal["1.0"]
    id: Id
    source: Annotated[str, Field(min_length=1, max_length=1024)]
    time: Time
    subject: str | None = None
    datacontenttype: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        """The event's identity: the same (source, id) twice is one event."""
        return (self.source, self.id)


def _event(type_name: str, data_model: type[_Data]) -> type[_Envelope]:
    """Make the envelope class for one event type."""
    name = "".join(part.capitalize() for part in re.split(r"[._]", type_name)) + "Event"
    return type(
        name,
        (_Envelope,),
        {
            "__annotations__": {"type": Literal[type_name], "data": data_model},
            "__module__": __name__,
            "__doc__": f"The `{type_name}` event.",
        },
    )


DATA_MODELS: dict[str, type[_Data]] = {
    "hr.leaver": HrLeaverData,
    "hr.leaver_cancelled": HrLeaverCancelledData,
    "hr.role_changed": HrRoleChangedData,
    "directory.person": DirectoryPersonData,
    "directory.account_registered": AccountRegisteredData,
    "directory.account_updated": AccountUpdatedData,
    "directory.account_retired": AccountRef,
    "directory.admin_assigned": AdminAssignedData,
    "directory.admin_unassigned": AccountPersonData,
    "directory.access_confirmed": AccountPersonData,
    "credential.rotated": CredentialRotatedData,
    "credential.shared": CredentialSharedData,
    "credential.temporary_access": TemporaryAccessData,
    "platform.admin_added": PlatformAdminData,
    "platform.admin_removed": PlatformAdminData,
    "mfa.enabled": MfaChangeData,
    "mfa.disabled": MfaChangeData,
    "device.approved": DeviceApprovedData,
    "login.succeeded": LoginSucceededData,
    "login.failed": LoginFailedData,
    "mfa.challenge": MfaChallengeData,
    "post.published": PostPublishedData,
    "incident.declared": IncidentData,
    "incident.closed": IncidentData,
    "account.compromise_reported": CompromiseReportedData,
    "emergency.access_requested": EmergencyRequestData,
}

EVENT_MODELS: dict[str, type[_Envelope]] = {t: _event(t, m) for t, m in DATA_MODELS.items()}
EVENT_TYPES = frozenset(EVENT_MODELS)

# Every event: a union discriminated on `type`, built dynamically; for the type checker, an envelope
# with a `type` and a `data`.
if TYPE_CHECKING:

    class Event(_Envelope):
        type: str
        data: Any

else:
    Event = _Envelope
_AnyEvent: Any = Annotated[Union[tuple(EVENT_MODELS.values())], Field(discriminator="type")]  # noqa: UP007
EVENT_ADAPTER: TypeAdapter[Any] = TypeAdapter(_AnyEvent)
# The adapter's core validator, called directly: `TypeAdapter.validate_json` with no options is only a
# Python wrapper around it.
_validate_json = EVENT_ADAPTER.validator.validate_json


class Rejected(Exception):
    """An input that is not a valid event, with the reason a person can act on."""

    def __init__(self, reason: str, event_id: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.event_id = event_id


# Field names that say they hold a secret. Matched on whole words of the key (snake, kebab and camel case, and
# letters against digits: "Password1", "2fa_code").
_SECRET_WORDS = frozenset(
    {
        "password",
        "passwd",
        "passphrase",
        "pwd",
        "pw",
        "passcode",
        "passwordhash",
        "pwhash",
        "secret",
        "token",
        "otp",
        "totp",
        "hotp",
        "apikey",
        "privatekey",
        "cookie",
        "pin",
    }
)
# Secrets named by two or three words, matched on adjacent words run together, so "secret_key", "SecretKey" and
# "secretkey" are one name, as are "2fa_code" and "2FACode".
_SECRET_COMPOUNDS = frozenset(
    {
        "secretkey", "accesskey", "apikey", "privatekey", "signingkey", "encryptionkey", "masterkey", "sessionkey",
        "recoverycode", "backupcode", "mfacode", "2facode", "tfacode", "authcode", "authorizationcode",
        "verificationcode", "securitycode", "smscode", "logincode", "resetcode", "unlockcode", "activationcode",
        "onetime", "onetimecode", "otpcode", "pincode", "sessionid", "sessionids", "password", "passcode",
        "passphrase", "passwd",
    }
)  # fmt: skip
# The last word of a name says what it holds: a count or a type of tokens holds no token. Only these few, whose
# values cannot be the secret; "password_hash" or "token_id" still hold one.
_ABOUT_A_SECRET = frozenset({"count", "length", "type", "kind", "policy", "expiry", "ttl"})
# "credential" alone says little: "credential_id" and "credential_model" name it, "new_credential" and
# "credential_value" hold it. A name is a credential when it ends in the word or in one of these.
_CREDENTIAL_VALUE = frozenset(
    {
        "new", "old", "current", "previous", "prev", "temp", "temporary", "initial", "value", "plain", "plaintext",
        "cleartext", "raw", "text", "string", "str", "data", "blob", "bytes", "json", "b64", "base64", "encoded",
        "hash",
    }
)  # fmt: skip
_FLAG_WORDS = frozenset({"has", "is"})  # "has_credential": a flag, not the credential
_WORD_SPLIT = re.compile(r"[^a-zA-Z0-9]+|(?<=[a-z0-9])(?=[A-Z])|(?<=[a-zA-Z])(?=[0-9])|(?<=[0-9])(?=[a-zA-Z])")


def secret_field_name(key: str) -> bool:
    """True when a field name says it holds a password, secret, token, one-time code or credential."""
    words = [_singular(w.lower()) for w in _WORD_SPLIT.split(key) if w]
    if not words or words[-1] in _ABOUT_A_SECRET:
        return False
    if any(w in _SECRET_WORDS or w.endswith(("password", "secret", "token")) for w in words):
        return True
    # runs of up to three words, the longest a compound has: a name of thousands of words costs linear time
    if any("".join(words[i : i + n]) in _SECRET_COMPOUNDS for n in (1, 2, 3) for i in range(len(words) - n + 1)):
        return True
    if "credential" in words and words[0] not in _FLAG_WORDS:
        return words[-1] == "credential" or words[-1] in _CREDENTIAL_VALUE or "".join(words[-2:]) in _CREDENTIAL_VALUE
    return False


def _singular(word: str) -> str:
    """'tokens' -> 'token', 'codes' -> 'code': plural names hold secrets as surely ('status' stays)."""
    return word[:-1] if len(word) > 3 and word[-1] == "s" and word[-2] not in "su" else word


def find_secret_field(obj: Any, path: str = "") -> str | None:
    """The dotted path of the first secret-looking field name in a JSON value, if any."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            here = f"{path}.{k}" if path else str(k)
            if secret_field_name(str(k)):
                return here
            found = find_secret_field(v, here)
            if found:
                return found
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            found = find_secret_field(v, f"{path}[{i}]")
            if found:
                return found
    return None


def _reason(err: ValidationError) -> str:
    """One line naming each bad field and what is wrong with it."""
    parts = []
    for e in err.errors(include_url=False):
        loc = [str(p) for p in e["loc"]]
        if loc and loc[0] in EVENT_TYPES:  # the union's branch name adds nothing for the reader
            loc = loc[1:]
        where = ".".join(loc) or "event"
        if e["type"] == "union_tag_invalid":
            tag = (e.get("ctx") or {}).get("tag")
            parts.append(f"unknown event type {tag!r}")
        elif e["type"] == "union_tag_not_found":
            parts.append("missing field 'type'")
        elif e["type"] == "missing":
            parts.append(f"missing field '{where}'")
        elif e["type"] == "json_invalid":
            parts.append(f"not valid JSON ({e['msg']})")
        elif e["type"] == "timezone_aware":
            parts.append(f"'{where}' needs a time zone offset (RFC 3339)")
        else:
            parts.append(f"'{where}': {e['msg']}")
    return "; ".join(parts)


def _event_id(raw: bytes) -> str | None:
    """The rejected event's own id, to name it by: the envelope's when the line is a JSON object, else the first
    that looks like one (a `data` holding an "id" of its own must not lend it)."""
    if len(raw) <= MAX_EVENT_BYTES:
        try:
            obj = json.loads(raw)
        except (ValueError, RecursionError):
            obj = None
        if isinstance(obj, dict):
            i = obj.get("id")
            return i if isinstance(i, str) and 0 < len(i) <= 256 else None
    m = re.search(rb'"id"\s*:\s*"([^"\\]{1,256})"', raw)
    return m.group(1).decode("utf-8", "replace") if m else None


def parse_event(raw: bytes | str) -> Event:
    """Decode one event from JSON, or raise Rejected naming what is wrong."""
    if isinstance(raw, str):
        raw = raw.encode("utf-8")
    if len(raw) > _FITS_UNMEASURED:
        _check_size(raw)
    try:
        ev: Event = _validate_json(raw)
    except ValidationError as err:
        raise Rejected(_reason(err), _event_id(raw)) from None
    # Our own field names hold no secrets; only fields we do not know can, so only they are checked. Most
    # events have none, which this tests inline before calling _secret_in_extras.
    data = ev.data
    if not (
        ev.__pydantic_extra__
        or data.__pydantic_extra__
        or (type(data) is LoginSucceededData and data.geo is not None and data.geo.__pydantic_extra__)
    ):
        return ev
    where = _secret_in_extras(ev)
    if where:
        raise Rejected(
            f"field '{where}' looks like it holds a secret; events must never carry passwords, "
            "secrets, tokens or one-time codes",
            ev.id,
        )
    return ev


def compact_json(obj: Any) -> bytes:
    """An event as compact JSON in UTF-8, the form its size is measured in (a lone surrogate, which UTF-8 cannot
    hold, as its \\u escape)."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8", "backslashreplace")


def _check_size(raw: bytes) -> None:
    """Reject a line over MAX_LINE_BYTES unread, or an event over MAX_EVENT_BYTES as compact JSON."""
    if len(raw) > MAX_LINE_BYTES:
        raise Rejected(
            f"line is {len(raw)} bytes, over the {MAX_LINE_BYTES}-byte limit on a line "
            f"(an event is at most {MAX_EVENT_BYTES} bytes as compact JSON)",
            _event_id(raw),
        )
    try:
        size = len(compact_json(json.loads(raw)))
    except (ValueError, RecursionError):
        size = len(raw)  # not JSON: its own length; when that fits, the decoder says what is wrong
    if size > MAX_EVENT_BYTES:
        raise Rejected(f"event is {size} bytes as compact JSON, over the {MAX_EVENT_BYTES}-byte limit", _event_id(raw))


def _secret_in_extras(ev: Event) -> str | None:
    """The path of a secret-looking field among the unknown fields of the envelope, data and geo."""
    found = None
    if ev.__pydantic_extra__:
        found = find_secret_field(ev.__pydantic_extra__)
    data = ev.data
    if not found and data.__pydantic_extra__:
        found = find_secret_field(data.__pydantic_extra__, "data")
    geo = data.geo if type(data) is LoginSucceededData else None
    if not found and geo is not None and geo.__pydantic_extra__:
        found = find_secret_field(geo.__pydantic_extra__, "data.geo")
    return found


def parse_event_obj(obj: dict[str, Any]) -> Event:
    """Decode one event from an already-parsed JSON object (the same checks as parse_event)."""
    return parse_event(compact_json(obj))
