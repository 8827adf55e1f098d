"""grpc.health.v1 for a server that drains: its Watch streams end when the drain begins.

The stock servicer's Watch never ends on its own, so one client doing client-side health
checking (or a `grpcurl ... Health/Watch`) would hold a stopping server open for its
whole grace period. Here, once `end_watches()` is called, every open Watch (and any new
one) ends with UNAVAILABLE, ErrorInfo reason SHUTTING_DOWN and RetryInfo, after it has
delivered NOT_SERVING. Check keeps answering (NOT_SERVING) while the port is open.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2

from orchestrator.api import abort_with
from orchestrator.errors import shutting_down


class DrainingHealthServicer(health.aio.HealthServicer):  # type: ignore[misc]  # untyped
    def __init__(self) -> None:
        super().__init__()
        self._watches_ended = asyncio.Event()

    def end_watches(self) -> None:
        """Ends every health Watch, now and later. Idempotent."""
        self._watches_ended.set()

    async def Watch(
        self, request: health_pb2.HealthCheckRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> None:
        if not self._watches_ended.is_set():
            watching = asyncio.ensure_future(super().Watch(request, context))
            ended = asyncio.ensure_future(self._watches_ended.wait())
            try:
                await asyncio.wait({watching, ended}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                ended.cancel()
                if not watching.done():
                    watching.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await watching
            if not watching.cancelled():
                watching.result()  # the stream failed (e.g. the client went away): re-raise
                return
        error = shutting_down(
            "the server is shutting down; connect again to another replica or after the restart"
        )
        await abort_with(context, error)
