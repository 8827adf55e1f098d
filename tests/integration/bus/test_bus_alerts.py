"""`alert.*` events the bus raises itself: a dead-lettered event, an outbox relay that had
fallen behind (once per period), and never an alert about an alert."""

from __future__ import annotations

import time

import pytest

from orchestrator.bus import (
    DEAD_LETTER_ALERT,
    RELAY_LAG_ALERT,
    BusConnection,
    BusEvent,
    EventPublisher,
    GroupConsumer,
    InMemoryOutbox,
    OutboxRelay,
    PermanentFailure,
    TopicReader,
)
from orchestrator.store import OutboxEntry
from tests.helpers import eventually

pytestmark = pytest.mark.integration


async def _alerts(bus: BusConnection, topic: str) -> list[BusEvent]:
    events, _ = await TopicReader(bus).recent(topic, 10)
    return events


async def test_a_dead_lettered_event_raises_an_alert(bus: BusConnection) -> None:
    async def refuse(event: BusEvent, deliveries: int) -> None:
        raise PermanentFailure("input.user_id is missing")

    consumer = GroupConsumer(
        bus, group="g", consumer="c", topics=lambda: ["style.analysed"], handler=refuse
    )
    await consumer.start()
    try:
        await EventPublisher(bus).publish(BusEvent("style.analysed", "ada", "e-1", {}))
        (alert,) = await eventually(lambda: _alerts(bus, DEAD_LETTER_ALERT), timeout_s=5)
    finally:
        await consumer.stop()
    assert alert.key == "style.analysed" and alert.payload["severity"] == "warning"
    details = alert.payload["details"]
    assert (details["event_id"], details["group"]) == ("e-1", "g")
    assert details["reason"] == "input.user_id is missing"


class StaleOutbox(InMemoryOutbox):
    """Entries committed two minutes ago (the relay was behind)."""

    def add(self, topic: str, key: str, event_id: str, payload: dict[str, object]) -> OutboxEntry:
        entry = super().add(topic, key, event_id, payload)
        old = OutboxEntry(
            entry.id, topic, key, event_id, dict(payload), int((time.time() - 120) * 1e6)
        )
        self._entries[entry.id] = old
        return old


async def test_a_lagging_relay_raises_one_alert_per_period(bus: BusConnection) -> None:
    outbox = StaleOutbox()
    relay = OutboxRelay(outbox, bus, batch=1)
    for n in range(3):
        outbox.add("run.finished", "k", f"run-finished:r{n}", {})
    assert await relay.drain() == 3
    (alert,) = await _alerts(bus, RELAY_LAG_ALERT)
    assert alert.payload["details"]["lag_s"] >= 119
