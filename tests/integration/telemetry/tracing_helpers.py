"""Helpers for tracing tests: a stack whose servers and channels exist after instrumentation."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import grpc

from aura.orchestrator.v1 import orchestrator_pb2_grpc
from mock_services.mesh import MockMesh
from orchestrator.server import OrchestratorServer
from tests.integration.orchestrator_helpers import Stub, settings_for


@contextlib.asynccontextmanager
async def traced_stack(tmp_path: Path) -> AsyncIterator[tuple[MockMesh, Stub]]:
    """The mock mesh, an orchestrator and a client stub, all created after instrumentation."""
    async with MockMesh() as mesh:
        server = OrchestratorServer(settings_for(mesh, tmp_path / "data"))
        await server.start()
        try:
            async with grpc.aio.insecure_channel(server.address) as channel:
                yield mesh, orchestrator_pb2_grpc.OrchestratorServiceStub(channel)
        finally:
            await server.stop(grace_s=0.5)
