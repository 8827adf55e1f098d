"""DeleteWorkflowRun, DeleteWorkflowDefinition and retention, through the real API."""

from __future__ import annotations

import asyncio
import dataclasses
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from aura.orchestrator.v1 import orchestrator_pb2, orchestrator_pb2_grpc, run_pb2
from mock_services.mesh import MockMesh
from orchestrator.server import OrchestratorServer
from orchestrator.workflows import seed_definitions
from tests.helpers import eventually
from tests.integration.orchestrator_helpers import (
    STYLE_INPUT,
    Stub,
    collect_events,
    execute,
    settings_for,
    struct,
)

pytestmark = pytest.mark.integration


def reason(error: grpc.aio.AioRpcError) -> str:
    status = rpc_status.from_call(error)
    assert status is not None
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return info.reason
    raise AssertionError("no ErrorInfo")


async def start(stub: Stub, definition: str = "complete_style_analysis") -> str:
    response = await stub.StartWorkflowRun(
        orchestrator_pb2.StartWorkflowRunRequest(
            workflow_definition=definition, input=struct(STYLE_INPUT)
        )
    )
    return response.workflow_run.name


async def delete_run(stub: Stub, name: str) -> None:
    await stub.DeleteWorkflowRun(orchestrator_pb2.DeleteWorkflowRunRequest(name=name))


async def test_a_deleted_run_answers_not_found_to_get_watch_and_delete(stub: Stub) -> None:
    run = await execute(stub, "complete_style_analysis", STYLE_INPUT)

    await delete_run(stub, run.name)

    with pytest.raises(grpc.aio.AioRpcError) as got:
        await stub.GetWorkflowRun(orchestrator_pb2.GetWorkflowRunRequest(name=run.name))
    assert got.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as watched:
        await collect_events(stub, run.name)
    assert watched.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as again:
        await delete_run(stub, run.name)
    assert again.value.code() == grpc.StatusCode.NOT_FOUND
    listed = await stub.ListWorkflowRuns(orchestrator_pb2.ListWorkflowRunsRequest())
    assert run.name not in [listed_run.name for listed_run in listed.workflow_runs]


async def test_aura_delete_deletes_a_finished_run(
    orchestrator: OrchestratorServer, stub: Stub
) -> None:
    run = await execute(stub, "complete_style_analysis", STYLE_INPUT)

    command = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "orchestrator.cli",
        "delete",
        run.name,
        "--address",
        orchestrator.address,
        stdout=asyncio.subprocess.PIPE,
    )
    output, _ = await asyncio.wait_for(command.communicate(), timeout=30)

    assert command.returncode == 0
    assert output.decode().strip() == f"{run.name} deleted"
    with pytest.raises(grpc.aio.AioRpcError) as got:
        await stub.GetWorkflowRun(orchestrator_pb2.GetWorkflowRunRequest(name=run.name))
    assert got.value.code() == grpc.StatusCode.NOT_FOUND


async def test_an_unfinished_run_cannot_be_deleted(stub: Stub, mesh: MockMesh) -> None:
    for backend in mesh.servers.values():
        backend.faults.latency_ms = 300
    name = await start(stub)

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await delete_run(stub, name)

    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert reason(refused.value) == "RUN_NOT_FINISHED"
    events = await collect_events(stub, name)
    assert events[-1].run_finished.state == run_pb2.RUN_STATE_SUCCEEDED


async def test_a_user_definition_is_deleted_once_its_runs_are_finished(
    stub: Stub, mesh: MockMesh
) -> None:
    seed = next(d for d in seed_definitions() if d.name.endswith("/complete_style_analysis"))
    mine = type(seed)()
    mine.CopyFrom(seed)
    mine.name = "workflowDefinitions/my_style_analysis"
    await stub.CreateWorkflowDefinition(
        orchestrator_pb2.CreateWorkflowDefinitionRequest(workflow_definition=mine)
    )
    for backend in mesh.servers.values():
        backend.faults.latency_ms = 300
    run = await start(stub, "my_style_analysis")
    request = orchestrator_pb2.DeleteWorkflowDefinitionRequest(name=mine.name)

    with pytest.raises(grpc.aio.AioRpcError) as in_use:
        await stub.DeleteWorkflowDefinition(request)
    assert in_use.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert reason(in_use.value) == "DEFINITION_IN_USE"
    # Still there, and still runnable.
    await stub.GetWorkflowDefinition(orchestrator_pb2.GetWorkflowDefinitionRequest(name=mine.name))

    await collect_events(stub, run)
    await stub.DeleteWorkflowDefinition(request)

    with pytest.raises(grpc.aio.AioRpcError) as gone:
        await stub.GetWorkflowDefinition(
            orchestrator_pb2.GetWorkflowDefinitionRequest(name=mine.name)
        )
    assert gone.value.code() == grpc.StatusCode.NOT_FOUND
    # Its finished run is kept.
    kept = await stub.GetWorkflowRun(orchestrator_pb2.GetWorkflowRunRequest(name=run))
    assert kept.workflow_run.state == run_pb2.RUN_STATE_SUCCEEDED


async def test_a_seed_definition_cannot_be_deleted(stub: Stub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.DeleteWorkflowDefinition(
            orchestrator_pb2.DeleteWorkflowDefinitionRequest(name="complete_style_analysis")
        )
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert reason(refused.value) == "SEED_DEFINITION"
    with pytest.raises(grpc.aio.AioRpcError) as unknown:
        await stub.DeleteWorkflowDefinition(
            orchestrator_pb2.DeleteWorkflowDefinitionRequest(name="no_such_definition")
        )
    assert unknown.value.code() == grpc.StatusCode.NOT_FOUND


@pytest.fixture
async def short_retention_stub(mesh: MockMesh, tmp_path: Path) -> AsyncIterator[Stub]:
    settings = dataclasses.replace(settings_for(mesh, tmp_path / "data"), run_retention_s=1.0)
    server = OrchestratorServer(settings)
    await server.start()
    try:
        async with grpc.aio.insecure_channel(server.address) as channel:
            yield orchestrator_pb2_grpc.OrchestratorServiceStub(channel)
    finally:
        await server.stop(grace_s=0.5)


async def test_finished_runs_are_deleted_once_the_retention_has_passed(
    short_retention_stub: Stub,
) -> None:
    stub = short_retention_stub
    run = await execute(stub, "complete_style_analysis", STYLE_INPUT)

    async def deleted() -> bool:
        try:
            await stub.GetWorkflowRun(orchestrator_pb2.GetWorkflowRunRequest(name=run.name))
        except grpc.aio.AioRpcError as error:
            return error.code() == grpc.StatusCode.NOT_FOUND
        return False

    await eventually(deleted, timeout_s=20, interval_s=0.2, message="the run outlived retention")
