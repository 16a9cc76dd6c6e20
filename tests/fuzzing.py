"""Malformed and mutated events for the fuzz tests: seeded, so a failure can be reproduced from its seed."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from random import Random
from typing import Any

from monitor.demo import build_directory, build_events

SECRET_NAMES = ("password", "secret", "api_token", "otp", "client_secret", "Passwd", "mfa_code")
CANARY = "s3cr3t-canary-value"


def seed_events(n: int = 400) -> list[dict[str, Any]]:
    """Valid events of every type the demo month has, a few of each (the material mutations start from)."""
    by_type: dict[str, list[dict[str, Any]]] = {}
    for ev in build_events(build_directory(7), 7, 30):
        kept = by_type.setdefault(ev["type"], [])
        if len(kept) < max(1, n // 20):
            kept.append(ev)
    return [e for evs in by_type.values() for e in evs][:n]


def _random_json(rng: Random, depth: int = 0) -> Any:
    pick = rng.randrange(9 if depth < 3 else 6)
    if pick == 0:
        return None
    if pick == 1:
        return rng.choice([True, False])
    if pick == 2:
        return rng.randint(-(2**70), 2**70)
    if pick == 3:
        return rng.random() * 10 ** rng.randint(-5, 300)
    if pick == 4:
        return "".join(chr(rng.randrange(0, 0x2FFF)) for _ in range(rng.randrange(0, 40)))
    if pick == 5:
        return rng.choice(
            ["", "2026-13-45T99:99:99Z", "2026-10-01T10:00:00", "<script>alert(1)</script>", "\x00\x1b[2J"]
        )
    if pick == 6:
        return [_random_json(rng, depth + 1) for _ in range(rng.randrange(0, 4))]
    return {f"k{rng.randrange(100)}": _random_json(rng, depth + 1) for _ in range(rng.randrange(0, 4))}


def _mutate_obj(ev: dict[str, Any], rng: Random) -> dict[str, Any] | list[Any] | str | int | None:
    ev = json.loads(json.dumps(ev))
    data = ev.get("data", {})
    kind = rng.randrange(10)
    if kind == 0:  # drop a field
        target = ev if rng.random() < 0.5 or not data else data
        if target:
            target.pop(rng.choice(sorted(target)), None)
    elif kind == 1:  # a field of the wrong type
        target = ev if rng.random() < 0.4 or not data else data
        if target:
            target[rng.choice(sorted(target))] = _random_json(rng)
    elif kind == 2:  # a secret-looking field somewhere
        target = ev if rng.random() < 0.3 else data
        target[rng.choice(SECRET_NAMES)] = CANARY
    elif kind == 3:  # an unknown or misspelt type
        ev["type"] = rng.choice(["hr.leavers", "login", "", "HR.LEAVER", "directory.person ", "x" * 300])
    elif kind == 4:  # a bad time
        ev["time"] = rng.choice(["yesterday", "2026-10-01", "2026-10-01T10:00:00", "", 1761904800, None])
    elif kind == 5:  # not an object at all
        return _random_json(rng)
    elif kind == 6:  # markup and control characters in every text field: valid, and must be shown escaped
        for k, v in list(data.items()):
            if isinstance(v, str) and k.endswith("_id"):
                data[k] = v + "<b onmouseover=x>\u202e\x07"
    elif kind == 7:  # wrong envelope version
        ev["specversion"] = rng.choice(["0.3", "2.0", 1.0, None])
    elif kind == 8:  # extension attributes (allowed unless secret-looking)
        ev[f"ext{rng.randrange(10)}"] = _random_json(rng)
    else:  # a deeply nested data value
        value: Any = "x"
        for _ in range(rng.randrange(1, 200)):
            value = [value]
        data["reason"] = value
    return ev


def _mutate_bytes(raw: bytes, rng: Random) -> bytes:
    b = bytearray(raw)
    kind = rng.randrange(5)
    if kind == 0 and b:  # flip bytes
        for _ in range(rng.randrange(1, 8)):
            b[rng.randrange(len(b))] = rng.randrange(256)
    elif kind == 1 and b:  # truncate
        del b[rng.randrange(len(b)) :]
    elif kind == 2:  # insert junk
        at = rng.randrange(len(b) + 1)
        b[at:at] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 16)))
    elif kind == 3:  # over the size limit
        b = bytearray(raw[:-2] + b',"pad":"' + b"x" * (70_000) + b'"}}')
    else:  # invalid UTF-8 and NULs
        b[rng.randrange(len(b) + 1) : 0] = b"\xff\xfe\x00"
    return bytes(b)


def mutants(seeds: list[dict[str, Any]], rng: Random) -> Iterator[bytes]:
    """An endless run of mutated events as bytes: about a third byte-level, two thirds structural."""
    makers: list[Callable[[], bytes]] = [
        lambda: _mutate_bytes(json.dumps(rng.choice(seeds), separators=(",", ":")).encode(), rng),
        lambda: json.dumps(_mutate_obj(rng.choice(seeds), rng), separators=(",", ":")).encode(),
        lambda: json.dumps(_mutate_obj(rng.choice(seeds), rng), separators=(",", ":")).encode(),
    ]
    while True:
        yield rng.choice(makers)()


def marker(i: int, account: str = "acc-001") -> dict[str, Any]:
    """A valid event with a unique id, to show the good messages around the bad ones get through."""
    return {
        "specversion": "1.0",
        "id": f"fuzz-marker-{i}",
        "source": "fuzz",
        "type": "post.published",
        "time": "2026-10-15T12:00:00Z",
        "data": {"account_id": account},
    }
