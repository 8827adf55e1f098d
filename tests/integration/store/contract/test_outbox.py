"""The event bus's outbox in both stores: the Outbox contract (tests/outbox_contract.py),
entries written in the commit of the run events they describe, nothing without the flag,
and (PostgreSQL) one relay at a time per entry across replicas."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, cast

import pytest

from aura.orchestrator.v1 import run_pb2
from orchestrator.bus import Outbox
from orchestrator.store import RunStore
from orchestrator.store.outbox_entries import outbox_window_s
from orchestrator.store.outbox_topics import TopicEvent
from tests.integration.store.contract.store_opener import StoreOpener
from tests.outbox_contract import CONTRACT, OutboxUnderTest
from tests.unit.store.run_events import created, event, finished, started


class StoreSubject:
    def __init__(self, store: RunStore) -> None:
        self.store = store
        self.outbox = cast(Outbox, store)

    async def commit(self, topic: str, key: str, event_id: str, payload: dict[str, Any]) -> None:
        await self.store.record_outbox([TopicEvent(topic, key, event_id, payload)])  # type: ignore[attr-defined]


@pytest.mark.parametrize("check", CONTRACT, ids=lambda check: check.__name__)
async def test_the_store_outbox_keeps_the_contract(
    open_store: StoreOpener, check: Callable[[OutboxUnderTest], Awaitable[None]]
) -> None:
    store = await open_store(outbox=True)
    assert isinstance(store, Outbox)
    await check(StoreSubject(store))


async def _one_run(store: RunStore, run_id: str) -> None:
    await store.create_run(created(run_id))
    failed = event(
        run_id,
        3,
        step_failed={"step_id": "parse", "attempt": 2, "error": {"code": 14, "message": "down"}},
    )
    await store.append([started(run_id), failed])
    await store.append([finished(run_id, 4, run_pb2.RUN_STATE_FAILED)])


async def test_run_events_write_their_entries_in_the_commit(open_store: StoreOpener) -> None:
    store = await open_store(outbox=True)
    await _one_run(store, "r1")
    entries = await cast(Outbox, store).pending(10)
    assert [(e.topic, e.event_id) for e in entries] == [
        ("run.created", "run-created:r1"),
        ("step.failed", "step-failed:r1:parse:2"),
        ("run.finished", "run-finished:r1"),
    ]
    step, end = entries[1].payload, entries[2].payload
    assert step["method"] == "aura.demo.v1.Demo/Parse" and step["error_code"] == "UNAVAILABLE"
    assert end["state"] == "FAILED" and end["workflow_definition"] == "workflowDefinitions/demo"
    assert all(e.key == "workflowDefinitions/demo" for e in entries)


async def test_a_finish_after_a_restart_still_finds_its_creation(open_store: StoreOpener) -> None:
    store = await open_store(outbox=True)
    await store.create_run(created("r1"))
    await store.close()
    again = await open_store(outbox=True)
    await again.append([started("r1"), finished("r1", 3)])
    entries = await cast(Outbox, again).pending(10)
    assert [e.event_id for e in entries] == ["run-created:r1", "run-finished:r1"]
    assert entries[1].payload["labels"] == {} and entries[1].payload["state"] == "SUCCEEDED"


async def test_without_the_flag_nothing_is_written(open_store: StoreOpener) -> None:
    store = await open_store()
    await _one_run(store, "r1")
    assert await cast(Outbox, store).pending(10) == []


async def test_postgres_relays_of_two_replicas_never_share_an_entry(
    open_store: StoreOpener,
) -> None:
    if open_store.backend != "postgres":
        pytest.skip("one process writes a SQLite file: one relay")
    first = await open_store(outbox=True, replica_id="replica-a")
    second = await open_store(outbox=True, replica_id="replica-b")
    for n in range(6):
        await first.create_run(created(f"r{n}"))
    a = await cast(Outbox, first).pending(4)
    b = await cast(Outbox, second).pending(10)
    assert len(a) == 4 and len(b) == 2
    assert not {e.id for e in a} & {e.id for e in b}
    await cast(Outbox, first).mark_confirmed([e.id for e in a])
    assert await cast(Outbox, second).pending(10) == b  # its own claim, again


async def test_confirmed_entries_past_the_retention_go_and_pending_ones_stay(
    open_store: StoreOpener,
) -> None:
    store = await open_store(outbox=True, outbox_retention_s=0.0)
    subject = StoreSubject(store)
    for n in range(3):
        await subject.commit("run.finished", "k", f"e{n}", {})
    entries = await subject.outbox.pending(10)
    await subject.outbox.mark_confirmed([entries[0].id, entries[1].id])  # and cleans up
    assert await subject.outbox.reopen_confirmed() == 0  # nothing confirmed is left
    assert [e.event_id for e in await subject.outbox.pending(10)] == ["e2"]


def test_the_outbox_window_is_at_most_the_run_retention() -> None:
    week = 7 * 24 * 3600.0
    assert outbox_window_s(week, 0.0) == week  # runs kept for ever
    assert outbox_window_s(week, 3600.0) == 3600.0
    assert outbox_window_s(60.0, 3600.0) == 60.0
