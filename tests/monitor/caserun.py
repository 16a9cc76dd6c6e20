"""Run one rule's example case through the whole engine (shared by the case tests)."""

from __future__ import annotations

import json
from datetime import datetime

from monitor.directory import parse_directory
from monitor.policy import load_profile
from monitor.replay import ReplayResult, build_engine, replay
from monitor.rules.base import Case
from schemas.alerts import Alert


def run_case(case: Case, order: list[int] | None = None) -> tuple[list[Alert], ReplayResult]:
    import yaml

    directory = parse_directory(yaml.safe_dump(case.directory)) if case.directory else None
    engine = build_engine(load_profile(case.profile), directory)
    events = list(case.events)
    if order is not None:
        events = [events[i] for i in order]
    lines = [("case", i + 1, json.dumps(e).encode()) for i, e in enumerate(events)]
    until = datetime.fromisoformat(case.until) if case.until else None
    result = replay(engine, lines, until=until)
    assert not result.rejected, f"case {case.name!r} has invalid events: {result.rejected}"
    return engine.final_alerts(), result
