"""Consumer groups against the real Redis: shared work, takeover of a SIGKILLed
consumer's entries, no duplicate while a slow handler runs, dead letters and replay."""

from __future__ import annotations

import asyncio
import collections
import sys
import time

import pytest

from orchestrator.bus import (
    BusConnection,
    BusEvent,
    DeadLetters,
    EventPublisher,
    GroupConsumer,
    PermanentFailure,
)
from tests.helpers import REPO_ROOT, eventually
from tests.redis_fixtures import require_redis

TOPIC = "style.analysed"
GROUP = "testers"

pytestmark = pytest.mark.integration


def _events(count: int, **payload: object) -> list[BusEvent]:
    return [BusEvent(TOPIC, "k", f"e{n}", {"n": n, **payload}) for n in range(count)]


def _consumer(bus: BusConnection, name: str, handler: object) -> GroupConsumer:
    return GroupConsumer(
        bus,
        group=GROUP,
        consumer=name,
        topics=lambda: [TOPIC],
        handler=handler,  # type: ignore[arg-type]
    )


async def test_two_consumers_share_the_events_and_handle_each_once(bus: BusConnection) -> None:
    handled: collections.Counter[str] = collections.Counter()
    by_consumer: collections.Counter[str] = collections.Counter()

    def handler_of(name: str):  # type: ignore[no-untyped-def]
        async def handle(event: BusEvent, deliveries: int) -> None:
            await asyncio.sleep(0.002)
            handled[event.event_id] += 1
            by_consumer[name] += 1

        return handle

    async with _consumer(bus, "a", handler_of("a")), _consumer(bus, "b", handler_of("b")):
        await EventPublisher(bus).publish_many(_events(300))
        await eventually(lambda: len(handled) == 300, timeout_s=15)
        await asyncio.sleep(0.3)
    assert set(handled.values()) == {1}
    assert by_consumer["a"] > 0 and by_consumer["b"] > 0


async def test_a_killed_consumers_entries_are_redelivered_to_a_live_one(
    bus: BusConnection,
) -> None:
    settings = bus.settings
    await EventPublisher(bus).publish_many(_events(25))
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.integration.bus.consumer_child",
        require_redis(),
        settings.prefix,
        TOPIC,
        GROUP,
        "doomed",
        cwd=REPO_ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert child.stdout is not None
        taken = [(await child.stdout.readline()).decode() for _ in range(10)]
        assert all(line.strip() for line in taken)
    finally:
        child.kill()
        await child.wait()
    killed_at = time.monotonic()
    pending = await bus.commands.xpending(settings.stream(TOPIC), GROUP)
    assert pending["consumers"] == [{"name": "doomed", "pending": 10}]

    handled: dict[str, int] = {}

    async def handle(event: BusEvent, deliveries: int) -> None:
        handled[event.event_id] = deliveries

    async def all_acknowledged() -> bool:
        pending = await bus.commands.xpending(settings.stream(TOPIC), GROUP)
        return len(handled) == 25 and pending["pending"] == 0

    async with _consumer(bus, "survivor", handle):
        await eventually(all_acknowledged, timeout_s=15)
    took_s = time.monotonic() - killed_at
    taken_ids = {line.strip() for line in taken}
    assert {i for i, d in handled.items() if d == 2} == taken_ids
    assert took_s < settings.claim_idle_s + settings.reclaim_interval_s + 2.0


async def test_a_slow_handler_is_not_given_a_duplicate_while_it_runs(bus: BusConnection) -> None:
    calls: collections.Counter[str] = collections.Counter()

    async def slow(event: BusEvent, deliveries: int) -> None:
        calls[event.event_id] += 1
        await asyncio.sleep(bus.settings.claim_idle_s * 3)

    async with _consumer(bus, "slow", slow), _consumer(bus, "idle", slow):
        await EventPublisher(bus).publish(_events(1)[0])
        await eventually(lambda: calls["e0"] == 1)
        await asyncio.sleep(bus.settings.claim_idle_s * 3.5)
    assert calls == {"e0": 1}


async def test_an_event_failing_every_delivery_is_dead_lettered_and_replayable(
    bus: BusConnection,
) -> None:
    healthy = asyncio.Event()
    deliveries_seen: list[int] = []
    done: list[str] = []

    async def handle(event: BusEvent, deliveries: int) -> None:
        if event.payload.get("poison") and not healthy.is_set():
            deliveries_seen.append(deliveries)
            raise RuntimeError("catalogue lookup failed")
        done.append(event.event_id)

    dead = DeadLetters(bus)
    publisher = EventPublisher(bus)
    async with _consumer(bus, "c", handle):
        await publisher.publish(BusEvent(TOPIC, "k", "bad", {"poison": True}))
        await publisher.publish(BusEvent(TOPIC, "k", "good", {}))
        letters = await eventually(lambda: _page(dead), timeout_s=10)
        assert deliveries_seen == [1, 2, 3]
        (letter,) = letters
        assert (letter.event.event_id, letter.group, letter.deliveries) == ("bad", GROUP, 3)
        assert letter.reason == "RuntimeError: catalogue lookup failed"
        assert done == ["good"]
        await eventually(lambda: _no_pending(bus))

        healthy.set()
        replayed = await dead.replay(TOPIC, letter.id)
        assert replayed.event_id == "bad" and replayed.cursor > letter.event.cursor
        await eventually(lambda: done == ["good", "bad"], timeout_s=5)
    assert await dead.page(TOPIC, 10) == ([], "")
    with pytest.raises(Exception, match="not found"):
        await dead.replay(TOPIC, letter.id)


async def _no_pending(bus: BusConnection) -> bool:
    pending = await bus.commands.xpending(bus.settings.stream(TOPIC), GROUP)
    return int(pending["pending"]) == 0


async def _page(dead: DeadLetters) -> list[object]:
    letters, _ = await dead.page(TOPIC, 10)
    return letters  # type: ignore[return-value]


async def test_a_permanent_failure_is_dead_lettered_at_the_first_delivery(
    bus: BusConnection,
) -> None:
    async def refuse(event: BusEvent, deliveries: int) -> None:
        raise PermanentFailure("input.user_id is missing")

    dead = DeadLetters(bus)
    async with _consumer(bus, "c", refuse):
        await EventPublisher(bus).publish(_events(1)[0])
        (letter,) = await eventually(lambda: _page(dead), timeout_s=5)
    assert (letter.deliveries, letter.reason) == (1, "input.user_id is missing")  # type: ignore[attr-defined]
