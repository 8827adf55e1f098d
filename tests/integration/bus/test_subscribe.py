"""Subscriptions against the real Redis: from a cursor, in order, without gaps or
repeats across a resume; a trimmed cursor answers OUT_OF_RANGE."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import pytest

from orchestrator.bus import BusConnection, BusEvent, EventPublisher, TopicReader
from orchestrator.errors import AuraError
from tests.redis_fixtures import delete_prefix, require_redis, settings_for_test

TOPIC = "run.finished"

pytestmark = pytest.mark.integration


def _event(n: int) -> BusEvent:
    return BusEvent(TOPIC, "workflowDefinitions/x", f"e{n}", {"n": n})


async def _take(events: AsyncIterator[BusEvent], count: int) -> list[BusEvent]:
    taken = []
    async for event in events:
        taken.append(event)
        if len(taken) == count:
            break
    return taken


async def test_resuming_from_the_last_cursor_misses_and_repeats_nothing(
    bus: BusConnection,
) -> None:
    publisher = EventPublisher(bus)
    reader = TopicReader(bus)
    await publisher.publish_many([_event(n) for n in range(10)])
    first = await asyncio.wait_for(_take(reader.subscribe(TOPIC, "0"), 4), 5)
    resume_at = first[-1].cursor

    async def publish_more() -> None:
        for n in range(10, 30):
            await publisher.publish(_event(n))

    publishing = asyncio.create_task(publish_more())
    rest = await asyncio.wait_for(_take(reader.subscribe(TOPIC, resume_at), 26), 10)
    await publishing
    seen = [e.payload["n"] for e in first + rest]
    assert seen == list(range(30))


async def test_an_empty_cursor_follows_only_new_events(bus: BusConnection) -> None:
    publisher = EventPublisher(bus)
    await publisher.publish(_event(0))
    subscription = TopicReader(bus).subscribe(TOPIC, "")
    reading = asyncio.create_task(_take(subscription, 1))
    await asyncio.sleep(0.2)  # the subscription has placed its cursor (after event 0)
    await publisher.publish(_event(1))
    (event,) = await asyncio.wait_for(reading, 5)
    assert event.event_id == "e1"


@pytest.mark.slow
async def test_a_subscription_blocks_longer_than_redis_pys_five_second_habit() -> None:
    """A 5.5 s block (the socket timeout is block + margin) over 6 s of silence: the
    subscription neither times out nor drops the event published after."""
    settings = settings_for_test(block_s=5.5, socket_margin_s=2.0)
    connection = BusConnection.from_url(require_redis(), settings)
    try:
        reader = TopicReader(connection)
        reading = asyncio.create_task(_take(reader.subscribe(TOPIC, "0"), 1))
        await asyncio.sleep(6.0)
        assert not reading.done()
        await EventPublisher(connection).publish(_event(5))
        (event,) = await asyncio.wait_for(reading, 5)
        assert event.payload == {"n": 5}
    finally:
        await delete_prefix(connection.commands, settings.prefix)
        await connection.close()


async def test_a_cursor_older_than_the_trimmed_events_is_out_of_range() -> None:
    settings = settings_for_test(max_stream_length=100)
    connection = BusConnection.from_url(require_redis(), settings)
    try:
        publisher = EventPublisher(connection)
        first = await publisher.publish(_event(0))
        await publisher.publish_many([_event(n) for n in range(1, 600)])
        with pytest.raises(AuraError) as raised:
            await _take(TopicReader(connection).subscribe(TOPIC, first.event.cursor), 1)
        assert raised.value.code == grpc.StatusCode.OUT_OF_RANGE
        assert raised.value.reason == "CURSOR_TRIMMED"
    finally:
        await delete_prefix(connection.commands, settings.prefix)
        await connection.close()


async def test_recent_events_come_newest_first_in_pages(bus: BusConnection) -> None:
    await EventPublisher(bus).publish_many([_event(n) for n in range(7)])
    reader = TopicReader(bus)
    pages, token = [], ""
    while True:
        events, token = await reader.recent(TOPIC, 3, token)
        pages.append([e.payload["n"] for e in events])
        if not token:
            break
    assert pages == [[6, 5, 4], [3, 2, 1], [0]]
