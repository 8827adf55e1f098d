"""The orchestrator process: store, mesh, engine and the gRPC server, with an explicit lifecycle."""

from __future__ import annotations

import asyncio
import logging
from types import TracebackType

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from aura.orchestrator.v1 import orchestrator_pb2, orchestrator_pb2_grpc
from orchestrator.analytics import AnalyticsRecorder
from orchestrator.api import OrchestratorServicer
from orchestrator.config import Settings
from orchestrator.engine import DefinitionCatalog, Engine
from orchestrator.events import EventHub
from orchestrator.mesh import BackendPool
from orchestrator.store import SqliteRunStore
from orchestrator.workflows import MethodRegistry

log = logging.getLogger(__name__)

SERVICE_NAME = orchestrator_pb2.DESCRIPTOR.services_by_name["OrchestratorService"].full_name


class OrchestratorServer:
    """`start()` then `stop(grace)`; or `async with`. `port` is known after start."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.store = SqliteRunStore(settings.database_path, durability=settings.durability)
        self.hub = EventHub()
        self.analytics = AnalyticsRecorder()
        self.pool = BackendPool(settings.service_addresses)
        self.catalog = DefinitionCatalog(self.store, MethodRegistry.default())
        self.engine = Engine(self.store, self.pool, self.catalog)
        self.health = health.aio.HealthServicer()
        self._server: grpc.aio.Server | None = None
        self.port = 0
        self._stopped = asyncio.Event()
        self._stopping = False

    @property
    def address(self) -> str:
        return f"{self.settings.host}:{self.port}"

    async def start(self) -> OrchestratorServer:
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        await self.store.open()
        self.store.add_commit_listener(self.hub.publish)
        self.store.add_commit_listener(self.analytics.observe)
        await self.catalog.load()
        await self.pool.start()
        server = grpc.aio.server(options=(("grpc.so_reuseport", 0),))
        orchestrator_pb2_grpc.add_OrchestratorServiceServicer_to_server(
            OrchestratorServicer(self.engine, self.hub, self.pool, self.analytics), server
        )
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        reflection.enable_server_reflection(
            (
                SERVICE_NAME,
                health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
                reflection.SERVICE_NAME,
            ),
            server,
        )
        self.port = server.add_insecure_port(self.settings.address)
        if self.port == 0:
            raise RuntimeError(f"cannot listen on {self.settings.address}")
        await server.start()
        self._server = server
        resumed = await self.engine.resume_unfinished()
        if resumed:
            log.info("resumed %d unfinished runs", len(resumed))
        for service in ("", SERVICE_NAME):
            await self.health.set(service, health_pb2.HealthCheckResponse.SERVING)
        log.info("orchestrator serving on %s", self.address)
        return self

    async def stop(self, grace_s: float | None = None) -> None:
        """Readiness off first, then drain calls; unfinished runs stay resumable. Idempotent."""
        if self._stopping:
            await self._stopped.wait()
            return
        self._stopping = True
        grace = self.settings.shutdown_grace_s if grace_s is None else grace_s
        try:
            await self.health.enter_graceful_shutdown()
            if self._server is not None:
                # Streams and Execute calls wait on runs; stop the runs first so they end.
                stop_server = asyncio.create_task(self._server.stop(grace))
                await self.engine.stop()
                await stop_server
            await self.pool.stop()
            await self.store.close()
        finally:
            self._stopped.set()

    async def wait_for_termination(self) -> None:
        await self._stopped.wait()

    async def __aenter__(self) -> OrchestratorServer:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
