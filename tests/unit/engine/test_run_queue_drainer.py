"""The queue drainer claims queued runs while the engine has room, and only then."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any, cast

from orchestrator.engine.run_queue import QueueDrainer
from orchestrator.store import Claim, RunStore
from tests.helpers import eventually


class FakeQueueStore:
    """The queue part of a run store: names in claim order, every claim recorded."""

    def __init__(self, queued: int, *, claimable: int | None = None) -> None:
        self.queue = [f"workflowRuns/q{i}" for i in range(queued)]
        self.claimable = claimable  # how many claims may succeed in all (limits elsewhere)
        self.claims: list[tuple[int, dict[str, int]]] = []

    async def claim_queued(self, limit: int, concurrency: Mapping[str, int]) -> list[Claim]:
        self.claims.append((limit, dict(concurrency)))
        take = limit if self.claimable is None else min(limit, self.claimable)
        taken, self.queue = self.queue[:take], self.queue[take:]
        if self.claimable is not None:
            self.claimable -= len(taken)
        return [Claim(name, 1) for name in taken]

    async def queue_depth(self) -> int:
        return len(self.queue)


class Engine:
    """What the drainer sees of an engine: free slots, limits, the runs it launched."""

    def __init__(self, slots: int) -> None:
        self.slots = slots
        self.launched: list[str] = []

    def free_slots(self) -> int:
        return self.slots - len(self.launched)

    async def launch(self, claims: Sequence[Claim]) -> None:
        self.launched += [claim.run for claim in claims]


async def settle() -> None:
    """Lets every woken task run (asserting that something did not happen)."""
    for _ in range(20):
        await asyncio.sleep(0)


def drainer_for(store: FakeQueueStore, engine: Engine) -> QueueDrainer:
    return QueueDrainer(
        cast(RunStore, cast(Any, store)),
        free_slots=engine.free_slots,
        limits=lambda: {"workflowDefinitions/limited": 2},
        launch=engine.launch,
        refresh_s=60,
    )


async def test_it_claims_as_many_runs_as_the_engine_has_room_for() -> None:
    store, engine = FakeQueueStore(10), Engine(slots=3)
    drainer = drainer_for(store, engine)
    await drainer.start()
    try:
        await eventually(lambda: len(engine.launched) == 3)
        assert engine.launched == ["workflowRuns/q0", "workflowRuns/q1", "workflowRuns/q2"]
        assert store.claims == [(3, {"workflowDefinitions/limited": 2})]
        assert drainer.waiting == 7

        engine.launched.pop(0)  # a run ends: one slot frees
        drainer.slot_freed(limited=False)
        await eventually(lambda: len(store.claims) == 2)
        assert store.claims[-1][0] == 1
        assert engine.launched[-1] == "workflowRuns/q3"
    finally:
        await drainer.stop()


async def test_without_room_it_does_not_touch_the_store() -> None:
    store, engine = FakeQueueStore(5), Engine(slots=0)
    drainer = drainer_for(store, engine)
    await drainer.start()
    try:
        drainer.queued()
        drainer.poke()
        await eventually(lambda: drainer.waiting == 5)
        assert store.claims == []
    finally:
        await drainer.stop()


async def test_runs_held_back_by_a_limit_wait_for_a_limited_runs_end_not_any_end() -> None:
    store, engine = FakeQueueStore(5, claimable=1), Engine(slots=10)
    drainer = drainer_for(store, engine)
    await drainer.start()
    try:
        await eventually(lambda: len(store.claims) == 1)
        assert engine.launched == ["workflowRuns/q0"]

        drainer.slot_freed(limited=False)  # an unlimited run's slot helps no one waiting
        await settle()
        assert len(store.claims) == 1
        store.claimable = 1
        drainer.slot_freed(limited=True)  # a limited run ended: its definition has room
        await eventually(lambda: len(store.claims) == 2)
        assert engine.launched == ["workflowRuns/q0", "workflowRuns/q1"]
    finally:
        await drainer.stop()


async def test_after_stop_nothing_is_claimed() -> None:
    store, engine = FakeQueueStore(3), Engine(slots=0)
    drainer = drainer_for(store, engine)
    await drainer.start()
    await drainer.stop()
    await drainer.stop()  # idempotent
    engine.slots = 3
    drainer.queued()
    drainer.poke()
    await settle()
    assert store.claims == []
    assert drainer.stopped


async def test_stop_returns_even_when_a_wake_up_arrives_with_it() -> None:
    # A poke just before a stop: the cancel must not be lost in the wait (asyncio.wait_for
    # on 3.11 swallowed a cancel arriving as its event was set; stop() then never returned).
    # The window is a turn or two of the loop wide: try each distance.
    for turns in range(4):
        drainer = drainer_for(FakeQueueStore(0), Engine(slots=0))
        await drainer.start()
        await settle()  # the drainer is back waiting for a wake-up
        drainer.poke()
        for _ in range(turns):
            await asyncio.sleep(0)
        stopping = asyncio.ensure_future(drainer.stop())
        done, _ = await asyncio.wait({stopping}, timeout=1)
        assert done, f"stop() did not return (poke {turns} turns before it)"
