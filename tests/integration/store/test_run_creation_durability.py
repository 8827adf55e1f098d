"""A run prepares while its creation commits, but calls no backend before it is durable.

The orchestrator here fsyncs (durability "fsync"), so every commit runs on the store's
writer thread while the event loop goes on: the case where the order matters.
"""

from __future__ import annotations

import dataclasses
import sqlite3
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import grpc
import pytest

from aura.orchestrator.v1 import orchestrator_pb2_grpc, run_pb2
from mock_services.mesh import MockMesh
from orchestrator.server import OrchestratorServer
from orchestrator.store.sqlite_requests import CreateRequest, WriteRequest, WriteResult
from orchestrator.store.sqlite_writes import BatchWriter
from tests.integration.orchestrator_helpers import STYLE_INPUT, Stub, execute, settings_for

pytestmark = pytest.mark.integration


@pytest.fixture
async def stub(mesh: MockMesh, tmp_path: Path) -> AsyncIterator[Stub]:
    settings = dataclasses.replace(settings_for(mesh, tmp_path / "data"), durability="fsync")
    server = OrchestratorServer(settings)
    await server.start()
    try:
        async with grpc.aio.insecure_channel(server.address) as channel:
            yield orchestrator_pb2_grpc.OrchestratorServiceStub(channel)
    finally:
        await server.stop(grace_s=0.5)


def _backend_calls(mesh: MockMesh) -> int:
    return sum(sum(server.calls.values()) for server in mesh.servers.values())


def _creates(requests: Sequence[WriteRequest]) -> bool:
    return any(isinstance(request, CreateRequest) for request in requests)


async def test_no_backend_is_called_before_the_runs_creation_commits(
    stub: Stub, mesh: MockMesh, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen_at_commit: list[int] = []
    write = BatchWriter.write

    def slow_creation(self: BatchWriter, requests: Sequence[WriteRequest]) -> WriteResult:
        if _creates(requests):
            time.sleep(0.3)  # the writer thread: a slow disk under the creation
            seen_at_commit.append(_backend_calls(mesh))
        return write(self, requests)

    monkeypatch.setattr(BatchWriter, "write", slow_creation)

    run = await execute(stub, "complete_style_analysis", STYLE_INPUT)

    assert run.state == run_pb2.RUN_STATE_SUCCEEDED
    assert seen_at_commit == [0], "a backend was called while the run was not yet durable"
    assert _backend_calls(mesh) == 5


async def test_a_creation_that_fails_to_commit_is_reported_and_calls_no_backend(
    stub: Stub, mesh: MockMesh, monkeypatch: pytest.MonkeyPatch
) -> None:
    write = BatchWriter.write
    failures = 0

    def failing_creation(self: BatchWriter, requests: Sequence[WriteRequest]) -> WriteResult:
        nonlocal failures
        if _creates(requests) and failures == 0:
            failures += 1
            time.sleep(0.2)
            raise sqlite3.OperationalError("disk I/O error")
        return write(self, requests)

    monkeypatch.setattr(BatchWriter, "write", failing_creation)

    with pytest.raises(grpc.aio.AioRpcError) as failed:
        await execute(stub, "complete_style_analysis", STYLE_INPUT)

    assert failed.value.code() not in (grpc.StatusCode.UNKNOWN, grpc.StatusCode.OK)
    assert _backend_calls(mesh) == 0
    # The orchestrator keeps serving: the next run commits and succeeds.
    run = await execute(stub, "complete_style_analysis", STYLE_INPUT)
    assert run.state == run_pb2.RUN_STATE_SUCCEEDED
