"""Every rule case as one stream, for the partitioned and the live runtime's parity tests."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import yaml

from monitor.directory import directory_events, parse_directory
from monitor.rules import RULES

# The stream spans decades (a month and more per case), so it is moved back 2,400 weeks (46 years; weekdays and times
# of day kept) to run in the past: live, an event stamped ahead of its arrival is refused (monitor/arrival.py), and
# these are published now.
BACK = timedelta(weeks=2400)
TIME_FIELDS = ("leaving_at", "effective_at", "ends_at")  # times in events' data, moved with them


def case_stream() -> tuple[list[bytes], datetime]:
    """Every rule case of the default profile as one stream: each case's register (as directory.* events) and
    events, sorted by time, its event ids made unique, shifted (the times in their data too) to start 30 days after
    the previous case's last event or `until`, so that the stream is in time order and one case's deadlines fall
    due before the next begins, the whole moved back by BACK; and the time to advance to at the end (past every
    case's until)."""
    lines: list[bytes] = []
    cases = [c for spec in RULES.values() for c in spec.cases if c.profile == "default"]
    end = min(datetime.fromisoformat(e["time"]) for c in cases for e in c.events) - BACK
    for i, case in enumerate(cases):
        first = min(datetime.fromisoformat(e["time"]) for e in case.events)
        shift = end + timedelta(days=30) - first

        def moved(t: datetime, shift: timedelta = shift) -> str:
            return (t + shift).isoformat().replace("+00:00", "Z")

        if case.directory:
            register = directory_events(parse_directory(yaml.safe_dump(case.directory)), first - timedelta(seconds=1))
            for ev in register:
                obj = json.loads(ev.model_dump_json())
                obj["id"], obj["time"] = f"c{i}-{obj['id']}", moved(ev.time)
                lines.append(json.dumps(obj).encode())
        for e in sorted(case.events, key=lambda e: datetime.fromisoformat(e["time"])):
            data = {k: moved(datetime.fromisoformat(v)) if k in TIME_FIELDS else v for k, v in e["data"].items()}
            obj = {**e, "id": f"c{i}-{e['id']}", "time": moved(datetime.fromisoformat(e["time"])), "data": data}
            lines.append(json.dumps(obj).encode())
        last = datetime.fromisoformat(case.until) if case.until else max(datetime.fromisoformat(e["time"])
                                                                           for e in case.events)  # fmt: skip
        end = max(end, last + shift)
    return lines, end
