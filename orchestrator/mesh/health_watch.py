"""Follows one backend's grpc.health.v1 Watch stream and remembers its status."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

log = logging.getLogger(__name__)

SERVING = health_pb2.HealthCheckResponse.SERVING
UNKNOWN = health_pb2.HealthCheckResponse.UNKNOWN


class HealthWatch:
    """One Watch stream per (channel, service); re-opened with backoff when it breaks.

    A broken stream is not itself a failure of the backend: the status becomes
    UNKNOWN until the stream answers again. `on_status` hears every status the
    stream delivers, and UNKNOWN when it breaks.

    The stream is opened wait-for-ready: while the backend is unreachable it waits
    for the channel to connect instead of failing, so the SERVING of a backend that
    comes back arrives as soon as the channel reconnects, not a backoff later.
    """

    def __init__(
        self,
        channel: grpc.aio.Channel,
        service: str,
        *,
        max_backoff_s: float = 2.0,
        on_status: Callable[[int], None] | None = None,
    ) -> None:
        self._stub = health_pb2_grpc.HealthStub(channel)
        self._service = service
        self._max_backoff_s = max_backoff_s
        self._on_status = on_status
        self.status: int = UNKNOWN
        self._task: asyncio.Task[None] | None = None

    def _set(self, status: int) -> None:
        self.status = status
        if self._on_status is not None:
            self._on_status(status)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._follow(), name=f"health-watch:{self._service}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _follow(self) -> None:
        backoff_s = 0.05
        while True:
            try:
                call = self._stub.Watch(
                    health_pb2.HealthCheckRequest(service=self._service), wait_for_ready=True
                )
                async for response in call:
                    self._set(response.status)
                    backoff_s = 0.05
            except grpc.aio.AioRpcError as error:
                log.debug("health watch of %s broke: %s", self._service, error.code())
            self._set(UNKNOWN)
            await asyncio.sleep(backoff_s)
            backoff_s = min(backoff_s * 2, self._max_backoff_s)
