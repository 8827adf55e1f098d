"""Optional inputs at run time: a dependant that reads a failed or skipped step only
through optional inputs runs without it (or with the default); one that needs it is
skipped as before."""

from __future__ import annotations

from typing import Any

import pytest
from google.protobuf import json_format

from aura.combination.v1 import combination_pb2
from aura.common.v1 import fashion_pb2
from aura.orchestrator.v1 import orchestrator_pb2, run_pb2, workflow_pb2
from aura.recommendation.v1 import recommendation_pb2
from mock_services.mesh import MockMesh
from tests.integration.orchestrator_helpers import Stub, execute, step

pytestmark = pytest.mark.integration

NLU = "aura.nlu.v1.NluService/AnalyzeText"
GET_PROFILE = "aura.style.v1.StyleProfileService/GetStyleProfile"
OUTFITS = "aura.combination.v1.CombinationEngineService/GenerateOutfits"
TRENDS = "aura.recommendation.v1.RecommendationEngineService/GetTrends"
RECOMMEND = "aura.recommendation.v1.RecommendationEngineService/RecommendItems"


def outfits_step(step_id: str, trends: dict[str, Any], **inputs: Any) -> dict[str, Any]:
    return {
        "id": step_id,
        "method": OUTFITS,
        "inputs": {"profile": {"ref": "steps.profile.profile"}, "trends": trends, **inputs},
    }


async def define(client: Stub, name: str, steps: list[dict[str, Any]]) -> None:
    definition = json_format.ParseDict(
        {"name": f"workflowDefinitions/{name}", "steps": steps}, workflow_pb2.WorkflowDefinition()
    )
    await client.CreateWorkflowDefinition(
        orchestrator_pb2.CreateWorkflowDefinitionRequest(workflow_definition=definition)
    )


async def test_a_failed_optional_step_skips_only_the_steps_that_need_it(
    mesh: MockMesh,
    stub: Stub,
) -> None:
    await define(
        stub,
        "trend_outfits",
        [
            {
                "id": "profile",
                "method": GET_PROFILE,
                "inputs": {"user_id": {"ref": "input.user_id"}},
            },
            {"id": "trends", "method": TRENDS, "optional": True, "retry": {"max_attempts": 1}},
            outfits_step("with_trends", {"ref": "steps.trends.trends"}),
            outfits_step("maybe_trends", {"ref": "steps.trends.trends", "optional": True}),
        ],
    )
    mesh.servers["recommendation"].faults.error_rate = 1.0

    run = await execute(stub, "trend_outfits", {"user_id": "ada"})

    assert run.state == run_pb2.RUN_STATE_PARTIALLY_SUCCEEDED
    assert step(run, "trends").state == run_pb2.STEP_STATE_FAILED
    assert step(run, "with_trends").state == run_pb2.STEP_STATE_SKIPPED
    assert step(run, "with_trends").skip_reason == "dependency trends did not succeed"
    assert step(run, "maybe_trends").state == run_pb2.STEP_STATE_SUCCEEDED
    outfits = combination_pb2.GenerateOutfitsResponse()
    assert step(run, "maybe_trends").output.Unpack(outfits) and outfits.outfits


async def test_a_step_skipped_by_its_condition_leaves_the_default_to_its_optional_reader(
    mesh: MockMesh,
    stub: Stub,
) -> None:
    await define(
        stub,
        "occasion_items",
        [
            {
                "id": "profile",
                "method": GET_PROFILE,
                "inputs": {"user_id": {"ref": "input.user_id"}},
            },
            {
                "id": "nlu",
                "method": NLU,
                "inputs": {"text": {"ref": "input.text"}},
                "when": {"ref": "input.text", "op": "OPERATOR_IS_SET"},
            },
            {
                "id": "items",
                "method": RECOMMEND,
                "inputs": {
                    "profile": {"ref": "steps.profile.profile"},
                    "occasion": {"ref": "steps.nlu.occasion", "default_value": "OCCASION_FORMAL"},
                    "max_results": {"value": 3},
                },
            },
        ],
    )
    nlu = mesh.servers["nlu"]

    without_text = await execute(stub, "occasion_items", {"user_id": "ada"})
    with_text = await execute(
        stub, "occasion_items", {"user_id": "ada", "text": "something for the office"}
    )

    assert without_text.state == run_pb2.RUN_STATE_SUCCEEDED  # a skip by condition is no failure
    assert step(without_text, "nlu").state == run_pb2.STEP_STATE_SKIPPED
    assert step(without_text, "items").state == run_pb2.STEP_STATE_SUCCEEDED
    assert with_text.state == run_pb2.RUN_STATE_SUCCEEDED
    assert nlu.calls["AnalyzeText"] == 1
    assert _all_suit(without_text, fashion_pb2.OCCASION_FORMAL)
    assert _all_suit(with_text, fashion_pb2.OCCASION_OFFICE)
    assert not _all_suit(with_text, fashion_pb2.OCCASION_FORMAL)


def _all_suit(run: run_pb2.WorkflowRun, occasion: int) -> bool:
    """Whether every recommended item suits `occasion` (the items are filtered by it)."""
    items = recommendation_pb2.RecommendItemsResponse()
    assert step(run, "items").output.Unpack(items) and items.recommendations
    return all(occasion in r.item.occasions for r in items.recommendations)
