"""Fixtures of the CLI tests of the event bus: an EventService over Redis (per-test
key prefix), served on port 0 for `aura events` processes."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from orchestrator.bus import BusConnection, EventBus
from tests.integration.event_service_helpers import serve_events

__all__ = ["event_service"]


@pytest.fixture
async def event_service(bus: BusConnection) -> AsyncIterator[tuple[str, EventBus]]:
    """(address, bus) of an EventService."""
    event_bus = EventBus(bus)
    async with serve_events(event_bus) as address:
        yield address, event_bus
