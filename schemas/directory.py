"""The directory file (shared/EVENTS.md, "The directory file"): the register kept by the comms team."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from schemas.events import AccountRegisteredData, DirectoryPersonData

# The largest register file the monitor takes in one import: 100,000 accounts and 300,000 people are about 50 MB.
MAX_REGISTER_BYTES = 64 << 20


class DirectoryPerson(DirectoryPersonData):
    model_config = ConfigDict(frozen=True, strict=True, extra="forbid")

    groups: list[str] = Field(default_factory=list)


class DirectoryAccount(AccountRegisteredData):
    model_config = ConfigDict(frozen=True, strict=True, extra="forbid")

    admins: list[str] = Field(default_factory=list)
    manager: str | None = None
    editors: list[str] = Field(default_factory=list)


class Organisation(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    domains: list[str] = Field(min_length=1)
    handle_prefix: str | None = None
    forbidden_abbreviations: list[str] = Field(default_factory=list)


class Directory(BaseModel):
    """people, accounts and organisation, as one YAML file."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    organisation: Organisation
    people: list[DirectoryPerson] = Field(default_factory=list)
    accounts: list[DirectoryAccount] = Field(default_factory=list)
