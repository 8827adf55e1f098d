"""An EventService on a gRPC server of its own (port 0), through the orchestrator's
error boundary and with reflection (for grpcurl): what the API and CLI tests of the
event bus talk to."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import grpc
from grpc_reflection.v1alpha import reflection

from aura.events.v1 import events_pb2, events_pb2_grpc
from orchestrator.api import ErrorStatusInterceptor, EventServicer
from orchestrator.bus import EventBus


@asynccontextmanager
async def serve_events(bus: EventBus | None) -> AsyncIterator[str]:
    """Serves EventService over `bus` (None: a disabled bus); yields its address."""
    server = grpc.aio.server(interceptors=[ErrorStatusInterceptor()])
    events_pb2_grpc.add_EventServiceServicer_to_server(EventServicer(bus), server)
    service = events_pb2.DESCRIPTOR.services_by_name["EventService"].full_name
    reflection.enable_server_reflection([service, reflection.SERVICE_NAME], server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        await server.stop(0.2)
