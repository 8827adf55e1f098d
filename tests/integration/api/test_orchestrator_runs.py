"""Running workflows end to end over real gRPC against the real mock mesh."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from google.protobuf import json_format

from aura.orchestrator.v1 import orchestrator_pb2, run_pb2, workflow_pb2
from mock_services.mesh import MockMesh
from orchestrator.server import OrchestratorServer
from orchestrator.workflows import seed_definitions
from tests.helpers import eventually
from tests.integration.orchestrator_helpers import STYLE_INPUT, Stub, execute, step, struct

pytestmark = pytest.mark.integration

SEED_INPUTS: dict[str, dict[str, object]] = {
    "adopt_outfit": {"user_id": "ada", "outfit_id": "o1", "item_skus": ["TOP-001"]},
    "complete_style_analysis": STYLE_INPUT,
    "outfit_recommendation": STYLE_INPUT,
    "style_evolution_analysis": STYLE_INPUT,
    "personalized_shopping": STYLE_INPUT,
    "trend_analysis": STYLE_INPUT,
}


def step_by_method(run: run_pb2.WorkflowRun, method_suffix: str) -> run_pb2.StepRun:
    return next(s for s in run.steps if s.method.endswith(method_suffix))


@pytest.mark.parametrize("definition", sorted(SEED_INPUTS))
async def test_every_seed_workflow_succeeds_with_an_output_from_every_step(
    stub: Stub, definition: str
) -> None:
    run = await execute(stub, definition, SEED_INPUTS[definition])

    assert run.state == run_pb2.RUN_STATE_SUCCEEDED, run.error
    for step_run in run.steps:
        assert step_run.state == run_pb2.STEP_STATE_SUCCEEDED, (
            step_run.step_id,
            step_run.skip_reason,
        )
        assert step_run.output.type_url.endswith("Response")
        assert step_run.attempts == 1
        assert step_run.end_time.ToNanoseconds() >= step_run.start_time.ToNanoseconds() > 0


async def test_complete_style_analysis_wires_each_service_into_the_next(stub: Stub) -> None:
    from aura.recommendation.v1 import recommendation_pb2
    from aura.style.v1 import style_pb2

    run = await execute(stub, "complete_style_analysis", STYLE_INPUT)

    assert {s.method.split("/")[0] for s in run.steps} == {
        "aura.image.v1.ImageProcessingService",
        "aura.nlu.v1.NluService",
        "aura.style.v1.StyleProfileService",
        "aura.combination.v1.CombinationEngineService",
        "aura.recommendation.v1.RecommendationEngineService",
    }
    profile = style_pb2.BuildStyleProfileResponse()
    step_by_method(run, "/BuildStyleProfile").output.Unpack(profile)
    assert profile.profile.user_id == "ada"
    assert not profile.profile.cold_start
    recommended = recommendation_pb2.RecommendItemsResponse()
    step_by_method(run, "/RecommendItems").output.Unpack(recommended)
    assert recommended.recommendations
    # The budget said in the text ("under 300 euros") reached the recommendation engine.
    assert all(r.item.price.units <= 300 for r in recommended.recommendations)


async def test_independent_steps_run_in_parallel(stub: Stub, mesh: MockMesh) -> None:
    mesh.servers["image"].faults.latency_ms = 300
    mesh.servers["nlu"].faults.latency_ms = 300

    run = await execute(stub, "complete_style_analysis", STYLE_INPUT)

    image, nlu = step_by_method(run, "/AnalyzeImage"), step_by_method(run, "/AnalyzeText")
    # Each started before the other ended: their calls overlapped in time.
    assert image.start_time.ToNanoseconds() < nlu.end_time.ToNanoseconds()
    assert nlu.start_time.ToNanoseconds() < image.end_time.ToNanoseconds()
    total = run.end_time.ToNanoseconds() - run.start_time.ToNanoseconds()
    assert total < 550e6, "two 300 ms calls in parallel, not in sequence"


def _definition(name: str, *, nlu_optional: bool) -> workflow_pb2.WorkflowDefinition:
    return json_format.ParseDict(
        {
            "name": f"workflowDefinitions/{name}",
            "description": "nlu and image feed a style profile",
            "steps": [
                {
                    "id": "image",
                    "method": "aura.image.v1.ImageProcessingService/AnalyzeImage",
                    "inputs": {"image_uri": {"ref": "input.image_uri"}},
                },
                {
                    "id": "nlu",
                    "method": "aura.nlu.v1.NluService/AnalyzeText",
                    "inputs": {"text": {"ref": "input.text"}},
                    "optional": nlu_optional,
                    "retry": {"maxAttempts": 1},
                },
                {
                    "id": "profile",
                    "method": "aura.style.v1.StyleProfileService/BuildStyleProfile",
                    "inputs": {
                        "user_id": {"ref": "input.user_id"},
                        "observed_garments": {"ref": "steps.image.garments"},
                    },
                },
                {
                    "id": "outfits_for_text",
                    "method": "aura.combination.v1.CombinationEngineService/GenerateOutfits",
                    "inputs": {
                        "profile": {"ref": "steps.profile.profile"},
                        "occasion": {"ref": "steps.nlu.occasion"},
                    },
                },
            ],
        },
        workflow_pb2.WorkflowDefinition(),
    )


async def test_a_failed_optional_step_gives_partially_succeeded_and_skips_its_dependants(
    stub: Stub, mesh: MockMesh
) -> None:
    await stub.CreateWorkflowDefinition(
        orchestrator_pb2.CreateWorkflowDefinitionRequest(
            workflow_definition=_definition("optional_nlu", nlu_optional=True)
        )
    )
    mesh.servers["nlu"].faults.error_rate = 1.0
    mesh.servers["nlu"].faults.error_code = grpc.StatusCode.INTERNAL

    run = await execute(stub, "optional_nlu", STYLE_INPUT)

    assert run.state == run_pb2.RUN_STATE_PARTIALLY_SUCCEEDED
    assert step(run, "nlu").state == run_pb2.STEP_STATE_FAILED
    assert step(run, "nlu").error.code == grpc.StatusCode.INTERNAL.value[0]
    assert step(run, "image").state == run_pb2.STEP_STATE_SUCCEEDED
    assert step(run, "profile").state == run_pb2.STEP_STATE_SUCCEEDED
    assert step(run, "outfits_for_text").state == run_pb2.STEP_STATE_SKIPPED
    assert "nlu" in step(run, "outfits_for_text").skip_reason


async def test_a_failed_required_step_fails_the_run_keeping_the_backend_status(
    stub: Stub, mesh: MockMesh
) -> None:
    mesh.servers["style"].faults.error_rate = 1.0
    mesh.servers["style"].faults.error_code = grpc.StatusCode.FAILED_PRECONDITION

    run = await execute(stub, "complete_style_analysis", STYLE_INPUT)

    assert run.state == run_pb2.RUN_STATE_FAILED
    failed = step_by_method(run, "/BuildStyleProfile")
    assert failed.state == run_pb2.STEP_STATE_FAILED
    assert failed.error.code == grpc.StatusCode.FAILED_PRECONDITION.value[0]
    assert run.error.code == grpc.StatusCode.FAILED_PRECONDITION.value[0]
    assert failed.step_id in run.error.message
    # Steps after it never ran.
    assert step_by_method(run, "/GenerateOutfits").state == run_pb2.STEP_STATE_CANCELLED


async def test_cancel_stops_in_flight_calls(stub: Stub, mesh: MockMesh) -> None:
    mesh.servers["style"].faults.hang = True
    started = await stub.StartWorkflowRun(
        orchestrator_pb2.StartWorkflowRunRequest(
            workflow_definition="complete_style_analysis", input=struct(STYLE_INPUT)
        )
    )
    name = started.workflow_run.name

    async def style_call_in_flight() -> bool:
        run = (
            await stub.GetWorkflowRun(orchestrator_pb2.GetWorkflowRunRequest(name=name))
        ).workflow_run
        return step_by_method(run, "/BuildStyleProfile").state == run_pb2.STEP_STATE_RUNNING

    await eventually(style_call_in_flight)
    loop = asyncio.get_running_loop()
    before = loop.time()
    cancelled = await stub.CancelWorkflowRun(
        orchestrator_pb2.CancelWorkflowRunRequest(name=name, reason="user changed their mind")
    )
    assert loop.time() - before < 2.0, "a hung call does not hold up cancellation"

    run = cancelled.workflow_run
    assert run.state == run_pb2.RUN_STATE_CANCELLED
    assert "user changed their mind" in run.error.message
    assert step_by_method(run, "/BuildStyleProfile").state == run_pb2.STEP_STATE_CANCELLED
    assert step_by_method(run, "/RecommendItems").state == run_pb2.STEP_STATE_CANCELLED
    await eventually(lambda: mesh.servers["style"].in_flight == 0, message="backend call cancelled")


async def test_seed_definitions_are_listed_and_readable(stub: Stub) -> None:
    listed = await stub.ListWorkflowDefinitions(orchestrator_pb2.ListWorkflowDefinitionsRequest())
    names = {d.name for d in listed.workflow_definitions}
    assert names >= {d.name for d in seed_definitions()}
    got = await stub.GetWorkflowDefinition(
        orchestrator_pb2.GetWorkflowDefinitionRequest(name="complete_style_analysis")
    )
    assert got.workflow_definition.name == "workflowDefinitions/complete_style_analysis"


async def test_a_run_lets_go_of_outputs_no_pending_step_reads(
    stub: Stub, mesh: MockMesh, orchestrator: OrchestratorServer
) -> None:
    mesh.servers["recommendation"].faults.latency_ms = 400
    started = await stub.StartWorkflowRun(
        orchestrator_pb2.StartWorkflowRunRequest(
            workflow_definition="complete_style_analysis", input=struct(STYLE_INPUT)
        ),
        timeout=10,
    )
    name = started.workflow_run.name

    def last_step_in_flight() -> list[str]:
        active = orchestrator.engine._active.get(name)
        assert active is not None, "the run is no longer active"
        states = active.executor.states
        assert states["recommendations"] == run_pb2.STEP_STATE_SCHEDULED
        return ["outputs held:", *active.executor.ctx.outputs]

    # While the last step's call is in flight, its request holds what it was wired from;
    # the run itself keeps no earlier output.
    assert await eventually(last_step_in_flight, timeout_s=5) == ["outputs held:"]
    run = await stub.GetWorkflowRun(orchestrator_pb2.GetWorkflowRunRequest(name=name), timeout=10)
    while run.workflow_run.state != run_pb2.RUN_STATE_SUCCEEDED:
        await asyncio.sleep(0.05)
        run = await stub.GetWorkflowRun(
            orchestrator_pb2.GetWorkflowRunRequest(name=name), timeout=10
        )
    # Every step's output is still in the run's history.
    assert all(step.HasField("output") for step in run.workflow_run.steps)
