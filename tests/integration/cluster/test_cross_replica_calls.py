"""Any replica serves any run: Cancel on replica b reaches a run executing on replica a;
Watch on b of a run on a is gap-free, exactly once, to the end."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
import pytest

from aura.orchestrator.v1 import orchestrator_pb2, run_pb2
from mock_services.mesh import MockMesh
from tests.integration.cluster.replicas import history_problems, start_replicas
from tests.integration.mock_helpers import error_info
from tests.integration.orchestrator_helpers import STYLE_INPUT, collect_events, struct

pytestmark = pytest.mark.integration

LEASE_S = 2.0
START = orchestrator_pb2.StartWorkflowRunRequest(
    workflow_definition="complete_style_analysis", input=struct(STYLE_INPUT)
)


async def test_cancel_on_one_replica_reaches_the_run_executing_on_another(
    mesh: MockMesh, empty_pg_dsn: str, tmp_path: Path
) -> None:
    for service in mesh.servers.values():
        service.faults.latency_ms = 2000  # the run waits on its first steps
    replicas = await start_replicas(mesh, empty_pg_dsn, tmp_path, ["a"], LEASE_S)
    try:
        replicas += await start_replicas(mesh, empty_pg_dsn, tmp_path, ["b"], LEASE_S)
        a, b = replicas
        name = (await a.stub.StartWorkflowRun(START)).workflow_run.name
        await asyncio.sleep(0.3)

        cancel = orchestrator_pb2.CancelWorkflowRunRequest(name=name, reason="asked on b")
        answers = await asyncio.gather(  # twice at once: the second changes nothing
            b.stub.CancelWorkflowRun(cancel, timeout=10),
            b.stub.CancelWorkflowRun(cancel, timeout=10),
        )

        for answer in answers:
            assert answer.workflow_run.state == run_pb2.RUN_STATE_CANCELLED
            assert "asked on b" in answer.workflow_run.error.message
        events = await collect_events(a.stub, name)
        assert history_problems(events) == []
        assert not any(e.HasField("run_resumed") for e in events)  # a cancelled it itself
        with pytest.raises(grpc.aio.AioRpcError) as again:
            await b.stub.CancelWorkflowRun(orchestrator_pb2.CancelWorkflowRunRequest(name=name))
        assert again.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert error_info(again.value).reason == "RUN_ALREADY_FINISHED"
    finally:
        for replica in replicas:
            await replica.close()


async def test_watch_on_one_replica_of_a_run_on_another_is_gap_free_to_the_end(
    mesh: MockMesh, empty_pg_dsn: str, tmp_path: Path
) -> None:
    for service in mesh.servers.values():
        service.faults.latency_ms = 150
    replicas = await start_replicas(mesh, empty_pg_dsn, tmp_path, ["a"], LEASE_S)
    try:
        replicas += await start_replicas(mesh, empty_pg_dsn, tmp_path, ["b"], LEASE_S)
        a, b = replicas
        names = [(await a.stub.StartWorkflowRun(START)).workflow_run.name for _ in range(5)]
        live = await asyncio.wait_for(
            asyncio.gather(*(collect_events(b.stub, name) for name in names)), timeout=20
        )
        for name, watched in zip(names, live, strict=True):
            assert history_problems(watched) == []
            stored = await collect_events(a.stub, name)
            assert watched == stored  # the same events (messages compare maps as maps)
            assert watched[-1].run_finished.state == run_pb2.RUN_STATE_SUCCEEDED
        # From the middle, too.
        tail = await collect_events(b.stub, names[0], after_seq=3)
        assert [e.seq for e in tail] == [e.seq for e in live[0][3:]]
    finally:
        for replica in replicas:
            await replica.close()
