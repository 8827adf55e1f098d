"""WorkflowRunView: List is BASIC by default (projection rows, no input or outputs), Get is
FULL by default, and a FULL List page stays within the 4 MiB message limit."""

from __future__ import annotations

import grpc
import pytest

from aura.orchestrator.v1 import orchestrator_pb2, run_pb2
from tests.integration.orchestrator_helpers import STYLE_INPUT, Stub, execute, step

pytestmark = pytest.mark.integration

BASIC = orchestrator_pb2.WORKFLOW_RUN_VIEW_BASIC
FULL = orchestrator_pb2.WORKFLOW_RUN_VIEW_FULL
DEFAULT_MAX_MESSAGE_BYTES = 4 * 1024 * 1024


async def list_runs(stub: Stub, **fields: object) -> orchestrator_pb2.ListWorkflowRunsResponse:
    return await stub.ListWorkflowRuns(orchestrator_pb2.ListWorkflowRunsRequest(**fields))  # type: ignore[arg-type]


async def get_run(stub: Stub, name: str, view: int = 0) -> run_pb2.WorkflowRun:
    got = await stub.GetWorkflowRun(orchestrator_pb2.GetWorkflowRunRequest(name=name, view=view))
    return got.workflow_run


async def test_list_is_basic_by_default_and_full_on_request(stub: Stub) -> None:
    finished = await execute(
        stub, "complete_style_analysis", STYLE_INPUT, labels={"team": "ml"}, request_id="v-1"
    )

    (basic,) = (await list_runs(stub)).workflow_runs
    assert basic.name == finished.name
    assert basic.workflow_definition == finished.workflow_definition
    assert basic.state == run_pb2.RUN_STATE_SUCCEEDED
    assert dict(basic.labels) == {"team": "ml"} and basic.request_id == "v-1"
    assert basic.last_event_seq == finished.last_event_seq
    assert basic.create_time.ToMicroseconds() == finished.create_time.ToMicroseconds()
    assert basic.end_time.ToMicroseconds() == finished.end_time.ToMicroseconds()
    assert not basic.HasField("input") and not basic.steps, "served from the projection row"
    assert (await list_runs(stub, view=BASIC)).workflow_runs[0] == basic

    (full,) = (await list_runs(stub, view=FULL)).workflow_runs
    assert full == await get_run(stub, finished.name)
    assert dict(full.input) == STYLE_INPUT
    assert step(full, "nlu").HasField("output")


async def test_get_is_full_by_default_and_basic_drops_input_and_outputs(stub: Stub) -> None:
    finished = await execute(stub, "complete_style_analysis", STYLE_INPUT)

    full = await get_run(stub, finished.name)
    assert full == await get_run(stub, finished.name, FULL)
    assert dict(full.input) == STYLE_INPUT and all(s.HasField("output") for s in full.steps)

    basic = await get_run(stub, finished.name, BASIC)
    assert not basic.HasField("input")
    assert [s.step_id for s in basic.steps] == [s.step_id for s in full.steps]
    assert not any(s.HasField("output") for s in basic.steps)
    assert all(s.state == run_pb2.STEP_STATE_SUCCEEDED and s.attempts for s in basic.steps)


async def test_an_unknown_view_is_invalid_argument(stub: Stub) -> None:
    for call in (
        stub.ListWorkflowRuns(orchestrator_pb2.ListWorkflowRunsRequest(view=7)),  # type: ignore[arg-type]
        stub.GetWorkflowRun(orchestrator_pb2.GetWorkflowRunRequest(name="x", view=7)),  # type: ignore[arg-type]
    ):
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await call
        assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_runs_with_large_inputs_list_within_the_message_limit(stub: Stub) -> None:
    big_input = {**STYLE_INPUT, "notes": "n" * 900_000}
    names = [(await execute(stub, "complete_style_analysis", big_input)).name for _ in range(5)]
    newest_first = names[::-1]

    basic = await list_runs(stub)
    assert [r.name for r in basic.workflow_runs] == newest_first
    assert basic.ByteSize() < 10_000

    pages: list[orchestrator_pb2.ListWorkflowRunsResponse] = []
    token = ""
    while not pages or token:
        page = await list_runs(stub, view=FULL, page_token=token)
        pages.append(page)
        token = page.next_page_token
    assert all(page.ByteSize() < DEFAULT_MAX_MESSAGE_BYTES for page in pages)
    assert len(pages) > 1, "the page stopped before passing the limit"
    assert [r.name for page in pages for r in page.workflow_runs] == newest_first
    assert all(len(r.input["notes"]) == 900_000 for page in pages for r in page.workflow_runs)
