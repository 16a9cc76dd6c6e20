"""Alerts out (shared/EVENTS.md, "Alerts out"), lockout commands and emergency grants."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

Severity = Literal["low", "medium", "high", "critical"]
Status = Literal["open", "acknowledged", "resolved"]


class Alert(BaseModel):
    """One alert's current version; `id` is derived from the facts it is about."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    control: str = Field(pattern=r"^[A-Z]{3}-\d{2}$")
    severity: Severity
    status: Status
    account_id: str | None = None
    person_id: str | None = None
    raised_at: AwareDatetime
    updated_at: AwareDatetime
    policy: str
    sources: list[str]
    evidence: list[str]
    summary: str
    next_step: str
    resolved_by: str | None = None
    note: str | None = None


class LockoutCommand(BaseModel):
    """An emergency lockout for an executor to carry out against the platform (CONTROLS.md, Emergencies)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    account_id: str
    alert_id: str  # the alert that called for it, or the emergency grant (gr-...) that took the account back
    issued_at: datetime
    reason: str
    actions: list[str]
    notify: list[str]


class EmergencyGrant(BaseModel):
    """Time-boxed emergency access for a comms-team member during a hack (EMG-02)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    account_id: str
    requester_id: str
    reason: str
    granted_at: datetime
    expires_at: datetime
    evidence: str
