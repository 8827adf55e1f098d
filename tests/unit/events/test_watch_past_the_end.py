"""A watch whose `after_seq` is at or past a run's last event ends when the run has ended."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from aura.orchestrator.v1 import run_pb2
from orchestrator.events import EventHub, watch_run
from orchestrator.runs import EVERY_TENANT, TenantScope
from orchestrator.store import RunRecord, SqliteRunStore
from tests.helpers import eventually
from tests.unit.events.watch_helpers import collect, commit, script

RUN = "workflowRuns/r1"
FINAL_SEQ = len(script("r1"))  # 12: the run_finished event


@pytest.fixture
def hub() -> EventHub:
    return EventHub()


@pytest.fixture
async def store(tmp_path: Path, hub: EventHub) -> AsyncIterator[SqliteRunStore]:
    async with SqliteRunStore(tmp_path / "runs.db") as opened:
        opened.add_commit_listener(hub.publish)
        yield opened


async def watch_while_the_run_finishes(
    store: SqliteRunStore, hub: EventHub, after_seq: int
) -> list[run_pb2.RunEvent]:
    """Watches a live run (only created so far) with `after_seq`, then commits the rest."""
    events = script("r1")
    await commit(store, events[:1])
    watcher = asyncio.create_task(collect(store, hub, RUN, after_seq))
    await eventually(lambda: hub.subscriber_count(RUN) == 1)

    for event in events[1:]:
        await store.append([event])

    return await asyncio.wait_for(watcher, 5)


@pytest.mark.parametrize("after_seq", [FINAL_SEQ, FINAL_SEQ + 1, 1000])
async def test_a_live_watch_from_at_or_past_the_final_seq_ends_when_the_run_finishes(
    store: SqliteRunStore, hub: EventHub, after_seq: int
) -> None:
    assert await watch_while_the_run_finishes(store, hub, after_seq) == []
    assert hub.subscriber_count() == 0


async def test_a_live_watch_from_just_before_the_end_gets_only_run_finished(
    store: SqliteRunStore, hub: EventHub
) -> None:
    watched = await watch_while_the_run_finishes(store, hub, FINAL_SEQ - 1)

    assert [event.seq for event in watched] == [FINAL_SEQ]
    assert watched[0].HasField("run_finished")


class FinishingStore:
    """The real store; the rest of the run, run_finished included, commits right after the
    watch looked the run up, so the record it saw is unfinished but the events are all there."""

    def __init__(self, store: SqliteRunStore, rest: Sequence[run_pb2.RunEvent]) -> None:
        self._store = store
        self._rest = list(rest)

    async def get_run_record(self, run: str, *, scope: TenantScope) -> RunRecord | None:
        record = await self._store.get_run_record(run, scope=scope)
        if self._rest:
            await self._store.append(self._rest)
            self._rest = []
        return record

    async def read_events(
        self, run: str, after_seq: int = 0, *, scope: TenantScope
    ) -> list[run_pb2.RunEvent]:
        return await self._store.read_events(run, after_seq, scope=scope)


@pytest.mark.parametrize("after_seq", [FINAL_SEQ, 1000])
async def test_a_run_finishing_between_the_lookup_and_the_read_still_ends_the_watch(
    store: SqliteRunStore, hub: EventHub, after_seq: int
) -> None:
    events = script("r1")
    await commit(store, events[:3])
    finishing = FinishingStore(store, events[3:])

    watched = collect(finishing, hub, RUN, after_seq)  # type: ignore[arg-type]

    assert await asyncio.wait_for(watched, 5) == []
    assert hub.subscriber_count() == 0


async def test_a_watch_far_past_the_end_of_a_finished_run_ends_at_once(
    store: SqliteRunStore, hub: EventHub
) -> None:
    await commit(store, script("r1"))

    watched = [
        event async for event in watch_run(store, hub, RUN, after_seq=10**9, scope=EVERY_TENANT)
    ]

    assert watched == []
    assert hub.subscriber_count() == 0
