"""Three replica processes on one PostgreSQL store; one is killed (-9) holding in-flight
runs: the others take every one of them over and finish it, gap-free, exactly once."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest

from aura.orchestrator.v1 import orchestrator_pb2, run_pb2
from benchmarks import cluster_audit as audit
from mock_services.mesh import MockMesh
from tests.integration.cluster.replicas import (
    history_problems,
    start_replicas,
    wait_all_final,
)
from tests.integration.orchestrator_helpers import STYLE_INPUT, collect_events, struct

pytestmark = pytest.mark.integration

LEASE_S = 2.0
RUNS_ON_VICTIM = 12


async def test_runs_of_a_killed_replica_are_taken_over_and_finish_once(
    mesh: MockMesh, empty_pg_dsn: str, tmp_path: Path
) -> None:
    for service in mesh.servers.values():
        service.faults.latency_ms = 300  # each run is in flight for over a second
    [a] = await start_replicas(mesh, empty_pg_dsn, tmp_path, ["a"], LEASE_S)
    db = await asyncpg.connect(empty_pg_dsn)
    others = []
    try:
        await audit.install_audit(db)  # replica a made the tables
        others = await start_replicas(mesh, empty_pg_dsn, tmp_path, ["b", "c"], LEASE_S)
        b, c = others
        request = orchestrator_pb2.StartWorkflowRunRequest(
            workflow_definition="complete_style_analysis", input=struct(STYLE_INPUT)
        )
        started = await asyncio.gather(
            *(a.stub.StartWorkflowRun(request) for _ in range(RUNS_ON_VICTIM)),
            *(b.stub.StartWorkflowRun(request) for _ in range(3)),
        )
        names = [response.workflow_run.name for response in started]
        on_a = names[:RUNS_ON_VICTIM]
        await asyncio.sleep(0.5)  # their first steps are in flight
        await a.kill()

        runs = await wait_all_final(c.stub, names, timeout_s=40)

        assert {run_pb2.RunState.Name(run.state) for run in runs.values()} == {
            "RUN_STATE_SUCCEEDED"
        }
        writers = await audit.writers_by_run(db)
        for name in on_a:
            events = await collect_events(b.stub, name)
            assert history_problems(events) == []
            assert sum(1 for e in events if e.HasField("run_resumed")) == 1
            # a wrote the start, one survivor the rest (from its run_resumed on).
            assert writers[name][0] == "a"
            assert writers[name][-1] in {"b", "c"}
        assert await audit.fenced_writes(db) == 0
        assert await audit.epoch_regressions(db) == 0
    finally:
        await db.close()
        for replica in [a, *others]:
            await replica.close()


async def test_a_replica_stopped_gracefully_hands_its_runs_over_at_once(
    mesh: MockMesh, empty_pg_dsn: str, tmp_path: Path
) -> None:
    long_lease_s = 30.0  # the hand-off must not wait for it
    for service in mesh.servers.values():
        service.faults.latency_ms = 300
    replicas = await start_replicas(mesh, empty_pg_dsn, tmp_path, ["a"], long_lease_s)
    try:
        replicas += await start_replicas(mesh, empty_pg_dsn, tmp_path, ["b"], long_lease_s)
        a, b = replicas
        request = orchestrator_pb2.StartWorkflowRunRequest(
            workflow_definition="complete_style_analysis", input=struct(STYLE_INPUT)
        )
        started = await asyncio.gather(*(a.stub.StartWorkflowRun(request) for _ in range(5)))
        names = [response.workflow_run.name for response in started]
        await asyncio.sleep(0.5)
        await a.close()  # SIGTERM: a drain, its runs stop unfinished

        runs = await wait_all_final(b.stub, names, timeout_s=10)

        assert {run_pb2.RunState.Name(run.state) for run in runs.values()} == {
            "RUN_STATE_SUCCEEDED"
        }
        for name in names:
            events = await collect_events(b.stub, name)
            assert history_problems(events) == []
            assert sum(1 for e in events if e.HasField("run_resumed")) == 1
    finally:
        for replica in replicas:
            await replica.close()
