"""Tracing: one trace per run, a span per step attempt, context propagated into the services.

Spans are collected in memory (no exporter, no network). Tracing interceptors are passed
when servers and channels are made (the orchestrator's after `configure_tracing`, the mock
services' when AURA_TRACING=1), so the mesh and the orchestrator are created inside the test.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from aura.orchestrator.v1 import orchestrator_pb2, orchestrator_pb2_grpc, run_pb2
from tests.helpers import eventually
from tests.integration.orchestrator_helpers import STYLE_INPUT, execute, struct
from tests.integration.telemetry.tracing_helpers import traced_stack

pytestmark = pytest.mark.integration

Stub = orchestrator_pb2_grpc.OrchestratorServiceStub


def by_name(spans: tuple[ReadableSpan, ...], prefix: str) -> list[ReadableSpan]:
    return [span for span in spans if span.name.startswith(prefix)]


def parent_id(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


async def test_run_span_step_spans_and_service_server_spans_form_one_trace(
    spans: InMemorySpanExporter, tmp_path: Path
) -> None:
    async with traced_stack(tmp_path) as (_, stub):
        run = await execute(stub, "complete_style_analysis", STYLE_INPUT)
    assert run.state == run_pb2.RUN_STATE_SUCCEEDED
    finished = spans.get_finished_spans()

    [run_span] = by_name(finished, "run complete_style_analysis")
    assert run_span.attributes is not None
    assert run_span.attributes["aura.run.name"] == run.name
    assert run_span.parent is None, "a run is the root of its own trace"
    trace_id = run_span.context.trace_id
    assert format(trace_id, "032x") == run.name.removeprefix("workflowRuns/"), "trace id = run id"
    step_spans = by_name(finished, "step ")
    assert sorted(s.name for s in step_spans) == sorted(f"step {s.step_id} #1" for s in run.steps)
    for step_span in step_spans:
        assert step_span.context.trace_id == trace_id
        assert parent_id(step_span) == run_span.context.span_id
        assert step_span.attributes is not None
        method = f"/{step_span.attributes['rpc.service']}/{step_span.attributes['rpc.method']}"
        [client] = [
            s
            for s in finished
            if s.kind == SpanKind.CLIENT and parent_id(s) == step_span.context.span_id
        ]
        assert client.name == method and client.context.trace_id == trace_id
        [service] = [
            s
            for s in finished
            if s.kind == SpanKind.SERVER and parent_id(s) == client.context.span_id
        ]
        assert service.name == method and service.context.trace_id == trace_id

    # The ExecuteWorkflowRun server span and the run are linked both ways.
    [rpc] = [
        s for s in finished if s.kind == SpanKind.SERVER and s.name.endswith("ExecuteWorkflowRun")
    ]
    assert [link.context.span_id for link in run_span.links] == [rpc.context.span_id]
    assert rpc.attributes is not None
    assert rpc.attributes["aura.run.trace_id"] == format(trace_id, "032x")


async def test_cancellation_still_cancels_backend_calls_with_tracing_on(
    spans: InMemorySpanExporter, tmp_path: Path
) -> None:
    async with traced_stack(tmp_path) as (mesh, stub):
        mesh["image"].faults.hang = True
        started = await stub.StartWorkflowRun(
            orchestrator_pb2.StartWorkflowRunRequest(
                workflow_definition="complete_style_analysis", input=struct(STYLE_INPUT)
            )
        )
        name = started.workflow_run.name
        await eventually(lambda: mesh["image"].in_flight == 1)
        cancelled = await stub.CancelWorkflowRun(
            orchestrator_pb2.CancelWorkflowRunRequest(name=name, reason="test")
        )
        assert cancelled.workflow_run.state == run_pb2.RUN_STATE_CANCELLED
        await eventually(lambda: mesh["image"].cancelled["AnalyzeImage"] == 1)
    server_spans = [s for s in spans.get_finished_spans() if s.kind == SpanKind.SERVER]
    assert any(s.name.endswith("AnalyzeImage") for s in server_spans), "mocks were traced"


async def test_cancelled_attempt_is_marked_on_its_step_span(
    spans: InMemorySpanExporter, tmp_path: Path
) -> None:
    async with traced_stack(tmp_path) as (mesh, stub):
        mesh["image"].faults.hang = True
        started = await stub.StartWorkflowRun(
            orchestrator_pb2.StartWorkflowRunRequest(
                workflow_definition="complete_style_analysis", input=struct(STYLE_INPUT)
            )
        )
        await eventually(lambda: mesh["image"].in_flight == 1)
        await stub.CancelWorkflowRun(
            orchestrator_pb2.CancelWorkflowRunRequest(name=started.workflow_run.name)
        )
    [image] = by_name(spans.get_finished_spans(), "step image")
    assert image.attributes is not None and image.attributes["aura.cancelled"] is True
