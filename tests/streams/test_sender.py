"""The worker's sender: what it hands the producer, and a delivery the producer gives up on is logged and counted.

A unit test of the callback with a stand-in producer; delivery itself is covered against a real broker by
test_live.py and test_dead_letter.py (alerts, lockouts, dead letters with their headers)."""

from __future__ import annotations

import asyncio
import logging
from types import SimpleNamespace
from typing import Any

import pytest

from streams import metrics
from streams.app import _sender


class _Producer:
    def __init__(self) -> None:
        self.sent: list[tuple[Any, ...]] = []
        self.futures: list[asyncio.Future[Any]] = []

    async def send(self, *args: Any) -> asyncio.Future[Any]:
        self.sent.append(args)
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.futures.append(fut)
        return fut


def _errors(topic: str) -> float:
    return metrics.REGISTRY.get_sample_value("monitor_send_errors_total", {"topic": topic}) or 0.0


def test_a_failed_delivery_is_logged_and_counted_and_a_good_one_is_not(caplog: pytest.LogCaptureFixture) -> None:
    producer = _Producer()
    send = _sender(SimpleNamespace(producer=producer))  # type: ignore[arg-type]

    async def run() -> None:
        await send("t.alerts", b"k1", b"v1", None, None, None)
        await send("t.work", b"k2", b"v2", 3, 12.5, [("reason", b"x")])
        producer.futures[0].set_result(object())
        producer.futures[1].set_exception(RuntimeError("broker gone"))
        await asyncio.sleep(0)  # done callbacks run on the next turn of the loop

    before_alerts, before_work = _errors("t.alerts"), _errors("t.work")
    with caplog.at_level(logging.ERROR, logger="streams"):
        asyncio.run(run())
    assert producer.sent == [("t.alerts", b"k1", b"v1", None, None, None),
                             ("t.work", b"k2", b"v2", 3, 12.5, [("reason", b"x")])]  # fmt: skip
    assert _errors("t.work") == before_work + 1
    assert _errors("t.alerts") == before_alerts
    logged = [r.getMessage() for r in caplog.records]
    assert logged == ["a message to t.work was not delivered: RuntimeError('broker gone')"]
