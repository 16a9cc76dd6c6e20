"""The session-wide secret scan (tests/conftest.py) sees a leaked token or canary, and only those."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

from service.auth import create_token
from service.store import Store, connect
from tests import conftest


def test_the_scan_catches_a_real_token_and_the_canaries(tmp_path: Path) -> None:
    token = create_token(Store(connect(tmp_path / "m.db")), "p-1", "hr", datetime.now(UTC))
    before = len(conftest._seen)
    for text in (f"auth header Bearer {token}", "payload had s3cr3t-canary-value", "url /hooks/T000/SECRETVALUE"):
        conftest._handler.emit(logging.LogRecord("leaky", logging.INFO, __file__, 1, text, None, None))
    caught = conftest._seen[before:]
    del conftest._seen[before:]  # the leak was ours, on purpose
    assert len(caught) == 3
    conftest._handler.emit(logging.LogRecord("fine", logging.INFO, __file__, 1, "smon_ prefix alone", None, None))
    assert len(conftest._seen) == before
