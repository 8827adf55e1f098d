"""`aura events publish | tail | dead-letters` against an EventService over Redis."""

from __future__ import annotations

import json

import pytest

from orchestrator.bus import BusEvent, DeadLetters, EventBus
from tests.integration.cli_process import aura

pytestmark = pytest.mark.integration


async def test_publish_then_tail_from_the_start(event_service: tuple[str, EventBus]) -> None:
    address, _ = event_service
    for n in range(3):
        result = await aura(
            "events",
            "publish",
            "style.analysed",
            "--address",
            address,
            "--key",
            "u1",
            "--event-id",
            f"e{n}",
            "--payload",
            json.dumps({"n": n}),
        )
        assert result.code == 0, result.stderr
        assert json.loads(result.stdout)["event"]["eventId"] == f"e{n}"
    again = await aura(
        "events", "publish", "style.analysed", "--address", address, "--event-id", "e0"
    )
    assert json.loads(again.stdout)["duplicate"] is True
    tail = await aura(
        "events", "tail", "style.analysed", "--address", address, "--cursor", "0", "--count", "3"
    )
    assert tail.code == 0, tail.stderr
    lines = [json.loads(line) for line in tail.stdout.splitlines()]
    assert [(e["eventId"], e["payload"]) for e in lines] == [
        ("e0", {"n": 0}),
        ("e1", {"n": 1}),
        ("e2", {"n": 2}),
    ]


async def test_a_bad_topic_is_reported_with_its_field(event_service: tuple[str, EventBus]) -> None:
    address, _ = event_service
    result = await aura("events", "publish", "Bad Topic", "--address", address)
    assert result.code == 1
    assert "INVALID_ARGUMENT" in result.stderr and "topic:" in result.stderr


async def test_dead_letters_are_listed_and_replayed(event_service: tuple[str, EventBus]) -> None:
    address, bus = event_service
    published = await bus.publish(BusEvent("run.finished", "k", "bad-1", {}))
    await DeadLetters(bus.connection).bury(published.event, "triggers", 5, "start refused")
    listing = await aura("events", "dead-letters", "run.finished", "--address", address)
    assert listing.code == 0, listing.stderr
    assert "bad-1" in listing.stdout and "start refused" in listing.stdout
    (letter,), _ = await bus.dead_letters("run.finished", 10)
    replay = await aura(
        "events", "dead-letters", "run.finished", "--address", address, "--replay", letter.id
    )
    assert replay.code == 0, replay.stderr
    assert json.loads(replay.stdout)["event"]["eventId"] == "bad-1"
    empty = await aura("events", "dead-letters", "run.finished", "--address", address)
    assert "no dead letters on run.finished" in empty.stdout
