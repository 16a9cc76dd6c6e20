"""The embedded monitor's settings: one object, from the environment (MONITOR_*) or flags, checked at once."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated

from pydantic import BeforeValidator, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from monitor.arrival import DEFAULT_MAX_AHEAD, MaxAhead
from monitor.durations import duration_value


class ServiceSettings(BaseSettings):
    """Where the state lives, where the API listens, and how time moves."""

    model_config = SettingsConfigDict(env_prefix="MONITOR_", extra="ignore", frozen=True)

    policy: str = "default"
    directory: Path | None = Field(None, description="the register as a YAML file (first start only)")
    data_dir: Path = Field(Path("monitor-data"), description="the SQLite state and the drop folder")
    inbox: Path | None = Field(None, description="drop folder of JSONL files (default: DATA_DIR/inbox)")
    web_host: str = "127.0.0.1"
    web_port: Annotated[int, Field(ge=1, le=65535)] = 8080
    lateness: Annotated[timedelta, BeforeValidator(duration_value)] = timedelta(seconds=30)
    # an event stamped further ahead of its arrival is refused (monitor/arrival.py): event time only moves forward
    max_ahead: MaxAhead = DEFAULT_MAX_AHEAD
    tick_seconds: Annotated[float, Field(ge=0)] = 5.0
    sinks: Path | None = Field(None, description="alert delivery routes (YAML); URLs come from the environment")
    delivery_max_backoff: Annotated[float, Field(gt=0, le=3600)] = 300.0
    console_url: str | None = Field(None, description="public base URL of the console, for links in alerts")
    loglevel: str = "info"

    @field_validator("lateness")
    @classmethod
    def _lateness(cls, v: timedelta) -> timedelta:
        if v < timedelta(0):
            raise ValueError("lateness must not be negative")
        return v

    @field_validator("loglevel")
    @classmethod
    def _loglevel(cls, v: str) -> str:
        if v.lower() not in ("debug", "info", "warning", "error"):
            raise ValueError(f"{v!r} is not a log level; use debug, info, warning or error")
        return v.lower()

    @property
    def db_path(self) -> Path:
        return self.data_dir / "monitor.db"

    @property
    def inbox_dir(self) -> Path:
        return self.inbox or self.data_dir / "inbox"

    @property
    def base_url(self) -> str:
        return self.console_url or f"http://{self.web_host}:{self.web_port}"
