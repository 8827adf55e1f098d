"""Helpers of the trigger tests: the compiled seed definitions and run.finished events."""

from __future__ import annotations

from orchestrator.bus import BusConnection, BusEvent, StartRun, TriggeredRun
from orchestrator.workflows import CompiledWorkflow, MethodRegistry, compile_workflow
from orchestrator.workflows import seed_definitions as _seeds

ANALYSIS = "workflowDefinitions/complete_style_analysis"
OUTFITS = "workflowDefinitions/outfit_recommendation"


def seed_workflows() -> list[CompiledWorkflow]:
    registry = MethodRegistry.default()
    return [compile_workflow(d, registry) for d in _seeds()]


def run_finished(n: int, state: str = "SUCCEEDED", definition: str = ANALYSIS) -> BusEvent:
    """The event the outbox publishes when run `r<n>` of `definition` ends in `state`."""
    return BusEvent(
        topic="run.finished",
        key=definition,
        event_id=f"run-finished:r{n}",
        payload={
            "run": f"workflowRuns/r{n}",
            "workflow_definition": definition,
            "state": state,
            "input": {"user_id": f"u{n}", "text": "an outfit for a wedding", "image_uri": "x"},
            "labels": {},
            "error_code": "",
            "error_message": "",
        },
    )


def recording_start_run(connection: BusConnection) -> StartRun:
    """A start_run that records in Redis like an idempotent run store: HSETNX
    <prefix>runs <request_id> <event_id>, and counts every call in <prefix>starts."""
    prefix = connection.settings.prefix

    async def start_run(run: TriggeredRun) -> None:
        assert run.event is not None
        async with connection.commands.pipeline(transaction=True) as pipe:
            pipe.hsetnx(f"{prefix}runs", run.request_id, run.event.event_id)
            pipe.incr(f"{prefix}starts")
            await pipe.execute()

    return start_run
