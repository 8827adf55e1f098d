"""A replica paused (SIGSTOP) for twice its lease, then continued: its runs were taken
over meanwhile; when it wakes up, every write it tries for them is refused, it stops
executing them, a call it was serving follows its run to the end on the new owner, and
no run ends twice."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import asyncpg
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from aura.orchestrator.v1 import orchestrator_pb2, run_pb2
from benchmarks import cluster_audit as audit
from mock_services.mesh import MockMesh
from tests.integration.cluster.replicas import history_problems, start_replicas, wait_all_final
from tests.integration.orchestrator_helpers import STYLE_INPUT, collect_events, struct

pytestmark = pytest.mark.integration

LEASE_S = 2.0
RUNS = 10


async def test_a_paused_replica_is_fenced_off_its_runs_and_none_ends_twice(
    mesh: MockMesh, empty_pg_dsn: str, tmp_path: Path
) -> None:
    for service in mesh.servers.values():
        service.faults.latency_ms = 300
    [a] = await start_replicas(mesh, empty_pg_dsn, tmp_path, ["a"], LEASE_S)
    db = await asyncpg.connect(empty_pg_dsn)
    others = []
    try:
        await audit.install_audit(db)
        others = await start_replicas(mesh, empty_pg_dsn, tmp_path, ["b"], LEASE_S)
        [b] = others
        request = orchestrator_pb2.StartWorkflowRunRequest(
            workflow_definition="complete_style_analysis", input=struct(STYLE_INPUT)
        )
        started = await asyncio.gather(*(a.stub.StartWorkflowRun(request) for _ in range(RUNS)))
        names = [response.workflow_run.name for response in started]
        execute = asyncio.ensure_future(
            a.stub.ExecuteWorkflowRun(
                orchestrator_pb2.ExecuteWorkflowRunRequest(
                    workflow_definition="complete_style_analysis", input=struct(STYLE_INPUT)
                ),
                timeout=60,
            )
        )
        await asyncio.sleep(0.5)  # first steps in flight
        a.signal(signal.SIGSTOP)
        await asyncio.sleep(2 * LEASE_S)
        taken = await db.fetchval("SELECT count(*) FROM claim_audit WHERE old_owner = 'a'")
        a.signal(signal.SIGCONT)

        executed = (await execute).workflow_run
        runs = await wait_all_final(b.stub, [*names, executed.name], timeout_s=40)

        assert taken == RUNS + 1  # every unfinished run of a was taken over while it slept
        assert {run_pb2.RunState.Name(run.state) for run in runs.values()} == {
            "RUN_STATE_SUCCEEDED"
        }
        assert executed.state == run_pb2.RUN_STATE_SUCCEEDED
        writers = await audit.writers_by_run(db)
        for name in [*names, executed.name]:
            events = await collect_events(a.stub, name)  # a serves reads all along
            assert history_problems(events) == []  # one end each, no gap, no duplicate
            assert writers[name][-1] == "b"
        assert await audit.fenced_writes(db) == 0
        assert await audit.epoch_regressions(db) == 0
        health = health_pb2_grpc.HealthStub(a.channel)  # type: ignore[arg-type]
        status = await health.Check(health_pb2.HealthCheckRequest())
        assert status.status == health_pb2.HealthCheckResponse.SERVING
    finally:
        await db.close()
        for replica in [a, *others]:
            await replica.close()
