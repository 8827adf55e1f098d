"""The standard asyncio health servicer, plus ending Watch streams on shutdown.

A Watch stream never ends by itself, so during a graceful stop it would hold the server for the
whole grace period although it has nothing left to say. Once a watcher has been told NOT_SERVING,
its stream is closed (status OK) and only real calls are waited for.
"""

from __future__ import annotations

import asyncio
from typing import Any

from grpc_health.v1 import health_pb2
from grpc_health.v1.health import aio as health_aio

NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


class _StatusRecorder:
    """Passes writes through to the real context and notes when NOT_SERVING went out."""

    def __init__(self, context: Any) -> None:
        self._context = context
        self.told_not_serving = asyncio.Event()

    async def write(self, response: health_pb2.HealthCheckResponse) -> None:
        await self._context.write(response)
        if response.status == NOT_SERVING:
            self.told_not_serving.set()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)


class DrainingHealthServicer(health_aio.HealthServicer):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        self._watches: dict[asyncio.Task[None], _StatusRecorder] = {}

    async def Watch(self, request: health_pb2.HealthCheckRequest, context: Any) -> None:
        recorder = _StatusRecorder(context)
        watch = asyncio.ensure_future(super().Watch(request, recorder))
        self._watches[watch] = recorder
        try:
            await watch
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise  # the client went away
            # Ended by end_watches: returning closes the stream with OK.
        finally:
            del self._watches[watch]

    async def end_watches(self, timeout_s: float = 0.5) -> None:
        """Closes every Watch stream once it has sent NOT_SERVING (or after `timeout_s`)."""
        if not self._watches:
            return
        told = [asyncio.ensure_future(r.told_not_serving.wait()) for r in self._watches.values()]
        _, pending = await asyncio.wait(told, timeout=timeout_s)
        for waiter in pending:
            waiter.cancel()
        for watch in list(self._watches):
            watch.cancel()
