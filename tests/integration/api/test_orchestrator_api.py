"""The OrchestratorService contract: watching, idempotency, paging and every bad-input status."""

from __future__ import annotations

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from aura.orchestrator.v1 import orchestrator_pb2, run_pb2
from mock_services.mesh import MockMesh
from tests.integration.orchestrator_helpers import (
    STYLE_INPUT,
    Stub,
    collect_events,
    execute,
    struct,
)

pytestmark = pytest.mark.integration


def details(error: grpc.aio.AioRpcError) -> dict[str, object]:
    """Unpacks the google.rpc details of an error by type name."""
    status = rpc_status.from_call(error)
    assert status is not None, "error carries google.rpc.Status details"
    found: dict[str, object] = {}
    for detail in status.details:
        for kind in (
            error_details_pb2.ErrorInfo,
            error_details_pb2.BadRequest,
            error_details_pb2.ResourceInfo,
        ):
            if detail.Is(kind.DESCRIPTOR):
                message = kind()
                detail.Unpack(message)
                found[kind.DESCRIPTOR.name] = message
    return found


def assert_sequence(events: list[run_pb2.RunEvent], first: int, last: int) -> None:
    assert [e.seq for e in events] == list(range(first, last + 1))


async def test_watch_streams_every_event_in_order_and_ends_after_the_final_one(stub: Stub) -> None:
    started = await stub.StartWorkflowRun(
        orchestrator_pb2.StartWorkflowRunRequest(
            workflow_definition="complete_style_analysis", input=struct(STYLE_INPUT)
        )
    )
    events = await collect_events(stub, started.workflow_run.name)

    assert_sequence(events, 1, len(events))
    assert events[0].WhichOneof("event") == "run_created"
    assert events[-1].WhichOneof("event") == "run_finished"
    assert events[-1].run_finished.state == run_pb2.RUN_STATE_SUCCEEDED


async def test_a_watcher_reconnecting_at_any_point_gets_exactly_what_it_missed(stub: Stub) -> None:
    run = await execute(stub, "complete_style_analysis", STYLE_INPUT)
    everything = await collect_events(stub, run.name)
    last = everything[-1].seq
    assert last == run.last_event_seq

    for after_seq in range(0, last + 1):
        rest = await collect_events(stub, run.name, after_seq)
        assert_sequence(rest, after_seq + 1, last)
        assert [e.SerializeToString() for e in rest] == [
            e.SerializeToString() for e in everything[after_seq:]
        ]


async def test_a_watcher_that_disconnects_mid_run_resumes_without_gap_or_duplicate(
    stub: Stub, mesh: MockMesh
) -> None:
    for server in mesh.servers.values():
        server.faults.latency_ms = 40
    started = await stub.StartWorkflowRun(
        orchestrator_pb2.StartWorkflowRunRequest(
            workflow_definition="complete_style_analysis", input=struct(STYLE_INPUT)
        )
    )
    name = started.workflow_run.name
    received: list[run_pb2.RunEvent] = []
    # Disconnect after every event, reconnecting from the last seq seen, while the run is live.
    while not received or received[-1].WhichOneof("event") != "run_finished":
        call = stub.WatchWorkflowRun(
            orchestrator_pb2.WatchWorkflowRunRequest(
                name=name, after_seq=received[-1].seq if received else 0
            )
        )
        async for response in call:
            received.append(response.event)
            call.cancel()
            break
    assert_sequence(received, 1, received[-1].seq)


async def test_start_is_idempotent_on_request_id(stub: Stub) -> None:
    request = orchestrator_pb2.StartWorkflowRunRequest(
        workflow_definition="complete_style_analysis",
        input=struct(STYLE_INPUT),
        request_id="req-42",
    )
    first = await stub.StartWorkflowRun(request)
    again = await stub.StartWorkflowRun(request)
    assert again.workflow_run.name == first.workflow_run.name

    request.input.update({"text": "something else"})
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stub.StartWorkflowRun(request)
    assert raised.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert details(raised.value)["ErrorInfo"].reason == "REQUEST_ID_REUSED"  # type: ignore[attr-defined]


async def test_list_pages_through_runs_matching_a_filter(stub: Stub) -> None:
    wanted = set()
    for index in range(7):
        run = await execute(stub, "complete_style_analysis", STYLE_INPUT, labels={"batch": "a"})
        wanted.add(run.name)
        if index < 3:
            await execute(stub, "complete_style_analysis", STYLE_INPUT, labels={"batch": "b"})

    seen: list[str] = []
    token = ""
    pages = 0
    while True:
        page = await stub.ListWorkflowRuns(
            orchestrator_pb2.ListWorkflowRunsRequest(
                page_size=3, page_token=token, filter='labels.batch = "a" AND state = SUCCEEDED'
            )
        )
        pages += 1
        seen += [r.name for r in page.workflow_runs]
        assert all(r.labels["batch"] == "a" for r in page.workflow_runs)
        token = page.next_page_token
        if not token:
            break
    assert pages == 3
    assert len(seen) == len(set(seen)) == 7
    assert set(seen) == wanted
    created = [
        r.name
        for r in (
            await stub.ListWorkflowRuns(
                orchestrator_pb2.ListWorkflowRunsRequest(page_size=100, filter='labels.batch = "a"')
            )
        ).workflow_runs
    ]
    assert created == seen, "newest first, the same order across pages"


async def _error_of(call: object) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call  # type: ignore[misc]
    return raised.value


async def test_bad_input_gets_the_named_status_with_details_and_the_server_keeps_serving(
    stub: Stub,
) -> None:
    cases = [
        (
            stub.GetWorkflowRun(orchestrator_pb2.GetWorkflowRunRequest(name="workflowRuns/nope")),
            grpc.StatusCode.NOT_FOUND,
            "RUN_NOT_FOUND",
        ),
        (
            stub.GetWorkflowDefinition(orchestrator_pb2.GetWorkflowDefinitionRequest(name="nope")),
            grpc.StatusCode.NOT_FOUND,
            "DEFINITION_NOT_FOUND",
        ),
        (
            stub.StartWorkflowRun(
                orchestrator_pb2.StartWorkflowRunRequest(workflow_definition="nope")
            ),
            grpc.StatusCode.NOT_FOUND,
            "DEFINITION_NOT_FOUND",
        ),
        (
            stub.StartWorkflowRun(
                orchestrator_pb2.StartWorkflowRunRequest(
                    workflow_definition="complete_style_analysis"
                )
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
            None,
        ),
        (
            stub.ListWorkflowRuns(orchestrator_pb2.ListWorkflowRunsRequest(filter="colour = red")),
            grpc.StatusCode.INVALID_ARGUMENT,
            None,
        ),
        (
            stub.ListWorkflowRuns(orchestrator_pb2.ListWorkflowRunsRequest(page_token="garbage!")),
            grpc.StatusCode.INVALID_ARGUMENT,
            None,
        ),
        (
            stub.GetWorkflowRun(orchestrator_pb2.GetWorkflowRunRequest(name="")),
            grpc.StatusCode.INVALID_ARGUMENT,
            None,
        ),
        (
            stub.CancelWorkflowRun(
                orchestrator_pb2.CancelWorkflowRunRequest(name="workflowRuns/nope")
            ),
            grpc.StatusCode.NOT_FOUND,
            "RUN_NOT_FOUND",
        ),
    ]
    for call, code, reason in cases:
        error = await _error_of(call)
        assert error.code() == code, (error.code(), error.details())
        found = details(error)
        assert "ErrorInfo" in found
        if reason:
            assert found["ErrorInfo"].reason == reason  # type: ignore[attr-defined]
        if code == grpc.StatusCode.INVALID_ARGUMENT:
            assert found["BadRequest"].field_violations  # type: ignore[attr-defined]

    watch_error = await _error_of(collect_events(stub, "workflowRuns/nope"))
    assert watch_error.code() == grpc.StatusCode.NOT_FOUND

    finished = await execute(stub, "complete_style_analysis", STYLE_INPUT)
    cancel_error = await _error_of(
        stub.CancelWorkflowRun(orchestrator_pb2.CancelWorkflowRunRequest(name=finished.name))
    )
    assert cancel_error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert details(cancel_error)["ErrorInfo"].reason == "RUN_ALREADY_FINISHED"  # type: ignore[attr-defined]

    # Still serving after all of that.
    assert (
        await execute(stub, "complete_style_analysis", STYLE_INPUT)
    ).state == run_pb2.RUN_STATE_SUCCEEDED


async def test_an_invalid_definition_is_refused_naming_the_step_and_field(stub: Stub) -> None:
    from aura.orchestrator.v1 import workflow_pb2

    definition = workflow_pb2.WorkflowDefinition(
        name="workflowDefinitions/broken",
        steps=[
            workflow_pb2.WorkflowStep(id="a", method="aura.nlu.v1.NluService/NoSuchMethod"),
            workflow_pb2.WorkflowStep(
                id="b",
                method="aura.nlu.v1.NluService/AnalyzeText",
                inputs={"no_such_field": workflow_pb2.FieldSource(ref="input.x")},
                depends_on=["a"],
            ),
        ],
    )
    error = await _error_of(
        stub.CreateWorkflowDefinition(
            orchestrator_pb2.CreateWorkflowDefinitionRequest(workflow_definition=definition)
        )
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    fields = [v.field for v in details(error)["BadRequest"].field_violations]  # type: ignore[attr-defined]
    assert any(f.startswith("steps[0].method") for f in fields), fields
    assert any(f.startswith("steps[1].inputs") for f in fields), fields


async def test_list_services_and_analytics_reflect_the_runs(stub: Stub) -> None:
    for _ in range(3):
        await execute(stub, "complete_style_analysis", STYLE_INPUT)

    services = await stub.ListServices(orchestrator_pb2.ListServicesRequest())
    by_name = {s.service: s for s in services.services}
    nlu = by_name["aura.nlu.v1.NluService"]
    assert nlu.call_count >= 3
    assert nlu.endpoints[0].serving_status == orchestrator_pb2.SERVING_STATUS_SERVING
    # On the embedded store this process is the one replica, owning what it executes.
    (replica,) = services.replicas
    assert replica.answering and replica.alive and replica.id == "local"
    assert replica.owned_runs == 0 and services.queued_runs == 0

    analytics = await stub.GetAnalytics(orchestrator_pb2.GetAnalyticsRequest())
    definition = next(
        d
        for d in analytics.definitions
        if d.workflow_definition == "workflowDefinitions/complete_style_analysis"
    )
    assert definition.run_count == 3
    assert definition.success_rate == 1.0
    assert definition.latency_p99.ToNanoseconds() >= definition.latency_p50.ToNanoseconds() > 0
    steps = [s for s in analytics.steps if s.workflow_definition == definition.workflow_definition]
    assert len(steps) == 5 and all(s.execution_count == 3 for s in steps)
