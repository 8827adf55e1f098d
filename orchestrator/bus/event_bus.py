"""The bus's public face: one object per process, made from AURA_REDIS_URL, that the
API and the server use (publish, read, dead letters; the relay and trigger consumer
it makes share its connection and metrics)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable

from orchestrator.bus.connection import BusConnection
from orchestrator.bus.dead_letters import DeadLetters
from orchestrator.bus.metrics import BusMetrics
from orchestrator.bus.model import BusEvent, BusSettings, DeadLetterEntry
from orchestrator.bus.outbox import Outbox
from orchestrator.bus.publisher import EventPublisher, Published
from orchestrator.bus.reader import TopicReader
from orchestrator.bus.relay import OutboxRelay
from orchestrator.bus.service_board import ServiceStateBoard
from orchestrator.bus.trigger_consumer import StartRun, TriggerConsumer
from orchestrator.names import DEFAULT_TENANT
from orchestrator.workflows import CompiledWorkflow


class EventBus:
    def __init__(self, connection: BusConnection, metrics: BusMetrics | None = None) -> None:
        self.connection = connection
        self.metrics = metrics or BusMetrics()
        self._publisher = EventPublisher(connection)
        self._reader = TopicReader(connection)
        self._dead = DeadLetters(connection)
        #: Every replica's view of the backends (ListServices across the cluster).
        self.services = ServiceStateBoard(connection)

    @classmethod
    def from_url(
        cls, url: str, settings: BusSettings | None = None, metrics: BusMetrics | None = None
    ) -> EventBus:
        return cls(BusConnection.from_url(url, settings), metrics)

    @property
    def settings(self) -> BusSettings:
        return self.connection.settings

    async def publish(self, event: BusEvent) -> Published:
        """On the stream of `event.tenant`."""
        published = await self._publisher.publish(event)
        if not published.duplicate:
            self.metrics.published.labels(event.topic).inc()
        return published

    def subscribe(
        self, topic: str, cursor: str = "", tenant: str = DEFAULT_TENANT
    ) -> AsyncIterator[BusEvent]:
        """`tenant`'s events of `topic` (every read below is one tenant's)."""
        return self._reader.subscribe(topic, cursor, tenant)

    async def recent(
        self, topic: str, limit: int, before: str = "", tenant: str = DEFAULT_TENANT
    ) -> tuple[list[BusEvent], str]:
        return await self._reader.recent(topic, limit, before, tenant)

    async def dead_letters(
        self, topic: str, limit: int, before: str = "", tenant: str = DEFAULT_TENANT
    ) -> tuple[list[DeadLetterEntry], str]:
        return await self._dead.page(topic, limit, before, tenant)

    async def replay(
        self, topic: str, dead_letter_id: str, tenant: str = DEFAULT_TENANT
    ) -> BusEvent:
        return await self._dead.replay(topic, dead_letter_id, tenant)

    def relay(self, outbox: Outbox) -> OutboxRelay:
        """The relay of the store's outbox (start() it; stop() on shutdown)."""
        return OutboxRelay(outbox, self.connection, metrics=self.metrics)

    def trigger_consumer(
        self,
        consumer: str,
        definitions: Callable[[], Iterable[CompiledWorkflow]],
        start_run: StartRun,
    ) -> TriggerConsumer:
        """The trigger consumer of this replica (`consumer`: its replica id)."""
        return TriggerConsumer(
            self.connection,
            consumer=consumer,
            definitions=definitions,
            start_run=start_run,
            metrics=self.metrics,
        )

    async def close(self) -> None:
        await self.connection.close()
