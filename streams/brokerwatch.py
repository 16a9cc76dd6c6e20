"""Whether the Kafka broker answers a worker, asked on a connection of its own: for /health and `monitor_broker_up`.

A worker's Kafka clients retry quietly while the broker is away or frozen, so without this a broker that does not
answer looks, from outside, like a quiet stream: /health said ok and no metric moved.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka import AIOKafkaConsumer  # type: ignore[import-untyped]

from monitor.durations import format_duration
from streams import metrics

log = logging.getLogger("streams")

CHECK_INTERVAL_S = 2.0  # how often a worker asks the broker for its metadata
CHECK_TIMEOUT_S = 5.0  # how long it waits for an answer before it counts the broker as not answering


class BrokerWatch:
    """The broker's last answer to a metadata request, or since when it has not answered, and why."""

    def __init__(self, bootstrap: str, client_id: str, timeout: float = CHECK_TIMEOUT_S) -> None:
        self.bootstrap, self.client_id, self.timeout = bootstrap, client_id, timeout
        self.failing_since: datetime | None = None  # wall clock, for people
        self._failing_at: float | None = None  # monotonic, for durations
        self.error: str | None = None
        self._client: Any = None

    async def check(self) -> bool:
        """Ask once; True when the broker answered within the timeout."""
        try:
            if self._client is None:
                client = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, client_id=self.client_id,
                                          enable_auto_commit=False)  # fmt: skip
                self._client = client
                await asyncio.wait_for(client.start(), timeout=self.timeout)
            await asyncio.wait_for(self._client.topics(), timeout=self.timeout)
        except Exception as exc:  # refused, timed out, or anything the client raises: the broker did not answer
            await self._drop()
            self._failed(exc)
            return False
        if self._failing_at is not None:
            log.warning("the Kafka broker at %s answers again, after %s without an answer", self.bootstrap,
                        format_duration(timedelta(seconds=round(time.monotonic() - self._failing_at))))  # fmt: skip
        self.failing_since, self._failing_at, self.error = None, None, None
        metrics.BROKER_UP.set(1)
        return True

    def _failed(self, exc: BaseException) -> None:
        self.error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        if self._failing_at is None:
            self.failing_since, self._failing_at = datetime.now(UTC), time.monotonic()
            log.warning("the Kafka broker at %s does not answer (%s); the worker's clients keep retrying",
                        self.bootstrap, self.error)  # fmt: skip
        metrics.BROKER_UP.set(0)

    def warning(self) -> str | None:
        """What /health says while the broker does not answer, or None."""
        if self._failing_at is None or self.failing_since is None:
            return None
        silent = format_duration(timedelta(seconds=max(1, round(time.monotonic() - self._failing_at))))
        return (f"the Kafka broker at {self.bootstrap} has not answered for {silent} (since "
                f"{self.failing_since.isoformat(timespec='seconds')}; {self.error}): nothing is read or sent until "
                "it does; the worker carries on by itself once it answers")  # fmt: skip

    async def _drop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                await asyncio.wait_for(client.stop(), timeout=self.timeout)
            except Exception as exc:  # a client that cannot even stop is dropped all the same
                log.debug("broker watch: stopping its client: %r", exc)

    async def close(self) -> None:
        await self._drop()
