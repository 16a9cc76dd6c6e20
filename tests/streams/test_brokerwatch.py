"""BrokerWatch without a broker: an address nobody listens on, and a listener that accepts and never answers (a
frozen broker). The real broker, frozen and let go under a worker, is tests/streams/test_reliability.py's."""

from __future__ import annotations

import asyncio
import math
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from streams import metrics
from streams.brokerwatch import FAILED_CHECKS, BrokerWatch

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def silent_listener() -> Iterator[str]:
    """127.0.0.1:PORT that accepts connections and never says a word."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(16)
        yield f"127.0.0.1:{s.getsockname()[1]}"


def _nobody_listens() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"  # closed again: connections are refused


@pytest.mark.parametrize("which", ["refused", "silent"])
def test_the_watch_says_down_only_after_checks_in_a_row_fail_and_names_the_broker(
    which: str, silent_listener: str
) -> None:
    address = silent_listener if which == "silent" else _nobody_listens()
    watch = BrokerWatch(address, "test-watch", timeout=0.5)

    async def checks() -> list[tuple[bool, bool, str | None]]:
        seen = []
        for _ in range(FAILED_CHECKS):
            seen.append((await watch.check(), watch.down, watch.warning()))
        await watch.close()
        return seen

    seen = asyncio.run(checks())
    assert [ok for ok, _, _ in seen] == [False] * FAILED_CHECKS
    assert [down for _, down, _ in seen] == [False] * (FAILED_CHECKS - 1) + [True]  # one slow answer is no outage
    assert seen[0][2] is None
    warning = seen[-1][2]
    assert warning is not None and f"the Kafka broker at {address} has not answered" in warning, warning
    assert metrics.REGISTRY.get_sample_value("monitor_broker_up") == 0.0
    assert watch._side._client is None  # nothing left open


def test_the_gauge_is_nan_until_the_first_answer_rather_than_down() -> None:
    """A worker just started has not asked yet: 0 would read as the broker down (and page someone). A fresh process,
    since this one's checks have set it."""
    code = "from streams.metrics import REGISTRY; print(REGISTRY.get_sample_value('monitor_broker_up'))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert math.isnan(float(out.stdout)), out


def test_run_stops_and_closes_its_client_when_cancelled(silent_listener: str) -> None:
    watch = BrokerWatch(silent_listener, "test-watch", timeout=5.0)

    async def cancel_mid_check() -> None:
        task = asyncio.create_task(watch.run(interval=0.1))
        await asyncio.sleep(0.3)  # inside its first check, waiting on the silent listener
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(cancel_mid_check())
    assert watch._side._client is None and watch._closed
