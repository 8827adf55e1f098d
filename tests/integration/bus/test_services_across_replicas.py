"""ListServices across the cluster: two replicas on one PostgreSQL store and one bus each
show every replica's view of each endpoint; a backend turning NOT_SERVING opens the
breakers, which reaches the board, a `service.state` event and an `alert.breaker_open`."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from pathlib import Path

import grpc
import pytest

from aura.orchestrator.v1 import orchestrator_pb2, orchestrator_pb2_grpc
from mock_services.mesh import MockMesh
from orchestrator.bus import BREAKER_OPEN_ALERT, BusConnection, EventBus
from orchestrator.server import OrchestratorServer
from tests.helpers import eventually
from tests.integration.orchestrator_helpers import settings_for
from tests.postgres_fixtures import PostgresSchema
from tests.redis_fixtures import require_redis

pytestmark = pytest.mark.integration


async def test_every_replica_view_is_listed_and_an_open_breaker_alerts(
    mesh: MockMesh,
    tmp_path: Path,
    bus: BusConnection,
    postgres_schemas: Callable[[], Awaitable[PostgresSchema]],
) -> None:
    schema = await postgres_schemas()
    base = dataclasses.replace(
        settings_for(mesh, tmp_path / "data"), redis_url=require_redis(), store_url=schema.url
    )
    servers = [
        OrchestratorServer(dataclasses.replace(base, replica_id=name), bus_settings=bus.settings)
        for name in ("replica-a", "replica-b")
    ]
    for server in servers:
        await server.start()
    try:
        async with grpc.aio.insecure_channel(servers[0].address) as channel:
            stub = orchestrator_pb2_grpc.OrchestratorServiceStub(channel)

            async def views() -> dict[str, list[tuple[str, int]]] | None:
                answer = await stub.ListServices(orchestrator_pb2.ListServicesRequest())
                found = {
                    endpoint.address: [(v.replica, v.circuit_state) for v in endpoint.replica_views]
                    for service in answer.services
                    for endpoint in service.endpoints
                }
                complete = all(len(seen) == 2 for seen in found.values())
                return found if found and complete else None

            listed = await eventually(views, timeout_s=10)
            assert all(
                [r for r, _ in seen] == ["replica-a", "replica-b"] for seen in listed.values()
            )

            down = next(iter(mesh.servers.values()))
            await down.set_serving(False)

            async def opened() -> list[tuple[str, int]] | None:
                seen = (await views() or {}).get(down.address, [])
                is_open = orchestrator_pb2.CIRCUIT_STATE_OPEN
                return seen if seen and all(state == is_open for _, state in seen) else None

            await eventually(opened, timeout_s=10)

        reader = EventBus(bus)

        async def alerts() -> list[str] | None:
            events, _ = await reader.recent(BREAKER_OPEN_ALERT, 10)
            found = sorted(e.payload["details"]["replica"] for e in events)
            return found if len(found) == 2 else None

        assert await eventually(alerts, timeout_s=10) == ["replica-a", "replica-b"]
        states, _ = await reader.recent("service.state", 100)
        assert {e.payload["endpoint"] for e in states} >= {down.address}
    finally:
        for server in servers:
            await server.stop(grace_s=0.5)
