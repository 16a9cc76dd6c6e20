"""The live runtime's settings: one object, read from the environment (MONITOR_*) or flags, checked at once."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated

from pydantic import BeforeValidator, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from monitor.arrival import DEFAULT_MAX_AHEAD, MaxAhead
from monitor.durations import duration_value


class StreamSettings(BaseSettings):
    """Where the broker is, what the topics are called, and how a worker behaves."""

    model_config = SettingsConfigDict(env_prefix="MONITOR_", extra="forbid", frozen=True)

    broker: str = Field("kafka://127.0.0.1:9092", description="kafka://HOST:PORT[,HOST:PORT]")
    policy: str = "default"
    directory: Path | None = Field(None, description="directory file: its organisation section (domains, naming)")
    topic_prefix: Annotated[str, Field(pattern=r"^[A-Za-z0-9._-]+$")] = "monitor"
    partitions: Annotated[int, Field(ge=1, le=1024)] = 8
    replication: Annotated[int, Field(ge=1, le=5)] = 1
    app_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9._-]+$")] = "social-monitor"
    web_host: str = "127.0.0.1"
    web_port: Annotated[int, Field(ge=1, le=65535)] = 6066
    data_dir: Path = Path("monitor-data")  # as the embedded monitor's; the image sets /var/lib/monitor
    lateness: Annotated[timedelta, BeforeValidator(duration_value)] = timedelta(minutes=5)
    tick_seconds: Annotated[float, Field(ge=0)] = 30.0
    loglevel: str = "info"
    # every N events (and control messages) folded, a partition's engine is snapshotted to data_dir/snapshots
    # (0: never), so a worker gaining the partition folds only the log after the snapshot
    snapshot_every: Annotated[int, Field(ge=0)] = 50_000
    # how long the group waits for a silent worker before handing its partitions to others (Kafka's minimum: 6 s)
    session_timeout: Annotated[float, Field(ge=6, le=300)] = 30.0
    # Kafka static membership (group.instance.id): a worker restarted under the same id gets its partitions back
    # at once, without a rebalance; unique per worker. None: dynamic membership
    instance_id: Annotated[str | None, Field(pattern=r"^[A-Za-z0-9._-]+$")] = None
    # how long the producer waits to fill a batch: with 0 each message sent to the work and alerts topics costs a
    # produce request and a socket write of its own (about a tenth fewer events/s reading a backlog, bench/README)
    linger_ms: Annotated[float, Field(ge=0, le=1000)] = 5.0
    # an event stamped further ahead of its arrival is refused (monitor/arrival.py): event time only moves forward
    max_ahead: MaxAhead = DEFAULT_MAX_AHEAD

    @field_validator("broker")
    @classmethod
    def _broker(cls, v: str) -> str:
        if not v.startswith("kafka://") or not all(":" in hp for hp in v[len("kafka://") :].split(",")):
            raise ValueError(f"{v!r} is not a broker URL; write kafka://HOST:PORT (several: comma-separated)")
        return v

    @property
    def bootstrap(self) -> str:
        """host:port[,host:port] for the Kafka clients."""
        return self.broker[len("kafka://") :]

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}.{name}"
