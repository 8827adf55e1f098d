"""Fixtures of the API tests that need more than the orchestrator: the EventService on
its own gRPC server (port 0) over a Redis bus with a key prefix per test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest

from aura.events.v1 import events_pb2_grpc
from orchestrator.bus import BusConnection, EventBus
from tests.integration.event_service_helpers import serve_events

__all__ = ["event_bus", "event_stub"]


@pytest.fixture
def event_bus(bus: BusConnection) -> EventBus:
    return EventBus(bus)


@pytest.fixture
async def event_stub(event_bus: EventBus) -> AsyncIterator[events_pb2_grpc.EventServiceStub]:
    """A client of an EventService over `event_bus`, on a real channel."""
    async with serve_events(event_bus) as address, grpc.aio.insecure_channel(address) as channel:
        yield events_pb2_grpc.EventServiceStub(channel)
