"""A SIGKILLed orchestrator resumes its unfinished runs after a restart, losing no event."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from aura.orchestrator.v1 import orchestrator_pb2, orchestrator_pb2_grpc, run_pb2
from mock_services.mesh import MockMesh
from tests.integration.cli_process import OrchestratorProcess, free_port
from tests.integration.orchestrator_helpers import STYLE_INPUT, collect_events, struct

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
async def slow_mesh(mesh: MockMesh) -> AsyncIterator[MockMesh]:
    for server in mesh.servers.values():
        server.faults.latency_ms = 120
    yield mesh


@pytest.mark.parametrize("kill_after_events", [2, 5, 9, 13])
async def test_runs_killed_mid_flight_finish_after_restart_with_gap_free_history(
    slow_mesh: MockMesh, tmp_path: Path, kill_after_events: int
) -> None:
    port = free_port()
    first = OrchestratorProcess(slow_mesh, tmp_path, port)
    await first.start()
    async with grpc.aio.insecure_channel(first.address) as channel:
        stub = orchestrator_pb2_grpc.OrchestratorServiceStub(channel)
        names = []
        for index in range(3):
            started = await stub.StartWorkflowRun(
                orchestrator_pb2.StartWorkflowRunRequest(
                    workflow_definition="complete_style_analysis",
                    input=struct(dict(STYLE_INPUT, user_id=f"user-{index}")),
                )
            )
            names.append(started.workflow_run.name)
        seen = 0
        async for _ in stub.WatchWorkflowRun(
            orchestrator_pb2.WatchWorkflowRunRequest(name=names[0])
        ):
            seen += 1
            if seen >= kill_after_events:
                break
    await first.kill()

    second = OrchestratorProcess(slow_mesh, tmp_path, port)
    await second.start()
    try:
        async with grpc.aio.insecure_channel(second.address) as channel:
            stub = orchestrator_pb2_grpc.OrchestratorServiceStub(channel)
            for name in names:
                events = await asyncio.wait_for(collect_events(stub, name), timeout=20)
                assert [e.seq for e in events] == list(range(1, len(events) + 1)), (
                    "no gap, no duplicate"
                )
                kinds = [e.WhichOneof("event") for e in events]
                assert kinds.count("run_finished") == 1 and kinds[-1] == "run_finished"
                assert events[-1].run_finished.state == run_pb2.RUN_STATE_SUCCEEDED
                run = (
                    await stub.GetWorkflowRun(orchestrator_pb2.GetWorkflowRunRequest(name=name))
                ).workflow_run
                assert all(s.state == run_pb2.STEP_STATE_SUCCEEDED for s in run.steps)
                succeeded = [
                    e.step_succeeded.step_id for e in events if e.HasField("step_succeeded")
                ]
                assert sorted(succeeded) == sorted(s.step_id for s in run.steps), (
                    "each step succeeded once"
                )
    finally:
        await second.terminate()
    # Steps re-run after the crash carried the same idempotency key (run id + step id).
    style = slow_mesh.servers["style"]
    assert style.last_idempotency_key and style.last_idempotency_key.startswith(
        tuple(n.removeprefix("workflowRuns/") for n in names)
    )
