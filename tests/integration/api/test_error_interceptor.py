"""The server's error boundary is one interceptor: no handler can answer UNKNOWN, and a
step's input error is stored in the run history with the details a client would get."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import json_format
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from aura.orchestrator.v1 import orchestrator_pb2, orchestrator_pb2_grpc, run_pb2, workflow_pb2
from mock_services.mesh import MockMesh
from orchestrator.api import OrchestratorServicer
from orchestrator.server import OrchestratorServer
from tests.integration.orchestrator_helpers import Stub, execute, settings_for, step

pytestmark = pytest.mark.integration


def detail(status: status_pb2.Status, kind: type[Any]) -> Any:
    for packed in status.details:
        if packed.Is(kind.DESCRIPTOR):
            message = kind()
            packed.Unpack(message)
            return message
    raise AssertionError(f"no {kind.__name__} among the details")


async def _fails_unexpectedly(self: object, request: object, context: object) -> object:
    raise RuntimeError("a bug with a secret in its text")


async def _streams_then_fails(self: object, request: object, context: object) -> AsyncIterator[Any]:
    if False:  # an async generator that fails before its first item
        yield None
    raise KeyError("a bug in a stream")


@pytest.fixture
async def buggy_stub(
    mesh: MockMesh, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Stub]:
    """An orchestrator whose GetWorkflowRun and WatchWorkflowRun raise a plain exception."""
    monkeypatch.setattr(OrchestratorServicer, "GetWorkflowRun", _fails_unexpectedly)
    monkeypatch.setattr(OrchestratorServicer, "WatchWorkflowRun", _streams_then_fails)
    server = OrchestratorServer(settings_for(mesh, tmp_path / "data"))
    await server.start()
    try:
        async with grpc.aio.insecure_channel(server.address) as channel:
            yield orchestrator_pb2_grpc.OrchestratorServiceStub(channel)
    finally:
        await server.stop(grace_s=0.5)


def _internal_status(error: grpc.aio.AioRpcError) -> status_pb2.Status:
    assert error.code() is grpc.StatusCode.INTERNAL, error.code()
    status = rpc_status.from_call(error)
    assert status is not None, "the error carries google.rpc details"
    info = detail(status, error_details_pb2.ErrorInfo)
    assert (info.reason, info.domain) == ("INTERNAL", "orchestrator.aura")
    assert "secret" not in status.message and "bug" not in status.message
    return status


async def test_a_unary_handler_raising_a_plain_exception_gives_internal_with_error_info(
    buggy_stub: Stub, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR), pytest.raises(grpc.aio.AioRpcError) as raised:
        await buggy_stub.GetWorkflowRun(
            orchestrator_pb2.GetWorkflowRunRequest(name="workflowRuns/x")
        )

    _internal_status(raised.value)
    tracebacks = [r for r in caplog.records if r.exc_info and r.exc_info[0] is RuntimeError]
    assert len(tracebacks) == 1, "the cause is logged once, with its traceback"


async def test_a_streaming_handler_raising_a_plain_exception_gives_internal_with_error_info(
    buggy_stub: Stub,
) -> None:
    call = buggy_stub.WatchWorkflowRun(
        orchestrator_pb2.WatchWorkflowRunRequest(name="workflowRuns/x")
    )
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        async for _ in call:
            pass

    _internal_status(raised.value)


def _one_step_definition(name: str) -> workflow_pb2.WorkflowDefinition:
    return json_format.ParseDict(
        {
            "name": f"workflowDefinitions/{name}",
            "description": "recommends items for a limit taken from the run input",
            "steps": [
                {
                    "id": "recommend",
                    "method": "aura.recommendation.v1.RecommendationEngineService/RecommendItems",
                    "inputs": {"max_results": {"ref": "input.limit"}},
                }
            ],
        },
        workflow_pb2.WorkflowDefinition(),
    )


async def test_a_steps_input_error_in_the_history_keeps_its_error_info_and_bad_request(
    stub: Stub,
) -> None:
    await stub.CreateWorkflowDefinition(
        orchestrator_pb2.CreateWorkflowDefinitionRequest(
            workflow_definition=_one_step_definition("limited_recommendation")
        )
    )

    run = await execute(stub, "limited_recommendation", {"limit": "many"})

    assert run.state == run_pb2.RUN_STATE_FAILED
    error = step(run, "recommend").error
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    info = detail(error, error_details_pb2.ErrorInfo)
    assert (info.reason, info.domain) == ("INVALID_STEP_INPUT", "orchestrator.aura")
    bad_request = detail(error, error_details_pb2.BadRequest)
    assert [v.field for v in bad_request.field_violations] == ["input.limit"]
    assert "max_results" in bad_request.field_violations[0].description
