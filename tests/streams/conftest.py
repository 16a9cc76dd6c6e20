"""Kafka broker for the stream tests.

``kafka_bootstrap`` (session scope) gives "host:port", from the first that works:
1. env ``KAFKA_BOOTSTRAP`` (an existing broker; nothing is started or stopped);
2. a testcontainers Kafka container, when a Docker engine answers;
3. a local KRaft broker from Maven Central jars (deploy/kafka/local_kafka.py).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import shutil
import subprocess
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

from tests.streams.harness import load_local_kafka


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "kafka: needs a Kafka broker (kafka_bootstrap fixture)")


def _docker_engine_answers() -> bool:
    docker = shutil.which("docker")
    if docker is None:
        return False
    try:
        res = subprocess.run([docker, "info"], check=False, capture_output=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return res.returncode == 0


def _testcontainers_kafka() -> ModuleType | None:
    """The testcontainers module holding ``KafkaContainer``, if installed."""
    for name in ("testcontainers.community.kafka", "testcontainers.kafka"):
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    return None


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    env = os.environ.get("KAFKA_BOOTSTRAP")
    if env:
        yield env
        return
    testcontainers = _testcontainers_kafka() if _docker_engine_answers() else None
    if testcontainers is not None:
        with testcontainers.KafkaContainer() as container:
            yield str(container.get_bootstrap_server())
        return
    with load_local_kafka().LocalKafka() as broker:
        _LOCAL.append(broker)
        try:
            yield str(broker.bootstrap)
        finally:
            _LOCAL.clear()


_LOCAL: list[Any] = []  # the session's LocalKafka, when kafka_bootstrap started one


@pytest.fixture
def restartable_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A LocalKafka the test may stop and start again: the session's own when it is one, else a fresh one."""
    if os.environ.get("KAFKA_BOOTSTRAP"):
        pytest.skip("KAFKA_BOOTSTRAP names an external broker, which a test cannot stop and start again")
    if _LOCAL:
        yield _LOCAL[0]
        return
    broker = load_local_kafka().LocalKafka(tmp_path_factory.mktemp("kafka"))
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
