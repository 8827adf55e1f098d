"""Fixtures of the API tests that need more than the orchestrator: the EventService on
its own gRPC server (port 0) over a Redis bus with a key prefix per test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest

from aura.events.v1 import events_pb2_grpc
from orchestrator.api import ErrorStatusInterceptor, EventServicer
from orchestrator.bus import BusConnection, EventBus
from tests.redis_fixtures import bus

__all__ = ["bus", "event_bus", "event_stub"]


@pytest.fixture
def event_bus(bus: BusConnection) -> EventBus:
    return EventBus(bus)


@pytest.fixture
async def event_stub(event_bus: EventBus) -> AsyncIterator[events_pb2_grpc.EventServiceStub]:
    """A client of an EventService over `event_bus`, through the orchestrator's error
    boundary (ErrorStatusInterceptor), on a real channel."""
    server = grpc.aio.server(interceptors=[ErrorStatusInterceptor()])
    events_pb2_grpc.add_EventServiceServicer_to_server(EventServicer(event_bus), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield events_pb2_grpc.EventServiceStub(channel)
    finally:
        await server.stop(0.2)
