"""SIGTERM to `aura serve`: readiness NOT_SERVING, calls drain, no run lost, exit in time."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Iterable
from pathlib import Path

import grpc
import pytest
from google.protobuf import any_pb2
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status

from aura.orchestrator.v1 import orchestrator_pb2, orchestrator_pb2_grpc, run_pb2
from mock_services.mesh import MockMesh
from orchestrator.cli.processes import EXIT_MARGIN_S
from orchestrator.server import SERVICE_NAME
from tests.helpers import eventually
from tests.integration.cli_process import free_port, kill
from tests.integration.orchestrator_helpers import STYLE_INPUT, collect_events, struct
from tests.integration.server.drain_helpers import start_serve as drained_serve

pytestmark = [pytest.mark.integration, pytest.mark.slow]

GRACE_S = 3.0
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


async def start_serve(mesh: MockMesh, data_dir: Path, port: int) -> asyncio.subprocess.Process:
    """`aura serve` as a child process, the way a container runs it."""
    return await drained_serve(mesh, data_dir, port, AURA_SHUTDOWN_GRACE_S=str(GRACE_S))


async def watch_readiness(address: str, seen: list[int]) -> None:
    async with grpc.aio.insecure_channel(address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        try:
            async for response in health.Watch(health_pb2.HealthCheckRequest(service=SERVICE_NAME)):
                seen.append(response.status)
        except grpc.aio.AioRpcError:
            pass  # the server went away after NOT_SERVING


async def test_sigterm_drains_and_exits_in_grace_period_and_runs_resume(
    mesh: MockMesh, tmp_path: Path
) -> None:
    for server in mesh.servers.values():
        server.faults.latency_ms = 300
    port = free_port()
    address = f"127.0.0.1:{port}"
    first = await start_serve(mesh, tmp_path, port)
    try:
        names = await start_runs_then_sigterm(mesh, first, address)
    finally:
        kill(first)
    second = await start_serve(mesh, tmp_path, port)
    try:
        await check_every_run_finished_after_resume(address, names)
    finally:
        second.send_signal(signal.SIGTERM)
        try:
            assert await asyncio.wait_for(second.wait(), timeout=GRACE_S + 10) == 0
        finally:
            kill(second)


async def start_runs_then_sigterm(
    mesh: MockMesh, process: asyncio.subprocess.Process, address: str
) -> list[str]:
    """Three started runs and one ExecuteWorkflowRun call in flight, then SIGTERM."""
    readiness: list[int] = []
    async with grpc.aio.insecure_channel(address) as channel:
        stub = orchestrator_pb2_grpc.OrchestratorServiceStub(channel)
        watcher = asyncio.create_task(watch_readiness(address, readiness))
        names = []
        for index in range(3):
            started = await stub.StartWorkflowRun(
                orchestrator_pb2.StartWorkflowRunRequest(
                    workflow_definition="complete_style_analysis",
                    input=struct(dict(STYLE_INPUT, user_id=f"user-{index}")),
                )
            )
            names.append(started.workflow_run.name)
        execute_request = orchestrator_pb2.ExecuteWorkflowRunRequest(
            workflow_definition="complete_style_analysis",
            input=struct(dict(STYLE_INPUT, user_id="executing")),
            request_id="sigterm-execute",
        )

        async def execute() -> orchestrator_pb2.ExecuteWorkflowRunResponse:
            return await stub.ExecuteWorkflowRun(execute_request, timeout=30)

        executing = asyncio.create_task(execute())
        # Every run, the Execute one too, has its first two steps (image, nlu) in flight.
        await eventually(lambda: sum(s.in_flight for s in mesh.servers.values()) >= 8)
        await eventually(lambda: readiness == [SERVING])

        signalled = time.monotonic()
        process.send_signal(signal.SIGTERM)
        returncode = await asyncio.wait_for(process.wait(), timeout=GRACE_S + 10)
        took_s = time.monotonic() - signalled

        assert returncode == 0
        assert took_s < GRACE_S + EXIT_MARGIN_S, f"exited {took_s:.1f}s after SIGTERM"
        await asyncio.wait_for(watcher, timeout=5)
        assert readiness == [SERVING, NOT_SERVING], "readiness turned NOT_SERVING first"
        # The in-flight Execute call was answered, not cut: retry later, the run resumes.
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await executing
        assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
        status = rpc_status.from_call(raised.value)
        assert status is not None
        assert error_reasons(status.details) == ["SHUTTING_DOWN"]
    return names


async def check_every_run_finished_after_resume(address: str, names: list[str]) -> None:
    async with grpc.aio.insecure_channel(address) as channel:
        stub = orchestrator_pb2_grpc.OrchestratorServiceStub(channel)
        listed = await stub.ListWorkflowRuns(orchestrator_pb2.ListWorkflowRunsRequest(page_size=10))
        all_names = {run.name for run in listed.workflow_runs}
        assert set(names) < all_names and len(all_names) == 4, "no run lost"
        for name in all_names:
            events = await asyncio.wait_for(collect_events(stub, name), timeout=20)
            assert [e.seq for e in events] == list(range(1, len(events) + 1))
            kinds = [e.WhichOneof("event") for e in events]
            assert "run_resumed" in kinds, "left unfinished by the drain, resumed on restart"
            assert events[-1].run_finished.state == run_pb2.RUN_STATE_SUCCEEDED


def error_reasons(details: Iterable[any_pb2.Any]) -> list[str]:
    reasons = []
    for detail in details:
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            reasons.append(info.reason)
    return reasons
