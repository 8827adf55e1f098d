"""No INTERNAL from input, bounded errors: tokens, filters, names and ids past their
documented limits answer INVALID_ARGUMENT with small trailers, and the server keeps serving."""

from __future__ import annotations

import base64
import json

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from aura.orchestrator.v1 import orchestrator_pb2, run_pb2, workflow_pb2
from tests.integration.orchestrator_helpers import (
    STYLE_INPUT,
    Stub,
    collect_events,
    execute,
    struct,
)

pytestmark = pytest.mark.integration

LONG = "x" * 5000
#: Far below the 8 KiB of metadata a gRPC client accepts by default.
TRAILER_BUDGET_BYTES = 6 * 1024


def trailer_bytes(error: grpc.aio.AioRpcError) -> int:
    trailers = error.trailing_metadata() or ()
    size = sum(len(key) + len(value) for key, value in trailers)
    return size + len((error.details() or "").encode())


async def invalid_argument(call: object) -> tuple[grpc.aio.AioRpcError, list[str], str]:
    """The error, its BadRequest fields and ErrorInfo reason; asserts INVALID_ARGUMENT."""
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call  # type: ignore[misc]
    error = raised.value
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, (error.code(), error.details())
    assert trailer_bytes(error) < TRAILER_BUDGET_BYTES
    status = rpc_status.from_call(error)
    assert status is not None
    fields, reason = [], ""
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            fields = [v.field for v in bad.field_violations]
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            reason = info.reason
    return error, fields, reason


def runs_token(payload: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


async def test_page_tokens_are_checked_fully(stub: Stub) -> None:
    for _ in range(2):
        await execute(stub, "complete_style_analysis", STYLE_INPUT)
    first = await stub.ListWorkflowRuns(orchestrator_pb2.ListWorkflowRunsRequest(page_size=1))
    token = first.next_page_token
    issued = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    bad_runs_tokens = [
        runs_token({**issued, "t": 2**63}),
        runs_token({**issued, "t": -1}),
        runs_token({**issued, "t": True}),
        runs_token({**issued, "n": "workflowRuns/" + LONG}),
        runs_token({**issued, "extra": 1}),
        "A" * 5000,
    ]
    for bad in bad_runs_tokens:
        _, fields, _ = await invalid_argument(
            stub.ListWorkflowRuns(
                orchestrator_pb2.ListWorkflowRunsRequest(page_size=1, page_token=bad)
            )
        )
        assert fields == ["page_token"], bad[:80]
    following = await stub.ListWorkflowRuns(
        orchestrator_pb2.ListWorkflowRunsRequest(page_size=1, page_token=token)
    )
    assert following.workflow_runs[0].name != first.workflow_runs[0].name

    bad_definition_tokens = [
        base64.urlsafe_b64encode(b"after:" + LONG.encode()).decode(),
        base64.urlsafe_b64encode(b"after:workflowDefinitions/Not An Id").decode(),
        "A" * 5000,
    ]
    for bad in bad_definition_tokens:
        _, fields, _ = await invalid_argument(
            stub.ListWorkflowDefinitions(
                orchestrator_pb2.ListWorkflowDefinitionsRequest(page_token=bad)
            )
        )
        assert fields == ["page_token"], bad[:80]

    paged = await stub.ListWorkflowDefinitions(
        orchestrator_pb2.ListWorkflowDefinitionsRequest(page_size=1)
    )
    assert paged.next_page_token
    after = await stub.ListWorkflowDefinitions(
        orchestrator_pb2.ListWorkflowDefinitionsRequest(
            page_size=1, page_token=paged.next_page_token
        )
    )
    assert after.workflow_definitions[0].name > paged.workflow_definitions[0].name


async def test_filters_have_a_length_and_comparison_limit_and_a_time_range(stub: Stub) -> None:
    thousand = " AND ".join(["state = SUCCEEDED"] * 1000)
    thirty_three = " AND ".join(["state=FAILED"] * 33)
    extreme = [
        'create_time > "0001-01-01T00:00:00+23:59"',
        'create_time < "9999-12-31T23:59:59-23:59"',
    ]
    for text in [thousand, thirty_three, *extreme, "labels.k = " + LONG]:
        _, fields, _ = await invalid_argument(
            stub.ListWorkflowRuns(orchestrator_pb2.ListWorkflowRunsRequest(filter=text))
        )
        assert fields == ["filter"], text[:80]

    at_the_limit = " AND ".join(["state=FAILED"] * 32)
    listed = await stub.ListWorkflowRuns(
        orchestrator_pb2.ListWorkflowRunsRequest(filter=at_the_limit)
    )
    assert list(listed.workflow_runs) == []


async def test_names_and_ids_past_their_maximum_length_are_refused_first(stub: Stub) -> None:
    running = await stub.StartWorkflowRun(
        orchestrator_pb2.StartWorkflowRunRequest(
            workflow_definition="complete_style_analysis", input=struct(STYLE_INPUT)
        )
    )
    name = running.workflow_run.name
    start = orchestrator_pb2.StartWorkflowRunRequest
    cases = [
        (stub.GetWorkflowRun(orchestrator_pb2.GetWorkflowRunRequest(name=LONG)), "name"),
        (
            stub.GetWorkflowRun(
                orchestrator_pb2.GetWorkflowRunRequest(name="workflowRuns/" + LONG)
            ),
            "name",
        ),
        (
            stub.CancelWorkflowRun(orchestrator_pb2.CancelWorkflowRunRequest(name=LONG)),
            "name",
        ),
        (
            stub.CancelWorkflowRun(
                orchestrator_pb2.CancelWorkflowRunRequest(name=name, reason=LONG)
            ),
            "reason",
        ),
        (
            stub.GetWorkflowDefinition(orchestrator_pb2.GetWorkflowDefinitionRequest(name=LONG)),
            "name",
        ),
        (stub.StartWorkflowRun(start(workflow_definition=LONG)), "workflow_definition"),
        (
            stub.ExecuteWorkflowRun(
                orchestrator_pb2.ExecuteWorkflowRunRequest(workflow_definition=LONG)
            ),
            "workflow_definition",
        ),
        (
            stub.GetAnalytics(orchestrator_pb2.GetAnalyticsRequest(workflow_definition=LONG)),
            "workflow_definition",
        ),
        (
            stub.StartWorkflowRun(
                start(
                    workflow_definition="complete_style_analysis",
                    input=struct(STYLE_INPUT),
                    request_id=LONG,
                )
            ),
            "request_id",
        ),
    ]
    for call, field in cases:
        _, fields, _ = await invalid_argument(call)
        assert fields == [field]

    _, fields, _ = await invalid_argument(
        stub.StartWorkflowRun(
            start(
                workflow_definition="complete_style_analysis",
                input=struct(STYLE_INPUT),
                labels={LONG: LONG, "ok": LONG},
            )
        )
    )
    short_key = "labels[" + "x" * 63 + "]"
    assert sorted(fields) == ["labels[ok]", short_key, short_key]  # key and value of one label

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await collect_events(stub, LONG)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT

    # Still serving; the run started above was not disturbed.
    run = await stub.GetWorkflowRun(orchestrator_pb2.GetWorkflowRunRequest(name=name))
    assert run.workflow_run.name == name
    assert (await execute(stub, "complete_style_analysis", STYLE_INPUT)).state == (
        run_pb2.RUN_STATE_SUCCEEDED
    )


async def test_a_definition_with_thousands_of_problems_gets_a_bounded_error(stub: Stub) -> None:
    definition = workflow_pb2.WorkflowDefinition(
        name="workflowDefinitions/" + LONG,
        steps=[
            workflow_pb2.WorkflowStep(id=f"s{index}", method="aura.nlu.v1.NluService/Nope")
            for index in range(10_000)
        ],
    )
    definition.steps.add(id=LONG, method=LONG)

    error, fields, reason = await invalid_argument(
        stub.CreateWorkflowDefinition(
            orchestrator_pb2.CreateWorkflowDefinitionRequest(workflow_definition=definition)
        )
    )

    assert reason == "INVALID_WORKFLOW_DEFINITION"
    status = rpc_status.from_call(error)
    assert status is not None
    bad = error_details_pb2.BadRequest()
    next(d for d in status.details if d.Is(bad.DESCRIPTOR)).Unpack(bad)
    assert len(bad.field_violations) == 9
    assert bad.field_violations[-1].description.startswith("and ")
    assert fields[0] == "name"
    assert len(error.details() or "") <= 256
