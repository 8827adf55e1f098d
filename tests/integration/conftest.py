"""Fixtures for every integration test: the real mock mesh and a real orchestrator on
port 0, with a real SQLite file. Plain helpers are in tests/integration/orchestrator_helpers.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from aura.orchestrator.v1 import orchestrator_pb2_grpc
from mock_services.mesh import MockMesh
from orchestrator.gateway import ConsoleServer
from orchestrator.security import make_signing_key
from orchestrator.server import OrchestratorServer
from tests.integration.orchestrator_helpers import Stub, settings_for


@pytest.fixture
async def mesh() -> AsyncIterator[MockMesh]:
    """The five mock services on free ports."""
    mesh = MockMesh()
    await mesh.start()
    try:
        yield mesh
    finally:
        await mesh.stop(grace_s=0.1)


@pytest.fixture
async def orchestrator(mesh: MockMesh, tmp_path: Path) -> AsyncIterator[OrchestratorServer]:
    """An orchestrator in process, wired to `mesh`, its store under `tmp_path`."""
    server = OrchestratorServer(settings_for(mesh, tmp_path / "data"))
    await server.start()
    try:
        yield server
    finally:
        await server.stop(grace_s=0.5)


@pytest.fixture
async def stub(orchestrator: OrchestratorServer) -> AsyncIterator[Stub]:
    """A client of `orchestrator` over a real channel."""
    async with grpc.aio.insecure_channel(orchestrator.address) as channel:
        yield orchestrator_pb2_grpc.OrchestratorServiceStub(channel)


@pytest.fixture
async def console(orchestrator: OrchestratorServer) -> AsyncIterator[ConsoleServer]:
    """The gateway and web console on a free port, in front of `orchestrator`."""
    server = await ConsoleServer("127.0.0.1", 0, orchestrator.address).start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
def token_keys(tmp_path: Path) -> tuple[Path, Path]:
    """A token signing key pair: (private, public)."""
    return make_signing_key(tmp_path / "keys")
