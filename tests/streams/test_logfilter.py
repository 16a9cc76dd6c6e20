"""The Kafka clients' repeated log lines are limited; the monitor's own are not."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from streams.logfilter import RepeatFilter, limit_repeats


def _record(name: str, msg: str, at: float, *args: object) -> logging.LogRecord:
    rec = logging.LogRecord(name, logging.ERROR, __file__, 1, msg, args, None)
    rec.created = at
    return rec


def test_a_flood_of_one_kind_is_cut_to_the_burst_per_window_and_the_drop_is_told() -> None:
    f = RepeatFilter(burst=3, window=10.0)
    passed = [f.filter(_record("aiokafka.conn", "Unable connect to %s", t / 100, "node 1")) for t in range(1000)]
    assert sum(passed) == 3 and passed[:3] == [True, True, True]  # 1,000 in 10 s: three of them
    nxt = _record("aiokafka.conn", "Unable connect to %s", 10.5, "node 1")
    assert f.filter(nxt)
    assert nxt.getMessage() == "Unable connect to node 1 [997 more like this in the previous 10s not logged]"


def test_kinds_are_counted_apart_and_the_monitors_own_records_always_pass() -> None:
    f = RepeatFilter(burst=1, window=10.0)
    assert f.filter(_record("aiokafka.client", "a", 0.0))
    assert not f.filter(_record("aiokafka.client", "a", 0.1))
    assert f.filter(_record("aiokafka.client", "b", 0.2))  # another template
    assert f.filter(_record("kafka.conn", "a", 0.3))  # another logger
    assert all(f.filter(_record("streams.app", "late event", t / 10)) for t in range(100))
    assert f.filter(_record("aiokafkaish", "a", 0.4)) and f.filter(_record("aiokafkaish", "a", 0.5))  # not a child


def test_limit_repeats_filters_every_handler_of_the_logger() -> None:
    logger = logging.getLogger("test-logfilter")
    handlers = [logging.NullHandler(), logging.NullHandler()]
    for h in handlers:
        logger.addHandler(h)
    try:
        f = limit_repeats(logger, burst=2)
        assert all(f in h.filters for h in handlers)
    finally:
        for h in handlers:
            logger.removeHandler(h)


@pytest.mark.parametrize("level", ["warning", "error", "info"])
def test_a_worker_logging_at_warn_or_above_does_not_make_a_record_of_every_debug_call(
    tmp_path: Path, level: str
) -> None:
    import faust

    from streams.app import _Worker, build_app
    from streams.settings import StreamSettings

    app = build_app(StreamSettings(data_dir=tmp_path, app_id="app", topic_prefix="t", loglevel=level))
    root = logging.getLogger()
    saved = root.level, root.handlers[:]
    try:
        if level != "info":  # Faust's own worker: its spinner turns debug on under the level asked for
            faust.Worker(app, loglevel=level, quiet=True)._setup_logging()
            assert logging.getLogger("aiokafka.producer.producer").isEnabledFor(logging.DEBUG)
        _Worker(app, loglevel=level, quiet=True)._setup_logging()
        assert not logging.getLogger("aiokafka.producer.producer").isEnabledFor(logging.DEBUG)
        assert logging.getLogger("streams.app").isEnabledFor(logging.getLevelName(level.upper()))
    finally:
        root.setLevel(saved[0])
        root.handlers[:] = saved[1]
