"""Publishing against the real Redis: idempotent on (topic, event_id), trimmed by
length and by age."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
import redis.asyncio as aioredis
import redis.exceptions

from orchestrator.bus import BusConnection, BusEvent, EventPublisher, TopicReader
from orchestrator.errors import Unavailable
from tests.redis_fixtures import delete_prefix, require_redis, settings_for_test

pytestmark = pytest.mark.integration


def _event(n: int, topic: str = "style.analysed") -> BusEvent:
    return BusEvent(topic, f"user-{n % 3}", f"evt-{n}", {"n": n, "nested": {"ok": True}})


async def test_a_repeated_event_id_appends_nothing_and_answers_the_first_cursor(
    bus: BusConnection,
) -> None:
    publisher = EventPublisher(bus)
    first = await publisher.publish(_event(1))
    again = await publisher.publish(dataclasses.replace(_event(1), payload={"other": 1}))
    assert not first.duplicate and again.duplicate
    assert again.event.cursor == first.event.cursor
    events, _ = await TopicReader(bus).recent("style.analysed", 10)
    assert [(e.event_id, e.payload) for e in events] == [
        ("evt-1", {"n": 1, "nested": {"ok": True}})
    ]


async def test_concurrent_publishes_of_one_event_id_append_it_once(bus: BusConnection) -> None:
    publisher = EventPublisher(bus)
    outcomes = await asyncio.gather(*(publisher.publish(_event(7)) for _ in range(20)))
    assert sum(not o.duplicate for o in outcomes) == 1
    assert len({o.event.cursor for o in outcomes}) == 1
    assert await TopicReader(bus).length("style.analysed") == 1


async def test_a_batch_published_twice_is_on_the_stream_once(bus: BusConnection) -> None:
    publisher = EventPublisher(bus)
    batch = [_event(n) for n in range(50)]
    first = await publisher.publish_many(batch)
    second = await publisher.publish_many(batch)
    assert [o.duplicate for o in first] == [False] * 50
    assert [o.duplicate for o in second] == [True] * 50
    assert [o.event.cursor for o in first] == [o.event.cursor for o in second]
    assert await TopicReader(bus).length("style.analysed") == 50


async def test_streams_are_trimmed_to_about_their_maximum_length() -> None:
    settings = settings_for_test(max_stream_length=100)
    connection = BusConnection.from_url(require_redis(), settings)
    try:
        await EventPublisher(connection).publish_many([_event(n) for n in range(1000)])
        length = await TopicReader(connection).length("style.analysed")
        # MAXLEN ~ trims whole radix-tree nodes (100 entries each by default).
        assert 100 <= length <= 200
    finally:
        await delete_prefix(connection.commands, settings.prefix)
        await connection.close()


async def test_events_older_than_the_age_bound_are_trimmed_at_the_next_publish() -> None:
    settings = settings_for_test(max_event_age_s=0.2)
    connection = BusConnection.from_url(require_redis(), settings)
    try:
        stream = settings.stream("style.analysed")
        # Old entries, written with explicit ids an hour in the past (whole nodes of 100).
        old_ms = int((await connection.commands.time())[0]) * 1000 - 3_600_000
        for n in range(300):
            await connection.commands.xadd(stream, {"event_id": f"old-{n}"}, id=f"{old_ms}-{n}")
        await EventPublisher(connection).publish(_event(1))
        events, _ = await TopicReader(connection).recent("style.analysed", 1000)
        assert events[0].event_id == "evt-1"
        assert len(events) <= 101  # MINID ~ removed the old entries' full nodes
    finally:
        await delete_prefix(connection.commands, settings.prefix)
        await connection.close()


async def test_a_batch_that_fails_while_loading_its_script_gives_its_connection_back(
    bus: BusConnection, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def load_then_lose_the_connection(pipeline: aioredis.client.Pipeline) -> None:
        await pipeline.immediate_execute_command("PING")  # the pipeline now holds a connection
        raise redis.exceptions.ConnectionError("lost while loading the script")

    monkeypatch.setattr(aioredis.client.Pipeline, "load_scripts", load_then_lose_the_connection)
    pool = bus.commands.connection_pool
    with pytest.raises(Unavailable):
        await EventPublisher(bus).publish_many([_event(1), _event(2)])
    assert list(pool._get_in_use_connections()) == []
