"""What a replica runs in the background when the bus is on: the outbox relay and the
trigger consumer, started and stopped together (the server's one call each way)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from orchestrator.bus.event_bus import EventBus
from orchestrator.bus.outbox import Outbox
from orchestrator.bus.relay import OutboxRelay
from orchestrator.bus.trigger_consumer import StartRun, TriggerConsumer
from orchestrator.workflows import CompiledWorkflow


class BusRuntime:
    """`start()` after the store and engine are up; `stop()` (idempotent) before they go:
    entries being handled stay pending and another replica takes them over."""

    def __init__(
        self,
        bus: EventBus,
        *,
        replica_id: str,
        outbox: Outbox | None,
        definitions: Callable[[], Iterable[CompiledWorkflow]],
        start_run: StartRun,
    ) -> None:
        self.bus = bus
        self.relay: OutboxRelay | None = bus.relay(outbox) if outbox is not None else None
        self.triggers: TriggerConsumer = bus.trigger_consumer(replica_id, definitions, start_run)
        self._started = False

    def notify_commit(self) -> None:
        """A store commit wrote outbox entries: the relay publishes them now."""
        if self.relay is not None:
            self.relay.notify()

    async def start(self) -> None:
        if self._started:
            return
        self._started = True
        if self.relay is not None:
            await self.relay.start()
        await self.triggers.start()

    async def stop(self) -> None:
        if not self._started:
            return
        self._started = False
        await self.triggers.stop()
        if self.relay is not None:
            await self.relay.stop()

    async def __aenter__(self) -> BusRuntime:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()
