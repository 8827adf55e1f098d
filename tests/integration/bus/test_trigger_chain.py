"""A chain of two definitions on the real orchestrator and mesh: a finished style
analysis, published as its run.finished event, starts one outfit recommendation
through StartWorkflowRun, and a redelivery of the event starts nothing more."""

from __future__ import annotations

import pytest
from google.protobuf import json_format

from aura.orchestrator.v1 import orchestrator_pb2, run_pb2
from orchestrator.bus import (
    BusConnection,
    BusEvent,
    DeadLetterEntry,
    DeadLetters,
    EventPublisher,
    TriggerConsumer,
    grpc_start_run,
    run_finished,
)
from orchestrator.server import OrchestratorServer
from tests.helpers import eventually
from tests.integration.bus.trigger_helpers import ANALYSIS, OUTFITS, seed_workflows
from tests.integration.orchestrator_helpers import STYLE_INPUT, Stub, execute

pytestmark = pytest.mark.integration


async def _triggered(stub: Stub) -> list[run_pb2.WorkflowRun]:
    answer = await stub.ListWorkflowRuns(
        orchestrator_pb2.ListWorkflowRunsRequest(
            filter='labels.aura_trigger = "after_style_analysis"'
        )
    )
    return list(answer.workflow_runs)


async def test_a_finished_analysis_starts_exactly_one_outfit_recommendation(
    bus: BusConnection, orchestrator: OrchestratorServer, stub: Stub
) -> None:
    analysis = await execute(stub, "complete_style_analysis", STYLE_INPUT)
    assert analysis.state == run_pb2.RUN_STATE_SUCCEEDED
    made = run_finished(
        analysis.name,
        ANALYSIS,
        run_pb2.RunState.Name(analysis.state).removeprefix("RUN_STATE_"),
        json_format.MessageToDict(analysis.input),
        dict(analysis.labels),
    )
    workflows = seed_workflows()
    consumer = TriggerConsumer(
        bus, consumer="r1", definitions=lambda: workflows, start_run=grpc_start_run(stub)
    )
    await consumer.start()
    try:
        published = await EventPublisher(bus).publish(
            BusEvent(made.topic, made.key, made.event_id, made.payload)
        )
        (run,) = await eventually(lambda: _triggered(stub), timeout_s=10)
        # A redelivery (a consumer that died before its acknowledgement): the same run.
        await consumer.handle(published.event, 2)
    finally:
        await consumer.stop()
    assert run.workflow_definition == OUTFITS
    assert [r.name for r in await _triggered(stub)] == [run.name]

    async def finished() -> run_pb2.WorkflowRun | None:
        answer = await stub.GetWorkflowRun(orchestrator_pb2.GetWorkflowRunRequest(name=run.name))
        got = answer.workflow_run
        return got if got.state == run_pb2.RUN_STATE_SUCCEEDED else None

    done = await eventually(finished, timeout_s=20)
    assert json_format.MessageToDict(done.input) == {
        "user_id": STYLE_INPUT["user_id"],
        "text": STYLE_INPUT["text"],
    }


async def test_an_event_that_cannot_make_a_valid_run_is_dead_lettered_at_once(
    bus: BusConnection, orchestrator: OrchestratorServer, stub: Stub
) -> None:
    made = run_finished("workflowRuns/gone", ANALYSIS, "SUCCEEDED", {"user_id": "ada"}, {})
    workflows = seed_workflows()
    consumer = TriggerConsumer(
        bus, consumer="r1", definitions=lambda: workflows, start_run=grpc_start_run(stub)
    )
    dead = DeadLetters(bus)

    async def buried() -> list[DeadLetterEntry]:
        return (await dead.page("run.finished", 10))[0]

    await consumer.start()
    try:
        await EventPublisher(bus).publish(
            BusEvent(made.topic, made.key, made.event_id, made.payload)
        )
        (letter,) = await eventually(buried, timeout_s=10)
    finally:
        await consumer.stop()
    assert letter.deliveries == 1
    assert "INVALID_ARGUMENT" in letter.reason and "input.text" in letter.reason
    assert await _triggered(stub) == []
