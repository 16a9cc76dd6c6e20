"""Events near the 64 KiB limit written in different ways: each must get the same verdict on every input path."""

from __future__ import annotations

import json
from typing import Any

CJK = "監視"


def _post(event_id: str, **extra: Any) -> dict[str, Any]:
    data = {"account_id": "acc-002", "person_id": "p-0001", **extra}
    return {"specversion": "1.0", "id": event_id, "source": "size-test", "type": "post.published",
            "time": "2026-10-31T10:00:00Z", "data": data}  # fmt: skip


def _compact(ev: dict[str, Any]) -> bytes:
    return json.dumps(ev, separators=(",", ":"), ensure_ascii=False).encode()


def _spaced_to(ev: dict[str, Any], size: int) -> bytes:
    """The event's compact JSON with blanks after its opening brace, `size` bytes in all."""
    raw = _compact(ev)
    return raw[:1] + b" " * (size - len(raw)) + raw[1:]


def _padded_to(ev: dict[str, Any], size: int) -> dict[str, Any]:
    """The event with an ASCII `ref` field making its compact JSON in UTF-8 `size` bytes."""
    ev["data"]["ref"] = ""
    ev["data"]["ref"] = "r" * (size - len(_compact(ev)))
    return ev


def size_cases(tag: str) -> list[tuple[str, bytes, bool]]:
    """(name, the line as sent, accepted) for each case; `tag` keeps the event ids apart between tests."""
    text = CJK * 7_795 + "éé"  # each 3 (é 2) bytes in UTF-8, 6 as a \u escape
    cjk = _padded_to(_post(f"size-cjk-{tag}", note=text), 47_026)
    escaped = _padded_to(_post(f"size-escaped-{tag}", note=text), 47_026)
    spaced = _post(f"size-spaced-{tag}")
    over = _padded_to(_post(f"size-over-{tag}", note=CJK * 10_850), 65_537)
    exponents = _post(f"size-exponents-{tag}", readings=[1e15] * 4_000)  # "1E15" grows to "1000000000000000.0"
    cases = [
        ("cjk-utf8", _compact(cjk), True),  # the review's: 47,026 bytes, 93,804 as \u escapes
        ("cjk-escaped", json.dumps(escaped, separators=(",", ":")).encode(), True),
        ("spaced", _spaced_to(spaced, 440_176), True),  # the review's: 440,176 bytes, mostly blanks
        ("over-as-compact", _compact(over), False),  # one byte over
        ("exponents", _compact(exponents).replace(b"1000000000000000.0", b"1E15"), False),
    ]
    assert [len(raw) for _, raw, _ in cases[:4]] == [47_026, 93_804, 440_176, 65_537]
    assert len(cases[4][1]) < 65_536 < len(_compact(exponents))
    return cases
