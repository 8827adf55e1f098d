"""Watching a run: every event exactly once, in order, across the store/live boundary."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from aura.orchestrator.v1 import run_pb2
from orchestrator.errors import NotFound
from orchestrator.events import EventHub, watch_run
from orchestrator.runs import EVERY_TENANT, TenantScope
from orchestrator.store import RunRecord, SqliteRunStore
from tests.helpers import eventually
from tests.unit.events.watch_helpers import collect, commit, script


def seqs(events: Sequence[run_pb2.RunEvent]) -> list[int]:
    return [event.seq for event in events]


@pytest.fixture
def hub() -> EventHub:
    return EventHub()


@pytest.fixture
async def store(tmp_path: Path, hub: EventHub) -> AsyncIterator[SqliteRunStore]:
    async with SqliteRunStore(tmp_path / "runs.db") as opened:
        opened.add_commit_listener(hub.publish)
        yield opened


async def test_watching_a_finished_run_from_every_point_yields_the_rest(
    store: SqliteRunStore, hub: EventHub
) -> None:
    events = script("r1")
    await commit(store, events)

    for after_seq in range(len(events) + 3):
        watched = await collect(store, hub, "workflowRuns/r1", after_seq)
        assert watched == events[after_seq:], f"after_seq={after_seq}"
    assert hub.subscriber_count() == 0


async def test_a_live_watch_sees_every_event_once_and_ends_at_run_finished(
    store: SqliteRunStore, hub: EventHub
) -> None:
    events = script("r1")
    await commit(store, events[:1])
    watcher = asyncio.create_task(collect(store, hub, "workflowRuns/r1"))
    await eventually(lambda: hub.subscriber_count("workflowRuns/r1") == 1)

    for event in events[1:]:
        await store.append([event])

    assert await asyncio.wait_for(watcher, 5) == events
    assert hub.subscriber_count() == 0


async def test_reconnecting_at_every_point_of_a_live_run_loses_and_repeats_nothing(
    store: SqliteRunStore, hub: EventHub
) -> None:
    events_per_run = len(script("x"))
    for cut in range(events_per_run):
        run_id = f"cut{cut}"
        events = script(run_id)
        name = f"workflowRuns/{run_id}"
        await commit(store, events[:1])
        producer_steps = iter(events[1:])
        received: list[run_pb2.RunEvent] = []

        # First connection: take `cut` events, committed one by one as they are read.
        if cut:
            async for event in watch_run(store, hub, name, scope=EVERY_TENANT):
                received.append(event)
                if len(received) == cut:
                    break
                await store.append([next(producer_steps)])
        # While disconnected, two more events commit.
        for event in [next(producer_steps, None), next(producer_steps, None)]:
            if event is not None:
                await store.append([event])
        # Reconnect from the last seq seen; the rest keeps committing live.
        resumed = asyncio.create_task(collect(store, hub, name, after_seq=len(received)))
        for event in producer_steps:
            await store.append([event])
        received += await asyncio.wait_for(resumed, 5)

        assert seqs(received) == list(range(1, events_per_run + 1)), f"cut at {cut}"
    await eventually(lambda: hub.subscriber_count() == 0)


async def test_reconnecting_after_each_event_of_a_live_run(
    store: SqliteRunStore, hub: EventHub
) -> None:
    events = script("r1")
    await commit(store, events[:1])

    async def produce() -> None:
        for event in events[1:]:
            await store.append([event])
            await asyncio.sleep(0)

    producer = asyncio.create_task(produce())
    received: list[run_pb2.RunEvent] = []
    while not received or not received[-1].HasField("run_finished"):
        after = received[-1].seq if received else 0
        async for event in watch_run(store, hub, "workflowRuns/r1", after, scope=EVERY_TENANT):
            received.append(event)
            break
    await producer

    assert received == events


class RacingStore:
    """The real store, committing more events at the worst moments of a watch.

    `before_read` commits after the watch subscribed, as its store read begins (those
    events reach both the store read and the subscription); `after_read` commits after
    the store read returned and before the live phase (only the subscription has them).
    """

    def __init__(
        self,
        store: SqliteRunStore,
        before_read: Sequence[run_pb2.RunEvent] = (),
        after_read: Sequence[run_pb2.RunEvent] = (),
    ) -> None:
        self._store = store
        self._before_read = list(before_read)
        self._after_read = list(after_read)

    async def get_run_record(self, run: str, *, scope: TenantScope) -> RunRecord | None:
        return await self._store.get_run_record(run, scope=scope)

    async def read_events(
        self, run: str, after_seq: int = 0, *, scope: TenantScope
    ) -> list[run_pb2.RunEvent]:
        if self._before_read:
            await self._store.append(self._before_read)
            self._before_read = []
        events = await self._store.read_events(run, after_seq, scope=scope)
        if self._after_read:
            await self._store.append(self._after_read)
            self._after_read = []
        return events


@pytest.mark.parametrize("split", [(2, 5), (4, 4), (6, 12), (12, 12), (1, 12), (1, 1)])
async def test_events_committed_during_the_switch_to_live_are_neither_lost_nor_doubled(
    store: SqliteRunStore, hub: EventHub, split: tuple[int, int]
) -> None:
    events = script("r1")
    before, middle = split
    await commit(store, events[:before])
    racing = RacingStore(store, before_read=events[before:middle], after_read=events[middle:])
    watcher = asyncio.create_task(collect(racing, hub, "workflowRuns/r1"))  # type: ignore[arg-type]

    assert await asyncio.wait_for(watcher, 5) == events


async def test_a_run_that_finishes_between_an_empty_read_and_its_lookup_is_watched_to_its_end(
    store: SqliteRunStore, hub: EventHub
) -> None:
    # Watched from its last event: the read finds nothing after it, then the rest commits
    # (run_finished among it) before the run is looked up; the subscription has it all.
    events = script("r1")
    await commit(store, events[:3])
    racing = RacingStore(store, after_read=events[3:])
    watcher = collect(racing, hub, "workflowRuns/r1", after_seq=3)  # type: ignore[arg-type]

    assert await asyncio.wait_for(watcher, 5) == events[3:]


async def test_a_watch_whose_run_already_finished_before_after_seq_ends_at_once(
    store: SqliteRunStore, hub: EventHub
) -> None:
    events = script("r1")
    await commit(store, events)

    assert await asyncio.wait_for(collect(store, hub, "workflowRuns/r1", after_seq=12), 1) == []
    assert await asyncio.wait_for(collect(store, hub, "workflowRuns/r1", after_seq=99), 1) == []


async def test_watching_an_unknown_run_is_not_found(store: SqliteRunStore, hub: EventHub) -> None:
    with pytest.raises(NotFound) as raised:
        await collect(store, hub, "workflowRuns/nobody")

    assert raised.value.reason == "RUN_NOT_FOUND"
    assert raised.value.resource_name == "workflowRuns/nobody"
    assert hub.subscriber_count() == 0


async def test_a_cancelled_watch_unsubscribes(store: SqliteRunStore, hub: EventHub) -> None:
    await commit(store, script("r1")[:3])
    watcher = asyncio.create_task(collect(store, hub, "workflowRuns/r1"))
    await eventually(lambda: hub.subscriber_count("workflowRuns/r1") == 1)

    watcher.cancel()

    with pytest.raises(asyncio.CancelledError):
        await watcher
    assert hub.subscriber_count() == 0


async def test_a_watcher_that_stops_reading_unsubscribes_when_closed(
    store: SqliteRunStore, hub: EventHub
) -> None:
    await commit(store, script("r1")[:3])
    stream = watch_run(store, hub, "workflowRuns/r1", scope=EVERY_TENANT)
    assert (await anext(stream)).seq == 1
    assert hub.subscriber_count() == 1

    await stream.aclose()  # type: ignore[attr-defined]

    assert hub.subscriber_count() == 0


async def test_a_watcher_that_falls_behind_catches_up_from_the_store(
    tmp_path: Path,
) -> None:
    hub = EventHub(max_buffered=2)
    async with SqliteRunStore(tmp_path / "runs.db") as store:
        store.add_commit_listener(hub.publish)
        events = script("r1")
        await commit(store, events[:1])
        stream = watch_run(store, hub, "workflowRuns/r1", scope=EVERY_TENANT)
        received = [await anext(stream)]

        for event in events[1:]:  # the watcher reads nothing meanwhile: it lags
            await store.append([event])
        received += [event async for event in stream]

        assert received == events
        assert hub.subscriber_count() == 0


async def test_many_watchers_of_one_run_each_get_everything(
    store: SqliteRunStore, hub: EventHub
) -> None:
    events = script("r1")
    await commit(store, events[:1])
    watchers = [asyncio.create_task(collect(store, hub, "workflowRuns/r1")) for _ in range(20)]
    await eventually(lambda: hub.subscriber_count("workflowRuns/r1") == 20)

    await store.append(events[1:6])
    await store.append(events[6:])

    results = await asyncio.wait_for(asyncio.gather(*watchers), 5)
    assert all(result == events for result in results)
