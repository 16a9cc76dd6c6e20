"""Fuzzing the decoder: 10,000 mutated events and arbitrary JSON; it only ever accepts or rejects with a reason."""

from __future__ import annotations

import json
from itertools import islice
from random import Random

from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.events import Rejected, parse_event
from tests.fuzzing import CANARY, mutants, seed_events

N = 10_000


def _judge(raw: bytes) -> str:
    """'ok' or 'rejected'; anything else the decoder does (another exception, a secret let in) fails the test."""
    try:
        parse_event(raw)
    except Rejected as rej:
        assert rej.reason, raw[:200]
        assert len(rej.reason) < 2000
        assert CANARY not in rej.reason  # a reason never repeats a secret's value
        return "rejected"
    assert CANARY.encode() not in raw, f"a secret-looking field was accepted: {raw[:300]!r}"
    return "ok"


def test_ten_thousand_mutants_are_accepted_or_rejected_with_a_reason() -> None:
    seeds = seed_events()
    outcomes = [_judge(raw) for raw in islice(mutants(seeds, Random(20261122)), N)]
    # the mutations are meant to break events: most must be rejected, and some (markup, extensions) pass
    assert outcomes.count("rejected") > N * 0.6
    assert outcomes.count("ok") > N * 0.02


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=1500, deadline=None)
@given(
    envelope=st.fixed_dictionaries(
        {},
        optional={
            "specversion": st.sampled_from(["1.0", "0.3"]) | json_values,
            "id": st.text(max_size=10) | json_values,
            "source": st.text(max_size=10) | json_values,
            "type": st.sampled_from(["hr.leaver", "login.succeeded", "directory.person", "nope"]) | json_values,
            "time": st.sampled_from(["2026-10-01T10:00:00Z", "2026-10-01T10:00:00"]) | json_values,
            "data": json_values,
        },
    )
)
def test_arbitrary_json_envelopes_never_crash_the_decoder(envelope: dict[str, object]) -> None:
    _judge(json.dumps(envelope).encode())


@settings(max_examples=1500, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_crash_the_decoder(raw: bytes) -> None:
    _judge(raw)
