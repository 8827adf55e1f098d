"""The orchestrator with the bus on serves EventService (reflection, health), and a drain
ends an open SubscribeEvents with UNAVAILABLE, reason SHUTTING_DOWN, like a run Watch."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from aura.events.v1 import events_pb2, events_pb2_grpc
from mock_services.mesh import MockMesh
from orchestrator.bus import BusConnection
from orchestrator.server import EVENT_SERVICE_NAME, OrchestratorServer
from tests.integration.mock_helpers import error_info
from tests.integration.orchestrator_helpers import settings_for
from tests.redis_fixtures import require_redis

pytestmark = pytest.mark.integration


async def test_a_drain_ends_subscriptions_with_shutting_down(
    mesh: MockMesh, tmp_path: Path, bus: BusConnection
) -> None:
    settings = dataclasses.replace(settings_for(mesh, tmp_path / "data"), redis_url=require_redis())
    server = OrchestratorServer(settings, bus_settings=bus.settings)
    await server.start()
    try:
        async with grpc.aio.insecure_channel(server.address) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            answer = await health.Check(health_pb2.HealthCheckRequest(service=EVENT_SERVICE_NAME))
            assert answer.status == health_pb2.HealthCheckResponse.SERVING
            events = events_pb2_grpc.EventServiceStub(channel)
            call = events.SubscribeEvents(events_pb2.SubscribeEventsRequest(topic="style.analysed"))
            await asyncio.sleep(0.2)  # the subscription is blocking on Redis
            stopping = asyncio.create_task(server.stop(grace_s=2.0))
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                async for _ in call:
                    pass
            await stopping
    finally:
        await server.stop(grace_s=0.5)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    info = error_info(caught.value)
    assert info is not None and info.reason == "SHUTTING_DOWN"
