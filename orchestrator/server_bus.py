"""The server's side of the event bus (AURA_REDIS_URL set): what runs next to the engine.

- The outbox relay and the trigger consumer (`BusRuntime`): the relay is woken by a
  commit listener whenever a commit wrote outbox entries; triggers start their runs
  through the engine, returning once each run's creation is committed.
- The service state feed: this replica's breaker and health view on the cluster's board
  (ListServices across replicas), its transitions as `service.state` outbox entries, a
  breaker that opened as `alert.breaker_open`.

`start()` after the engine and queue are up; `stop()` in the drain, before the store closes.
"""

from __future__ import annotations

from collections.abc import Sequence

from google.protobuf import struct_pb2

from aura.orchestrator.v1 import run_pb2
from orchestrator.bus import BusRuntime, EndpointState, EventBus, ServiceStateFeed, TriggeredRun
from orchestrator.engine import DefinitionCatalog, Engine, RunSpec
from orchestrator.mesh import BackendPool
from orchestrator.names import DEFAULT_TENANT
from orchestrator.runs import EVERY_TENANT
from orchestrator.store import PostgresRunStore, SqliteRunStore, produces_entries


def pool_view(pool: BackendPool, replica: str) -> list[EndpointState]:
    """Every endpoint's breaker and health as this replica sees it now."""
    return [
        EndpointState(
            replica,
            service.service,
            endpoint.address,
            endpoint.circuit_state.name.lower(),
            endpoint.serving_status.name,
        )
        for service in pool.snapshot()
        for endpoint in service.endpoints
    ]


class BusSide:
    def __init__(
        self,
        bus: EventBus,
        store: SqliteRunStore | PostgresRunStore,
        engine: Engine,
        catalog: DefinitionCatalog,
        pool: BackendPool,
    ) -> None:
        self.bus = bus
        self._engine = engine
        replica = store.replica_id
        self.runtime = BusRuntime(
            bus,
            replica_id=replica,
            outbox=store,
            # Triggers of every tenant's definitions listen, each to its own tenant's
            # events (a shared seed's: every tenant's); each run is the event's tenant's.
            definitions=lambda: catalog.list(scope=EVERY_TENANT),
            start_run=self.start_run,
        )
        self.feed = ServiceStateFeed(
            bus.services,
            lambda: pool_view(pool, replica),
            store.record_outbox,
            on_recorded=self.runtime.notify_commit,
        )
        store.add_commit_listener(self._committed)
        pool.add_breaker_listener(lambda *_: self.feed.poke())

    def _committed(self, events: Sequence[run_pb2.RunEvent]) -> None:
        if any(produces_entries(event) for event in events):
            self.runtime.notify_commit()

    async def start_run(self, run: TriggeredRun) -> str:
        """A trigger's run, through the engine, in the event's tenant (the definition's,
        or any tenant for a shared one; the engine looks the definition up in that
        tenant's scope, so another tenant's answers NOT_FOUND, never a run); returns
        once its creation is committed."""
        run_input = struct_pb2.Struct()
        run_input.update(run.input)
        tenant = run.tenant or DEFAULT_TENANT
        spec = RunSpec(
            run.workflow_definition,
            input=run_input,
            labels=run.labels,
            request_id=run.request_id,
            tenant=tenant,
        )
        workflow_run, _ = await self._engine.start_run(spec)
        return str(workflow_run.name)

    async def start(self) -> None:
        await self.runtime.start()
        await self.feed.start()

    async def stop(self) -> None:
        await self.feed.stop()
        await self.runtime.stop()
