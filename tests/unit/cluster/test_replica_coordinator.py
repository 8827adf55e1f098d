"""The replica coordinator's rounds against a scripted store and engine (no database)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from orchestrator.cluster import ReplicaCoordinator
from orchestrator.store import Claim
from tests.helpers import eventually

TICK_S = 0.01


class ScriptedStore:
    """What the coordinator asks of a `ReplicatedRunStore`, scripted."""

    lease_s = 0.2

    def __init__(self) -> None:
        self.heartbeat_fails = False
        self.heartbeats = 0
        self.dropped = 0
        self.cancels: list[tuple[str, str]] = []
        self.orphans: list[Claim] = []
        self.listeners: dict[str, list[Callable[..., None]]] = {}

    async def heartbeat(self) -> None:
        if self.heartbeat_fails:
            raise ConnectionError("the database is unreachable")
        self.heartbeats += 1

    async def pending_cancels(self) -> list[tuple[str, str]]:
        return list(self.cancels)

    def drop_held_runs(self) -> list[str]:
        self.dropped += 1
        return []

    async def claim_orphans(self, limit: int) -> list[Claim]:
        taken, self.orphans = self.orphans[:limit], self.orphans[limit:]
        return taken

    def _add(self, kind: str, listener: Callable[..., None]) -> None:
        self.listeners.setdefault(kind, []).append(listener)

    def add_ownership_lost_listener(self, listener: Callable[[str], None]) -> None:
        self._add("lost", listener)

    def add_cancel_listener(self, listener: Callable[[str, str], None]) -> None:
        self._add("cancel", listener)

    def add_queue_listener(self, listener: Callable[[], None]) -> None:
        self._add("queue", listener)


class ScriptedCatalog:
    refreshes = 0

    async def refresh(self) -> None:
        self.refreshes += 1


class ScriptedEngine:
    def __init__(self) -> None:
        self.catalog = ScriptedCatalog()
        self.adopted: list[list[str]] = []
        self.lost: list[str] = []
        self.cancelled: list[tuple[str, str]] = []
        self.released = 0
        self.resumed = 0
        self.unreadable: set[str] = set()  # runs whose history fails to read once

    async def adopt(self, claims: list[Claim], on_history: Any = None) -> list[Claim]:
        self.adopted.append([claim.run for claim in claims])
        unread = [claim for claim in claims if claim.run in self.unreadable]
        self.unreadable -= {claim.run for claim in unread}
        return unread

    def lose_ownership(self, name: str) -> None:
        self.lost.append(name)

    def cancel_here(self, name: str, reason: str) -> None:
        self.cancelled.append((name, reason))

    async def release_all(self) -> list[Any]:
        self.released += 1
        return []

    async def resume_unfinished(self, on_history: Any = None) -> list[str]:
        self.resumed += 1
        return []


def coordinator(
    store: ScriptedStore, engine: ScriptedEngine, pokes: list[int], **options: Any
) -> ReplicaCoordinator:
    options = {"tick_s": TICK_S, **options}
    return ReplicaCoordinator(
        store,  # type: ignore[arg-type]
        engine,  # type: ignore[arg-type]
        poke_queue=lambda: pokes.append(1),
        claim_batch=2,
        **options,
    )


async def test_orphans_are_claimed_in_batches_and_adopted() -> None:
    store, engine, pokes = ScriptedStore(), ScriptedEngine(), []
    store.orphans = [Claim(f"runs/{i}", 2) for i in range(5)]
    async with coordinator(store, engine, pokes) as replica:
        await eventually(
            lambda: engine.adopted == [["runs/0", "runs/1"], ["runs/2", "runs/3"], ["runs/4"]]
        )
        assert replica.taken_over == 5
        await eventually(lambda: len(pokes) >= 2)  # every tick pokes the queue
        assert store.heartbeats >= 1


async def test_store_listeners_reach_the_engine_and_the_queue() -> None:
    store, engine, pokes = ScriptedStore(), ScriptedEngine(), []
    async with coordinator(store, engine, pokes):
        for listener in store.listeners["lost"]:
            listener("runs/a")
        for listener in store.listeners["cancel"]:
            listener("runs/b", "asked on another replica")
        before = len(pokes)
        for listener in store.listeners["queue"]:
            listener()
        assert engine.lost == ["runs/a"]
        assert engine.cancelled == [("runs/b", "asked on another replica")]
        assert len(pokes) > before


async def test_cut_off_for_a_lease_it_stops_executing_then_takes_back_its_runs() -> None:
    store, engine, pokes = ScriptedStore(), ScriptedEngine(), []
    async with coordinator(store, engine, pokes) as replica:
        store.heartbeat_fails = True
        await eventually(lambda: replica.fenced)
        assert (store.dropped, engine.released) == (1, 1)
        store.orphans = [Claim("runs/x", 3)]
        await asyncio.sleep(5 * TICK_S)
        assert engine.adopted == []  # not sure it is alive: it claims nothing
        store.heartbeat_fails = False
        await eventually(lambda: not replica.fenced)
        assert engine.resumed == 1
        await eventually(lambda: engine.adopted == [["runs/x"]])
        assert engine.released == 1


async def test_a_paused_replica_stops_executing_before_its_next_heartbeat() -> None:
    now = [0.0]
    store, engine, pokes = ScriptedStore(), ScriptedEngine(), []
    async with coordinator(store, engine, pokes, clock=lambda: now[0]) as replica:
        beats = store.heartbeats
        now[0] += 10 * store.lease_s  # as if SIGSTOPped for ten leases
        await eventually(lambda: engine.released == 1)
        await eventually(lambda: store.heartbeats > beats and not replica.fenced)
        assert engine.resumed == 1


async def test_stop_is_idempotent_and_ends_the_rounds() -> None:
    store, engine, pokes = ScriptedStore(), ScriptedEngine(), []
    replica = await coordinator(store, engine, pokes).start()
    await replica.stop()
    await replica.stop()
    beats = store.heartbeats
    await asyncio.sleep(5 * TICK_S)
    assert store.heartbeats == beats


async def test_a_cancel_whose_hint_was_lost_is_found_on_the_next_tick() -> None:
    store, engine, pokes = ScriptedStore(), ScriptedEngine(), []
    store.cancels = [("runs/held-here", "asked on b")]
    async with coordinator(store, engine, pokes):
        await eventually(lambda: ("runs/held-here", "asked on b") in engine.cancelled)


async def test_a_claim_whose_history_did_not_read_is_adopted_again() -> None:
    store, engine, pokes = ScriptedStore(), ScriptedEngine(), []
    store.orphans = [Claim("runs/flaky", 2), Claim("runs/fine", 2)]
    engine.unreadable = {"runs/flaky"}
    async with coordinator(store, engine, pokes):
        await eventually(
            lambda: engine.adopted[:2] == [["runs/flaky", "runs/fine"], ["runs/flaky"]]
        )


async def test_a_hanging_heartbeat_does_not_delay_the_fence() -> None:
    store, engine, pokes = ScriptedStore(), ScriptedEngine(), []
    store.lease_s = 1.0  # the fence comes a tick (0.1 s) before the lease ends
    loop = asyncio.get_running_loop()
    beats: list[float] = []
    answer = store.heartbeat
    hung = asyncio.Event()

    async def heartbeat() -> None:
        if hung.is_set():
            await asyncio.Event().wait()  # the database does not answer
        await answer()
        beats.append(loop.time())

    store.heartbeat = heartbeat  # type: ignore[method-assign]
    async with coordinator(store, engine, pokes, tick_s=0.1) as replica:
        await eventually(lambda: beats)
        hung.set()
        await eventually(lambda: replica.fenced, timeout_s=3)
        fenced_after_s = loop.time() - beats[-1]
    assert fenced_after_s < 0.97  # not the lease (1.0 s) or later
