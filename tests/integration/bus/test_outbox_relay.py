"""The outbox relay against real Redis: at least once, no duplicate on the stream after
a crash between publish and confirm, and everything republished after Redis is
emptied (FLUSHALL) or restarted (a private redis-server, SIGKILLed and started empty)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from orchestrator.bus import (
    BusConnection,
    BusMetrics,
    InMemoryOutbox,
    OutboxRelay,
    TopicReader,
)
from tests.helpers import eventually
from tests.redis_fixtures import RedisServer, settings_for_test

TOPIC = "run.finished"

pytestmark = pytest.mark.integration


def _fill(outbox: InMemoryOutbox, count: int, start: int = 0) -> None:
    for n in range(start, start + count):
        outbox.add(TOPIC, "workflowDefinitions/x", f"run-finished:r{n}", {"n": n})


async def _ids_on_stream(connection: BusConnection) -> list[str]:
    events, _ = await TopicReader(connection).recent(TOPIC, 1000)
    return sorted(e.event_id for e in events)


class CrashingOutbox(InMemoryOutbox):
    """Fails its first mark_confirmed: as if the process died after the publish."""

    def __init__(self) -> None:
        super().__init__()
        self.crashes = 1

    async def mark_confirmed(self, ids: Sequence[int]) -> None:
        if self.crashes:
            self.crashes -= 1
            raise RuntimeError("killed before the confirm was committed")
        await super().mark_confirmed(ids)


async def test_the_relay_publishes_every_entry_and_confirms_it(bus: BusConnection) -> None:
    outbox = InMemoryOutbox()
    _fill(outbox, 300)
    metrics = BusMetrics()
    relay = OutboxRelay(outbox, bus, batch=64, metrics=metrics)
    assert await relay.drain() == 300
    assert outbox.unconfirmed == 0
    assert len(await _ids_on_stream(bus)) == 300
    assert metrics.relay_lag.collect()[0].samples[0].value == 0


async def test_a_crash_between_publish_and_confirm_republishes_without_duplicates(
    bus: BusConnection,
) -> None:
    outbox = CrashingOutbox()
    _fill(outbox, 20)
    relay = OutboxRelay(outbox, bus)
    await relay.start()
    try:
        await eventually(lambda: outbox.unconfirmed == 0, timeout_s=5)
    finally:
        await relay.stop()
    assert await _ids_on_stream(bus) == sorted(f"run-finished:r{n}" for n in range(20))


async def test_after_flushall_the_relay_republishes_what_redis_lost(
    private_redis: RedisServer,
) -> None:
    connection = BusConnection.from_url(private_redis.url, settings_for_test())
    outbox = InMemoryOutbox()
    metrics = BusMetrics()
    relay = OutboxRelay(outbox, connection, metrics=metrics)
    try:
        _fill(outbox, 50)
        await relay.drain()
        await connection.commands.flushall()
        _fill(outbox, 10, start=50)  # committed while Redis was empty
        await relay.drain()
        assert await _ids_on_stream(connection) == sorted(f"run-finished:r{n}" for n in range(60))
        assert metrics.relay_republished.collect()[0].samples[0].value == 50
    finally:
        await connection.close()


async def test_a_restarted_empty_redis_gets_everything_back_while_the_relay_runs(
    private_redis: RedisServer,
) -> None:
    connection = BusConnection.from_url(private_redis.url, settings_for_test())
    outbox = InMemoryOutbox()
    relay = OutboxRelay(outbox, connection, poll_s=0.02)
    await relay.start()
    try:
        _fill(outbox, 40)
        await eventually(lambda: outbox.unconfirmed == 0, timeout_s=5)
        private_redis.kill()
        _fill(outbox, 15, start=40)  # committed while Redis is down: they wait
        await asyncio.sleep(0.3)
        assert outbox.unconfirmed == 15
        await private_redis.restart()
        expected = sorted(f"run-finished:r{n}" for n in range(55))
        await eventually(lambda: _stream_is(connection, expected), timeout_s=10)
        assert outbox.unconfirmed == 0
    finally:
        await relay.stop()
        await connection.close()


async def _stream_is(connection: BusConnection, expected: list[str]) -> bool:
    try:
        return await _ids_on_stream(connection) == expected
    except Exception:
        return False
