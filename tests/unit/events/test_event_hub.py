"""The in-process event hub: non-blocking fan-out of committed events."""

from __future__ import annotations

import asyncio

import pytest

from aura.orchestrator.v1 import run_pb2
from orchestrator.events import EventHub, SubscriptionLagged
from tests.helpers import eventually


def event(run_id: str, seq: int) -> run_pb2.RunEvent:
    return run_pb2.RunEvent(run=f"workflowRuns/{run_id}", seq=seq, step_scheduled={})


async def test_subscribers_get_their_runs_events_in_order() -> None:
    hub = EventHub()
    with (
        hub.subscribe("workflowRuns/a") as first,
        hub.subscribe("workflowRuns/a") as second,
        hub.subscribe("workflowRuns/b") as other,
    ):
        hub.publish([event("a", 1), event("b", 1), event("a", 2)])
        hub.publish([event("a", 3)])

        for subscription in (first, second):
            assert [(await anext(subscription)).seq for _ in range(3)] == [1, 2, 3]
        assert (await anext(other)).run == "workflowRuns/b"


async def test_every_subscriber_gets_the_same_event_objects() -> None:
    hub = EventHub()
    published = event("a", 1)
    with hub.subscribe("workflowRuns/a") as first, hub.subscribe("workflowRuns/a") as second:
        hub.publish([published])

        assert await anext(first) is published
        assert await anext(second) is published


async def test_a_waiting_reader_wakes_on_publish() -> None:
    hub = EventHub()
    with hub.subscribe("workflowRuns/a") as subscription:
        reader = asyncio.create_task(anext(subscription))
        await asyncio.sleep(0)
        assert not reader.done()

        hub.publish([event("a", 1)])

        assert (await reader).seq == 1


async def test_publishing_without_subscribers_is_a_no_op() -> None:
    hub = EventHub()
    hub.publish([event("a", 1)])
    with hub.subscribe("workflowRuns/a") as subscription:
        hub.publish([event("a", 2)])
        assert (await anext(subscription)).seq == 2  # nothing from before subscribing


async def test_close_unsubscribes_and_ends_iteration() -> None:
    hub = EventHub()
    subscription = hub.subscribe("workflowRuns/a")
    reader = asyncio.create_task(anext(subscription))
    await asyncio.sleep(0)
    assert hub.subscriber_count("workflowRuns/a") == 1

    subscription.close()
    subscription.close()  # idempotent

    with pytest.raises(StopAsyncIteration):
        await reader
    assert hub.subscriber_count() == 0
    hub.publish([event("a", 1)])  # nobody to deliver to


async def test_leaving_the_with_block_unsubscribes_even_on_error() -> None:
    hub = EventHub()
    with pytest.raises(RuntimeError), hub.subscribe("workflowRuns/a"):
        raise RuntimeError("watcher went away")

    assert hub.subscriber_count() == 0


async def test_a_stalled_subscriber_never_blocks_the_publisher_and_stays_bounded() -> None:
    hub = EventHub(max_buffered=5)
    with hub.subscribe("workflowRuns/a") as stalled, hub.subscribe("workflowRuns/a") as live:
        for seq in range(1, 101):  # publish is synchronous: it cannot wait for anyone
            hub.publish([event("a", seq)])
            assert (await anext(live)).seq == seq

        assert stalled.buffered == 0  # dropped on lag, not grown
        with pytest.raises(SubscriptionLagged):
            await anext(stalled)


async def test_a_lagged_subscriber_keeps_what_it_had_before_the_lag_is_reported() -> None:
    hub = EventHub(max_buffered=3)
    with hub.subscribe("workflowRuns/a") as subscription:
        hub.publish([event("a", seq) for seq in range(1, 4)])
        assert (await anext(subscription)).seq == 1
        hub.publish([event("a", 4), event("a", 5)])  # 2, 3, 4 buffered; 5 overflows

        with pytest.raises(SubscriptionLagged):
            await anext(subscription)


async def test_cancelling_a_reader_leaves_the_subscription_usable_until_closed() -> None:
    hub = EventHub()
    subscription = hub.subscribe("workflowRuns/a")
    reader = asyncio.create_task(anext(subscription))
    await asyncio.sleep(0)
    reader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reader

    hub.publish([event("a", 1)])
    assert (await anext(subscription)).seq == 1
    subscription.close()
    await eventually(lambda: hub.subscriber_count() == 0)
