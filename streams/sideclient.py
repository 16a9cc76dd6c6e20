"""A Kafka client of a worker's own, for questions asked off the Faust consumer's connection (whose requests wait
behind its long-polled fetches): started on the first question, dropped after any failure so the next starts afresh."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer  # type: ignore[import-untyped]

log = logging.getLogger("streams")

T = TypeVar("T")


class SideClient:
    """One lazily started `AIOKafkaConsumer` that asks, within `timeout` seconds each, and is stopped and forgotten
    when starting or asking fails (or is cancelled), so a broken connection is never asked again."""

    def __init__(self, bootstrap: str, client_id: str, timeout: float, **config: Any) -> None:
        self.bootstrap, self.client_id, self.timeout, self.config = bootstrap, client_id, timeout, config
        self._client: Any = None

    async def ask(self, question: Callable[[Any], Awaitable[T]]) -> T:
        """`question(client)`'s answer; whatever starting or asking raises is raised once the client is dropped."""
        try:
            if self._client is None:
                client = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, client_id=self.client_id,
                                          enable_auto_commit=False, **self.config)  # fmt: skip
                self._client = client  # before starting: a start that fails or is cancelled is dropped too
                await asyncio.wait_for(client.start(), timeout=self.timeout)
            return await asyncio.wait_for(question(self._client), timeout=self.timeout)
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        """Stop the client, if one is started; a client that cannot even stop is forgotten all the same."""
        client, self._client = self._client, None
        if client is not None:
            try:
                await asyncio.wait_for(client.stop(), timeout=self.timeout)
            except Exception as exc:
                log.debug("%s: stopping its client: %r", self.client_id, exc)
