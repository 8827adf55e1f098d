"""No poison runs: everything a run needs is checked before its creation commits.

A refused run answers INVALID_ARGUMENT with ErrorInfo and BadRequest, leaves nothing in
the store (its request_id stays free), and the orchestrator keeps serving and restarts.
"""

from __future__ import annotations

import math
from pathlib import Path

import grpc
import pytest
from google.protobuf import duration_pb2, struct_pb2
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from aura.orchestrator.v1 import orchestrator_pb2, orchestrator_pb2_grpc, run_pb2, workflow_pb2
from mock_services.mesh import MockMesh
from orchestrator.server import OrchestratorServer
from tests.integration.orchestrator_helpers import STYLE_INPUT, Stub, execute, settings_for, struct

pytestmark = pytest.mark.integration

DEFINITION = "complete_style_analysis"


def rejection(error: grpc.aio.AioRpcError) -> tuple[str, list[str]]:
    """(ErrorInfo reason, BadRequest fields) of an INVALID_ARGUMENT answer."""
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, (error.code(), error.details())
    status = rpc_status.from_call(error)
    assert status is not None
    reason, fields = "", []
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            reason = info.reason
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            fields = [v.field for v in bad.field_violations]
    return reason, fields


async def refused(call: object) -> tuple[str, list[str]]:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call  # type: ignore[misc]
    return rejection(raised.value)


def start_request(
    run_input: struct_pb2.Struct, request_id: str
) -> orchestrator_pb2.StartWorkflowRunRequest:
    return orchestrator_pb2.StartWorkflowRunRequest(
        workflow_definition=DEFINITION, input=run_input, request_id=request_id
    )


def style_input_with(key: str, value: struct_pb2.Value) -> struct_pb2.Struct:
    run_input = struct(STYLE_INPUT)
    run_input.fields[key].CopyFrom(value)
    return run_input


def nested(levels: int) -> struct_pb2.Value:
    value = struct_pb2.Value(string_value="deep")
    for _ in range(levels):
        outer = struct_pb2.Value()
        outer.struct_value.fields["k"].CopyFrom(value)
        value = outer
    return value


async def assert_nothing_committed(stub: Stub) -> None:
    listed = await stub.ListWorkflowRuns(orchestrator_pb2.ListWorkflowRunsRequest())
    assert list(listed.workflow_runs) == []


async def test_non_finite_numbers_in_the_input_are_refused_before_anything_commits(
    stub: Stub,
) -> None:
    cases = {
        "nan": struct_pb2.Value(number_value=math.nan),
        "inf": struct_pb2.Value(number_value=math.inf),
        "neg_inf": struct_pb2.Value(number_value=-math.inf),
    }
    for key, value in cases.items():
        for rpc in (stub.StartWorkflowRun, stub.ExecuteWorkflowRun):
            reason, fields = await refused(rpc(start_request(style_input_with(key, value), key)))
            assert (reason, fields) == ("INVALID_RUN_REQUEST", [f"input.{key}"])
        stream = stub.StreamWorkflowRun(
            orchestrator_pb2.StreamWorkflowRunRequest(
                workflow_definition=DEFINITION, input=style_input_with(key, value)
            )
        )
        assert await refused(stream.read()) == ("INVALID_RUN_REQUEST", [f"input.{key}"])
    nested_nan = struct_pb2.Value()
    nested_nan.list_value.values.add(string_value="ok")
    nested_nan.list_value.values.add().struct_value.fields["score"].number_value = math.nan
    reason, fields = await refused(
        stub.StartWorkflowRun(start_request(style_input_with("extra", nested_nan), "nested"))
    )
    assert fields == ["input.extra[1].score"]

    await assert_nothing_committed(stub)
    # The request ids were not taken, and the server still runs good requests.
    started = await stub.StartWorkflowRun(start_request(struct(STYLE_INPUT), "nan"))
    assert started.workflow_run.state == run_pb2.RUN_STATE_PENDING
    finished = await execute(stub, DEFINITION, STYLE_INPUT)
    assert finished.state == run_pb2.RUN_STATE_SUCCEEDED


async def test_a_value_with_no_kind_is_invalid_and_does_not_satisfy_a_required_input(
    stub: Stub,
) -> None:
    run_input = struct(STYLE_INPUT)
    run_input.fields["text"].Clear()  # present in the map, no kind set
    run_input.fields["extra"].list_value.values.add()

    reason, fields = await refused(stub.StartWorkflowRun(start_request(run_input, "kindless")))

    assert reason == "INVALID_RUN_REQUEST"
    assert sorted(fields) == ["input.extra[0]", "input.text"]
    await assert_nothing_committed(stub)


async def test_run_input_size_and_depth_are_bounded(stub: Stub) -> None:
    too_deep = style_input_with("deep", nested(20))
    assert await refused(stub.StartWorkflowRun(start_request(too_deep, "deep"))) == (
        "INVALID_RUN_REQUEST",
        ["input.deep.k.k.k.k.k.k.k.k.k.k.k.k.k.k.k"],
    )
    too_big = style_input_with("blob", struct_pb2.Value(string_value="x" * (1 << 20)))
    assert await refused(stub.StartWorkflowRun(start_request(too_big, "big"))) == (
        "INVALID_RUN_REQUEST",
        ["input"],
    )
    await assert_nothing_committed(stub)

    fits = style_input_with("deep", nested(14))
    fits.fields["blob"].string_value = "x" * 500_000
    started = await stub.StartWorkflowRun(start_request(fits, "fits"))
    assert started.workflow_run.name


async def test_a_refused_run_leaves_a_data_directory_that_restarts(
    mesh: MockMesh, tmp_path: Path
) -> None:
    settings = settings_for(mesh, tmp_path / "data")
    first = await OrchestratorServer(settings).start()
    try:
        async with grpc.aio.insecure_channel(first.address) as channel:
            stub = orchestrator_pb2_grpc.OrchestratorServiceStub(channel)
            poison = style_input_with("score", struct_pb2.Value(number_value=math.inf))
            await refused(stub.StartWorkflowRun(start_request(poison, "")))
    finally:
        await first.stop(grace_s=0.5)

    second = await OrchestratorServer(settings).start()
    try:
        async with grpc.aio.insecure_channel(second.address) as channel:
            stub = orchestrator_pb2_grpc.OrchestratorServiceStub(channel)
            await assert_nothing_committed(stub)
            assert (await execute(stub, DEFINITION, STYLE_INPUT)).state == (
                run_pb2.RUN_STATE_SUCCEEDED
            )
    finally:
        await second.stop(grace_s=0.5)


def _definition(**step_fields: object) -> workflow_pb2.WorkflowDefinition:
    return workflow_pb2.WorkflowDefinition(
        name="workflowDefinitions/constants",
        steps=[
            workflow_pb2.WorkflowStep(
                id="nlu",
                method="aura.nlu.v1.NluService/AnalyzeText",
                inputs={"text": workflow_pb2.FieldSource(ref="input.text")},
                **step_fields,  # type: ignore[arg-type]
            )
        ],
    )


async def test_definitions_with_non_finite_constants_or_invalid_durations_are_refused(
    stub: Stub,
) -> None:
    nan_literal = workflow_pb2.FieldSource(value=struct_pb2.Value(number_value=math.nan))
    with_nan_input = _definition()
    with_nan_input.steps[0].inputs["user_id"].CopyFrom(nan_literal)
    with_kindless_input = _definition()
    with_kindless_input.steps[0].inputs["user_id"].value.Clear()
    with_kindless_input.steps[0].inputs["user_id"].value.SetInParent()
    cases = [
        (with_nan_input, "steps[0].inputs.user_id"),
        (with_kindless_input, "steps[0].inputs.user_id"),
        (
            _definition(
                when=workflow_pb2.Condition(
                    ref="input.budget",
                    op=workflow_pb2.Condition.OPERATOR_GREATER_THAN,
                    value=struct_pb2.Value(number_value=math.inf),
                )
            ),
            "steps[0].when.value",
        ),
        (_definition(timeout=duration_pb2.Duration(seconds=1, nanos=-1)), "steps[0].timeout"),
        (
            _definition(timeout=duration_pb2.Duration(seconds=0, nanos=1_500_000_000)),
            "steps[0].timeout",
        ),
        (
            _definition(
                retry=workflow_pb2.RetryPolicy(
                    initial_backoff=duration_pb2.Duration(seconds=10**12),
                    max_backoff=duration_pb2.Duration(seconds=10**12),
                )
            ),
            "steps[0].retry.initial_backoff",
        ),
    ]
    for definition, field in cases:
        reason, fields = await refused(
            stub.CreateWorkflowDefinition(
                orchestrator_pb2.CreateWorkflowDefinitionRequest(workflow_definition=definition)
            )
        )
        assert reason == "INVALID_WORKFLOW_DEFINITION"
        assert field in fields, (field, fields)

    listed = await stub.ListWorkflowDefinitions(orchestrator_pb2.ListWorkflowDefinitionsRequest())
    assert "workflowDefinitions/constants" not in [d.name for d in listed.workflow_definitions]


async def test_a_request_nested_past_protobufs_limit_is_invalid_argument_not_unknown(
    stub: Stub,
) -> None:
    # protobuf parses at most 100 messages deep: a Struct about 32 objects deep
    start = orchestrator_pb2.StartWorkflowRunRequest(workflow_definition=DEFINITION)
    start.input.fields["deep"].CopyFrom(nested(40))
    streamed = orchestrator_pb2.StreamWorkflowRunRequest(workflow_definition=DEFINITION)
    streamed.input.fields["deep"].CopyFrom(nested(40))
    unary = stub.StartWorkflowRun(start)
    stream = stub.StreamWorkflowRun(streamed)
    for call in (unary, stream.read()):
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await call
        assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT, raised.value.details()
        status = rpc_status.from_call(raised.value)
        assert status is not None
        info = error_details_pb2.ErrorInfo()
        status.details[0].Unpack(info)
        assert info.reason == "UNDECODABLE_REQUEST"

    await assert_nothing_committed(stub)
    assert (await execute(stub, DEFINITION, STYLE_INPUT)).state == run_pb2.RUN_STATE_SUCCEEDED
