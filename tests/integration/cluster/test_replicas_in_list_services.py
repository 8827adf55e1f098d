"""ListServices on any replica names every replica of the store, who is alive and what each
owns; a killed replica shows as lost until the others take its runs."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from aura.orchestrator.v1 import orchestrator_pb2
from mock_services.mesh import MockMesh
from tests.integration.cluster.replicas import Stub, start_replicas
from tests.integration.orchestrator_helpers import STYLE_INPUT, struct

pytestmark = pytest.mark.integration

LEASE_S = 2.0


async def _replicas_seen_by(stub: Stub) -> dict[str, orchestrator_pb2.OrchestratorReplica]:
    answer = await stub.ListServices(orchestrator_pb2.ListServicesRequest())
    return {replica.id: replica for replica in answer.replicas}


async def test_every_replica_is_listed_with_the_runs_it_owns(
    mesh: MockMesh, empty_pg_dsn: str, tmp_path: Path
) -> None:
    for service in mesh.servers.values():
        service.faults.latency_ms = 3000  # runs stay in flight while we look
    replicas = await start_replicas(mesh, empty_pg_dsn, tmp_path, ["a", "b"], LEASE_S)
    try:
        a, b = replicas
        start = orchestrator_pb2.StartWorkflowRunRequest(
            workflow_definition="complete_style_analysis", input=struct(STYLE_INPUT)
        )
        for _ in range(3):
            await a.stub.StartWorkflowRun(start)

        seen = await _replicas_seen_by(b.stub)
        assert set(seen) == {"a", "b"}
        assert seen["b"].answering and not seen["a"].answering
        assert seen["a"].alive and seen["b"].alive
        assert (seen["a"].owned_runs, seen["b"].owned_runs) == (3, 0)
        assert seen["a"].address.endswith(a.address.rpartition(":")[2])

        await a.kill()
        deadline = time.monotonic() + 5 * LEASE_S
        while time.monotonic() < deadline:
            seen = await _replicas_seen_by(b.stub)
            if "a" in seen and not seen["a"].alive:
                break
            await asyncio.sleep(0.2)
        assert not seen["a"].alive, "a killed replica shows as lost"
        while time.monotonic() < deadline and seen["b"].owned_runs < 3:
            await asyncio.sleep(0.2)
            seen = await _replicas_seen_by(b.stub)
        assert seen["b"].owned_runs == 3, "its runs were taken over by b"
    finally:
        for replica in replicas:
            await replica.close()
