"""Watching while the process shuts down: what was delivered is read, then SHUTTING_DOWN with
where to reconnect, and the reconnect after the restart gets exactly the rest."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from aura.orchestrator.v1 import run_pb2
from orchestrator.errors import Unavailable
from orchestrator.events import SHUTDOWN_RETRY_AFTER_S, EventHub, HubShutDown, watch_run
from orchestrator.runs import EVERY_TENANT
from orchestrator.store import SqliteRunStore
from tests.helpers import eventually
from tests.unit.events.watch_helpers import collect, commit, script

RUN = "workflowRuns/r1"


@pytest.fixture
def hub() -> EventHub:
    return EventHub()


@pytest.fixture
async def store(tmp_path: Path, hub: EventHub) -> AsyncIterator[SqliteRunStore]:
    async with SqliteRunStore(tmp_path / "runs.db") as opened:
        opened.add_commit_listener(hub.publish)
        yield opened


async def read_until_shut_down(
    stream: AsyncIterator[run_pb2.RunEvent], received: list[run_pb2.RunEvent]
) -> Unavailable:
    with pytest.raises(Unavailable) as raised:
        async for event in stream:
            received.append(event)
    return raised.value


def assert_reconnect_hint(error: Unavailable, after_seq: int) -> None:
    assert error.reason == "SHUTTING_DOWN"
    assert error.retry_after_s == SHUTDOWN_RETRY_AFTER_S
    assert error.metadata == {"after_seq": str(after_seq)}
    assert error.resource_name == RUN


async def test_a_live_watch_reads_what_was_delivered_then_ends_shutting_down(
    store: SqliteRunStore, hub: EventHub
) -> None:
    events = script("r1")
    await commit(store, events[:1])
    stream = watch_run(store, hub, RUN, scope=EVERY_TENANT)
    received = [await anext(stream)]
    await store.append(events[1:4])  # delivered to the subscription, not read yet

    hub.shut_down()
    await store.append(events[4:6])  # committed after the shutdown: not delivered live
    error = await asyncio.wait_for(read_until_shut_down(stream, received), 5)

    assert received == events[:4]
    assert_reconnect_hint(error, after_seq=4)
    assert hub.subscriber_count() == 0


async def test_a_watch_opened_after_the_shutdown_gets_the_history_then_shutting_down(
    store: SqliteRunStore, hub: EventHub
) -> None:
    events = script("r1")
    await commit(store, events[:5])
    hub.shut_down()

    received: list[run_pb2.RunEvent] = []
    error = await asyncio.wait_for(
        read_until_shut_down(watch_run(store, hub, RUN, after_seq=2, scope=EVERY_TENANT), received),
        5,
    )

    assert received == events[2:5]
    assert_reconnect_hint(error, after_seq=5)
    assert hub.subscriber_count() == 0


async def test_a_finished_run_is_watched_to_its_end_during_a_shutdown(
    store: SqliteRunStore, hub: EventHub
) -> None:
    events = script("r1")
    await commit(store, events)
    hub.shut_down()

    assert await asyncio.wait_for(collect(store, hub, RUN), 5) == events


async def test_the_reconnect_after_a_restart_gets_exactly_the_rest(
    tmp_path: Path,
) -> None:
    events = script("r1")
    first_hub = EventHub()
    async with SqliteRunStore(tmp_path / "runs.db") as store:
        store.add_commit_listener(first_hub.publish)
        await commit(store, events[:3])
        received: list[run_pb2.RunEvent] = []
        cut = asyncio.create_task(
            read_until_shut_down(watch_run(store, first_hub, RUN, scope=EVERY_TENANT), received)
        )
        await eventually(lambda: len(received) == 3)
        first_hub.shut_down()
        error = await asyncio.wait_for(cut, 5)
        await store.append(events[3:5])  # the run's last events before the process stops

    second_hub = EventHub()
    async with SqliteRunStore(tmp_path / "runs.db") as store:
        store.add_commit_listener(second_hub.publish)
        after_seq = int(error.metadata["after_seq"])
        resumed = asyncio.create_task(collect(store, second_hub, RUN, after_seq))
        await eventually(lambda: second_hub.subscriber_count(RUN) == 1)
        await store.append(events[5:])  # the resumed run goes on
        received += await asyncio.wait_for(resumed, 5)

    assert received == events


async def test_a_subscription_of_a_shut_down_hub_raises_after_its_buffer() -> None:
    hub = EventHub()
    subscription = hub.subscribe(RUN)
    hub.publish([run_pb2.RunEvent(run=RUN, seq=1)])
    hub.shut_down()
    hub.publish([run_pb2.RunEvent(run=RUN, seq=2)])

    assert (await anext(subscription)).seq == 1
    with pytest.raises(HubShutDown):
        await anext(subscription)
    with pytest.raises(HubShutDown):
        await anext(hub.subscribe(RUN))
    subscription.close()
    assert hub.subscriber_count() == 0
