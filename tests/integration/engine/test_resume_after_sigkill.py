"""A SIGKILLed orchestrator that restarts ends a failing, retrying run as an uncrashed one.

The workload: complete_style_analysis whose required `profile` step always fails
with ABORTED (retried, 3 attempts, a backoff between them). The orchestrator is
killed for real once the first attempt's failure is committed; after the restart
the run must end as the same run did without a crash, its attempt numbers must go
on, and the retry limit must count the attempt that failed before the kill.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
import pytest

from aura.orchestrator.v1 import orchestrator_pb2, orchestrator_pb2_grpc, run_pb2
from mock_services.mesh import MockMesh
from tests.integration.cli_process import OrchestratorProcess, free_port
from tests.integration.engine.resume_helpers import outcome
from tests.integration.orchestrator_helpers import STYLE_INPUT, collect_events, struct

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MAX_ATTEMPTS = 3  # the profile step's retry policy in complete_style_analysis


def _profile_events(events: list[run_pb2.RunEvent], kind: str) -> list[int]:
    return [
        getattr(e, kind).attempt
        for e in events
        if e.HasField(kind) and getattr(e, kind).step_id == "profile"
    ]


async def test_a_run_killed_between_retries_ends_as_the_uncrashed_run(
    mesh: MockMesh, tmp_path: Path
) -> None:
    mesh["image"].faults.latency_ms = 150
    mesh["nlu"].faults.latency_ms = 150
    mesh["style"].faults.error_rate = 1.0
    mesh["style"].faults.error_code = grpc.StatusCode.ABORTED
    request = orchestrator_pb2.StartWorkflowRunRequest(
        workflow_definition="complete_style_analysis", input=struct(STYLE_INPUT)
    )
    port = free_port()
    first = OrchestratorProcess(mesh, tmp_path, port)
    await first.start()
    async with grpc.aio.insecure_channel(first.address) as channel:
        stub = orchestrator_pb2_grpc.OrchestratorServiceStub(channel)
        uncrashed = await stub.StartWorkflowRun(request)
        uncrashed_events = await asyncio.wait_for(
            collect_events(stub, uncrashed.workflow_run.name), timeout=20
        )
        killed = (await stub.StartWorkflowRun(request)).workflow_run.name
        async for response in stub.WatchWorkflowRun(
            orchestrator_pb2.WatchWorkflowRunRequest(name=killed)
        ):
            if _profile_events([response.event], "step_attempt_failed") == [1]:
                break
    await first.kill()

    second = OrchestratorProcess(mesh, tmp_path, port)
    await second.start()
    try:
        async with grpc.aio.insecure_channel(second.address) as channel:
            stub = orchestrator_pb2_grpc.OrchestratorServiceStub(channel)
            events = await asyncio.wait_for(collect_events(stub, killed), timeout=20)
            run = (
                await stub.GetWorkflowRun(orchestrator_pb2.GetWorkflowRunRequest(name=killed))
            ).workflow_run
            expected = (
                await stub.GetWorkflowRun(
                    orchestrator_pb2.GetWorkflowRunRequest(name=uncrashed.workflow_run.name)
                )
            ).workflow_run
    finally:
        await second.terminate()

    assert any(e.HasField("run_resumed") for e in events), "the kill came before the end"
    assert expected.state == run_pb2.RUN_STATE_FAILED
    assert outcome(run) == outcome(expected)
    started = _profile_events(events, "step_started")
    assert started == list(range(1, len(started) + 1)), "attempt numbers never repeat"
    failures = _profile_events(events, "step_attempt_failed") + _profile_events(
        events, "step_failed"
    )
    assert len(failures) == MAX_ATTEMPTS, "the attempt that failed before the kill counts"
    assert _profile_events(uncrashed_events, "step_started") == [1, 2, 3]
