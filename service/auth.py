"""Who may do what: API tokens per person with one role each, stored only as hashes."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, get_args

from monitor.engine import BY_MONITOR
from service.store import Store

Role = Literal["security", "hr", "comms", "registrar", "admin"]
ROLES: tuple[str, ...] = get_args(Role)
TOKEN_PREFIX = "smon_"

# permission -> the roles that hold it (admin holds every permission)
PERMISSIONS: dict[str, frozenset[str]] = {
    "events:hr": frozenset({"hr"}),
    "events:directory": frozenset({"comms", "registrar"}),
    "events:signals": frozenset({"security"}),
    "alerts:read": frozenset({"security", "comms"}),
    "alerts:manage": frozenset({"security"}),
    "register:read": frozenset({"security", "hr", "comms", "registrar"}),
    "register:edit": frozenset({"comms", "registrar"}),
    "leavers:read": frozenset({"hr", "security"}),
    "emergency:request": frozenset({"comms"}),
    "emergency:read": frozenset({"comms", "security"}),
    "audit:read": frozenset({"security"}),
    "clock:advance": frozenset(),
}
# What each permission lets someone do, for 403 messages.
DESCRIPTIONS = {
    "events:hr": "submit HR events",
    "events:directory": "submit register (directory.*) events",
    "events:signals": "submit platform, credential and sign-in events",
    "alerts:read": "read alerts",
    "alerts:manage": "acknowledge or resolve alerts",
    "register:read": "read the register",
    "register:edit": "edit the register",
    "leavers:read": "read the leaver report",
    "emergency:request": "request emergency access",
    "emergency:read": "follow emergency requests and lockouts",
    "audit:read": "read the audit trail",
    "clock:advance": "move the monitor's clock",
}


def event_permission(event_type: str) -> str:
    """The permission needed to submit an event of this type."""
    if event_type.startswith("hr."):
        return "events:hr"
    if event_type.startswith("directory."):
        return "events:directory"
    if event_type == "emergency.access_requested":
        return "emergency:request"
    return "events:signals"


def allowed(role: str, permission: str) -> bool:
    return role == "admin" or role in PERMISSIONS[permission]


def roles_with(permission: str) -> list[str]:
    return sorted({*PERMISSIONS[permission], "admin"})


@dataclass(frozen=True, slots=True)
class Principal:
    """The person (or system) a request comes from, and their role."""

    name: str
    role: str


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(store: Store, name: str, role: str, at: datetime) -> str:
    """A new random token for `name`: returned once, stored only as its SHA-256 (it has 256 bits of entropy)."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; roles: {', '.join(ROLES)}")
    if name == BY_MONITOR:
        raise ValueError(f"{name!r} is the name the monitor resolves alerts under: give a token another name")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    store.begin()
    store.conn.execute(
        "INSERT INTO tokens (hash, name, role, created_at) VALUES (?, ?, ?, ?)",
        (_hash(token), name, role, at.isoformat()),
    )
    store.audit(at.isoformat(), "cli", "token.created", name, {"role": role})
    store.commit()
    return token


def revoke_tokens(store: Store, name: str, at: datetime) -> int:
    """Revoke every live token of `name`; the number revoked."""
    store.begin()
    n = store.conn.execute(
        "UPDATE tokens SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL", (at.isoformat(), name)
    ).rowcount
    store.audit(at.isoformat(), "cli", "token.revoked", name, {"tokens": n})
    store.commit()
    return int(n)


def list_tokens(store: Store) -> list[dict[str, str | None]]:
    rows = store.conn.execute("SELECT name, role, created_at, revoked_at FROM tokens ORDER BY created_at").fetchall()
    return [dict(zip(("name", "role", "created_at", "revoked_at"), r, strict=True)) for r in rows]


class AuthError(Exception):
    """Why a request is not let in: `status` 401 (who are you?) or 403 (not allowed)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def authenticate(store: Store, token: str | None) -> Principal:
    """The principal holding this token, or AuthError(401) saying what is wrong with it."""
    if not token:
        raise AuthError(401, "no token: send the header 'Authorization: Bearer TOKEN' (monitor token create)")
    if not token.startswith(TOKEN_PREFIX):
        raise AuthError(401, "malformed token: monitor tokens start with 'smon_'")
    digest = _hash(token)
    # Looked up by its SHA-256: the index compares digests, never the token itself.
    row = store.conn.execute("SELECT name, role, revoked_at FROM tokens WHERE hash = ?", (digest,)).fetchone()
    if row is None:
        raise AuthError(401, "unknown token")
    if row[2] is not None:
        raise AuthError(401, f"token revoked at {row[2]}")
    return Principal(name=row[0], role=row[1])


def authorize(principal: Principal, permission: str) -> None:
    """AuthError(403) naming the permission and the roles that hold it, unless the principal holds it."""
    if not allowed(principal.role, permission):
        raise AuthError(
            403,
            f"role {principal.role!r} may not {DESCRIPTIONS[permission]}; that needs one of: "
            f"{', '.join(roles_with(permission))}",
        )
