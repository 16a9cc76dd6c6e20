"""collector_paused: the cyclic collector is off inside the block and as it was found after it."""

from __future__ import annotations

import gc

import pytest

from monitor.gcpause import collector_paused, thaw


@pytest.fixture(autouse=True)
def _restore_collector():  # type: ignore[no-untyped-def]
    was = gc.isenabled()
    yield
    (gc.enable if was else gc.disable)()


def test_paused_inside_and_enabled_after() -> None:
    gc.enable()
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_nested_blocks_leave_it_paused_until_the_outer_one_ends() -> None:
    gc.enable()
    with collector_paused():
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()


def test_an_error_in_the_block_still_enables_it() -> None:
    gc.enable()
    with pytest.raises(ValueError), collector_paused():
        raise ValueError("boom")
    assert gc.isenabled()


def test_a_collector_disabled_before_stays_disabled() -> None:
    gc.disable()
    with collector_paused():
        pass
    assert not gc.isenabled()


def test_freeze_moves_what_the_block_built_out_of_the_collectors_walks_and_thaw_gives_it_back() -> None:
    gc.enable()
    gc.unfreeze()
    with collector_paused(freeze=True):
        state = [[i] for i in range(1000)]  # lists: the collector tracks every one
        assert gc.get_freeze_count() == 0  # frozen as the block ends, not before
    frozen = gc.get_freeze_count()
    assert frozen >= len(state) and gc.isenabled()
    gc.collect()
    assert gc.get_freeze_count() == frozen  # no collection walks (or unfreezes) them
    assert not any(o is state[0] for o in gc.get_objects())  # not in any generation
    thaw()
    assert gc.get_freeze_count() == 0
    assert any(o is state[0] for o in gc.get_objects())


def test_without_freeze_nothing_is_frozen() -> None:
    gc.unfreeze()
    with collector_paused():
        state = [[i] for i in range(1000)]
    assert gc.get_freeze_count() == 0 and len(state) == 1000
