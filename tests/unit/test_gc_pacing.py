"""The serving process's garbage collector: full collections on a clock, not on growth.

Each test puts CPython's policy back however it ends (the pacer's `stop`), since the
collector is the whole test process's.
"""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Iterator
from typing import Any

import pytest

from orchestrator.gc_pacing import NO_AUTOMATIC_FULL_COLLECTION, YOUNG_THRESHOLD, GcPacer


class _Node:
    """Something a weak reference can follow, to make cycles of."""

    partner: Any = None


@pytest.fixture
def full_collections() -> Iterator[list[int]]:
    """How many objects each full (generation 2) collection found unreachable, as it runs."""
    seen: list[int] = []

    def callback(phase: str, info: dict[str, int]) -> None:
        if phase == "stop" and info["generation"] == 2:
            seen.append(info["collected"])

    gc.callbacks.append(callback)
    try:
        yield seen
    finally:
        gc.callbacks.remove(callback)


def _grow_the_heap() -> list[list[int]]:
    """Enough long-lived containers to grow the oldest generation by more than a quarter."""
    return [[index] for index in range(3 * max(len(gc.get_objects()), 100_000))]


async def test_a_growing_heap_triggers_full_collections_under_python_policy_alone(
    full_collections: list[int],
) -> None:
    # The control for the next test: what the pacer is there to stop.
    pacer = GcPacer(0)
    pacer.start()
    assert not pacer.active
    kept = _grow_the_heap()
    assert full_collections, "CPython collected its oldest generation as the heap grew"
    del kept


async def test_with_the_pacer_a_growing_heap_triggers_no_full_collection(
    full_collections: list[int],
) -> None:
    pacer = GcPacer(3600)
    pacer.start()
    full_collections.clear()  # the one start makes before freezing
    try:
        assert gc.get_freeze_count() > 0, "what was alive at the start is frozen"
        assert gc.get_threshold()[0] == YOUNG_THRESHOLD
        assert gc.get_threshold()[2] == NO_AUTOMATIC_FULL_COLLECTION
        kept = _grow_the_heap()
        assert full_collections == []
        del kept
    finally:
        await pacer.stop()


async def test_a_cycle_that_reached_the_oldest_generation_is_freed_on_the_next_tick(
    full_collections: list[int],
) -> None:
    pacer = GcPacer(0.2)
    pacer.start()
    full_collections.clear()
    try:
        first, second = _Node(), _Node()
        first.partner, second.partner = second, first
        gone = weakref.ref(first)
        gc.collect(1)  # the pair survives the young generations: it is in the oldest now
        del first, second
        gc.collect(1)
        assert gone() is not None, "young collections do not free it"
        for _ in range(30):
            await asyncio.sleep(0.05)
            if gone() is None:
                break
        assert gone() is None, "the full collection on the clock freed it"
        assert pacer.full_collections >= 1
        assert full_collections and max(full_collections) >= 2
    finally:
        await pacer.stop()


async def test_stop_puts_python_policy_back() -> None:
    before = gc.get_threshold()
    pacer = GcPacer(60)
    pacer.start()
    await pacer.stop()
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
    assert not pacer.active
    await pacer.stop()  # twice is fine


async def test_zero_keeps_python_policy() -> None:
    before = gc.get_threshold()
    pacer = GcPacer(0)
    pacer.start()
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
    await pacer.stop()
