"""Whether the Kafka broker answers a worker, asked on a connection of its own: for /health and `monitor_broker_up`.

A worker's Kafka clients retry quietly while the broker is away or frozen, so without this a broker that does not
answer looks, from outside, like a quiet stream: /health said ok and no metric moved.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime, timedelta

from monitor.durations import format_duration
from streams import metrics
from streams.sideclient import SideClient

log = logging.getLogger("streams")

CHECK_INTERVAL_S = 2.0  # how often a worker asks the brokers for the cluster's metadata
CHECK_TIMEOUT_S = 5.0  # how long one check may take before it counts as unanswered
NODE_TIMEOUT_MS = 1000  # how long the client waits for one broker before it asks the next (the client's default: 40 s)
FAILED_CHECKS = 2  # checks in a row unanswered before the worker says so: one slow answer is not an outage


class BrokerWatch:
    """The brokers' last answer to a metadata request, or since when none has answered, and why.

    A check asks every broker the client knows, one after another, until one answers, so a cluster with one broker
    down still answers; the watch says "down" only when no broker has answered `FAILED_CHECKS` checks in a row.
    """

    def __init__(self, bootstrap: str, client_id: str, timeout: float = CHECK_TIMEOUT_S) -> None:
        self.bootstrap = bootstrap
        self._side = SideClient(bootstrap, client_id, timeout, request_timeout_ms=NODE_TIMEOUT_MS)
        self.failed = 0  # checks unanswered in a row
        self.failing_since: datetime | None = None  # wall clock of the first of them, for people
        self._failing_at: float | None = None  # monotonic, for durations
        self.error: str | None = None
        self._closed = False

    async def run(self, interval: float = CHECK_INTERVAL_S) -> None:
        """Check every `interval` seconds until cancelled or closed; the client goes with it either way."""
        try:
            while not self._closed:
                await self.check()
                await asyncio.sleep(interval)
        finally:
            await self.close()

    async def check(self) -> bool:
        """Ask once; True when a broker answered within the timeout."""
        try:
            await self._side.ask(lambda client: client.topics())
        except Exception as exc:  # refused, timed out, anything the client raises
            if not self._closed:
                self._failed(exc)
            return False
        if self.down and self._failing_at is not None:
            silent = format_duration(timedelta(seconds=round(time.monotonic() - self._failing_at)))
            log.warning("the Kafka broker at %s answers again, after %s without an answer", self.bootstrap, silent)
        self.failed, self.failing_since, self._failing_at, self.error = 0, None, None, None
        metrics.BROKER_UP.set(1)
        return True

    @property
    def down(self) -> bool:
        return self.failed >= FAILED_CHECKS

    def _failed(self, exc: Exception) -> None:
        self.error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        if self.failed == 0:
            self.failing_since, self._failing_at = datetime.now(UTC), time.monotonic()
        self.failed += 1
        if self.failed == FAILED_CHECKS:
            log.warning("the Kafka broker at %s does not answer (%s); the worker's clients keep retrying",
                        self.bootstrap, self.error)  # fmt: skip
        if self.down:
            metrics.BROKER_UP.set(0)

    def warning(self) -> str | None:
        """What /health says while no broker answers, or None."""
        if not self.down or self._failing_at is None or self.failing_since is None:
            return None
        silent = format_duration(timedelta(seconds=max(1, round(time.monotonic() - self._failing_at))))
        return (f"the Kafka broker at {self.bootstrap} has not answered this worker's metadata requests for {silent} "
                f"(since {self.failing_since.isoformat(timespec='seconds')}; {self.error}): reading and sending "
                "wait on it; the worker carries on by itself once it answers")  # fmt: skip

    async def close(self) -> None:
        self._closed = True
        await self._side.close()
