"""Building a step's request from the run input, earlier outputs and literals."""

from __future__ import annotations

from typing import Any

import pytest
from google.protobuf import json_format

from aura.combination.v1 import combination_pb2
from aura.common.v1 import fashion_pb2
from aura.image.v1 import image_pb2
from aura.nlu.v1 import nlu_pb2
from aura.orchestrator.v1 import workflow_pb2
from aura.recommendation.v1 import recommendation_pb2
from aura.style.v1 import style_pb2
from orchestrator.errors import InvalidArgument
from orchestrator.workflows import (
    CompiledWorkflow,
    MethodRegistry,
    StepInputError,
    compile_workflow,
    seed_definitions,
)

REGISTRY = MethodRegistry.default()
RECOMMEND = "aura.recommendation.v1.RecommendationEngineService/RecommendItems"
TRENDS = "aura.recommendation.v1.RecommendationEngineService/GetTrends"
NLU = "aura.nlu.v1.NluService/AnalyzeText"

STYLE_INPUT = {
    "user_id": "ada",
    "image_uri": "https://example.com/navy-blazer.jpg",
    "text": "Office outfit, navy, under 300 euros",
}

IMAGE = image_pb2.AnalyzeImageResponse(
    image_id="img-1",
    dominant_colors=[fashion_pb2.Color(name="navy", hex="#1f2a44", share=0.6)],
    garments=[
        fashion_pb2.Garment(
            category=fashion_pb2.GARMENT_CATEGORY_OUTERWEAR, color="navy", confidence=0.9
        )
    ],
    style_tags=["classic", "minimalist"],
)
NLU_WITH_BUDGET = nlu_pb2.AnalyzeTextResponse(
    intent=nlu_pb2.INTENT_BUILD_OUTFIT,
    occasion=fashion_pb2.OCCASION_OFFICE,
    style_keywords=["classic"],
    budget=nlu_pb2.Budget(max_price=fashion_pb2.Money(currency_code="EUR", units=300)),
    confidence=0.8,
)
PROFILE = style_pb2.BuildStyleProfileResponse(
    profile=fashion_pb2.StyleProfile(
        user_id="ada", styles=[fashion_pb2.StyleScore(style="classic", score=1.0)], version=2
    )
)


def compile_steps(*steps: dict[str, Any]) -> CompiledWorkflow:
    definition = json_format.ParseDict(
        {"name": "workflowDefinitions/demo", "steps": list(steps)},
        workflow_pb2.WorkflowDefinition(),
    )
    return compile_workflow(definition, REGISTRY)


def recommend_step(inputs: dict[str, Any]) -> CompiledWorkflow:
    return compile_steps({"id": "recommend", "method": RECOMMEND, "inputs": inputs})


@pytest.fixture(scope="module")
def style_analysis() -> CompiledWorkflow:
    definition = next(d for d in seed_definitions() if d.name.endswith("/complete_style_analysis"))
    return compile_workflow(definition, REGISTRY)


def test_image_and_text_evidence_is_wired_into_the_profile_request(
    style_analysis: CompiledWorkflow,
) -> None:
    request = style_analysis.steps["profile"].build_request(
        STYLE_INPUT, {"image": IMAGE, "nlu": NLU_WITH_BUDGET}
    )

    assert request == style_pb2.BuildStyleProfileRequest(
        user_id="ada",
        observed_garments=IMAGE.garments,
        observed_colors=IMAGE.dominant_colors,
        image_style_tags=["classic", "minimalist"],
        text_style_keywords=["classic"],
        occasion=fashion_pb2.OCCASION_OFFICE,
    )


def test_first_steps_take_the_run_input(style_analysis: CompiledWorkflow) -> None:
    image = style_analysis.steps["image"].build_request(STYLE_INPUT, {})
    nlu = style_analysis.steps["nlu"].build_request(STYLE_INPUT, {})

    assert image == image_pb2.AnalyzeImageRequest(
        image_uri="https://example.com/navy-blazer.jpg", user_id="ada"
    )
    assert nlu == nlu_pb2.AnalyzeTextRequest(text=STYLE_INPUT["text"], user_id="ada")
    assert nlu.locale == ""  # input.locale is absent: the field stays unset


def test_the_budget_from_the_text_bounds_the_recommendations(
    style_analysis: CompiledWorkflow,
) -> None:
    outfits_response = combination_pb2.GenerateOutfitsResponse(
        outfits=[fashion_pb2.Outfit(outfit_id="o1", score=0.75)]
    )

    request = style_analysis.steps["recommendations"].build_request(
        STYLE_INPUT,
        {"nlu": NLU_WITH_BUDGET, "profile": PROFILE, "outfits": outfits_response},
    )

    assert request == recommendation_pb2.RecommendItemsRequest(
        profile=PROFILE.profile,
        max_price=fashion_pb2.Money(currency_code="EUR", units=300),
        occasion=fashion_pb2.OCCASION_OFFICE,
        outfits=outfits_response.outfits,
        max_results=5,
    )


def test_without_a_stated_budget_max_price_stays_unset(style_analysis: CompiledWorkflow) -> None:
    no_budget = nlu_pb2.AnalyzeTextResponse(occasion=fashion_pb2.OCCASION_CASUAL)

    request = style_analysis.steps["recommendations"].build_request(
        STYLE_INPUT, {"nlu": no_budget, "profile": PROFILE}
    )

    assert not request.HasField("max_price")
    assert request.occasion == fashion_pb2.OCCASION_CASUAL


def test_a_missing_output_leaves_its_fields_unset(style_analysis: CompiledWorkflow) -> None:
    request = style_analysis.steps["recommendations"].build_request(STYLE_INPUT, {})

    assert request == recommendation_pb2.RecommendItemsRequest(max_results=5)


def test_wired_messages_are_copies_not_shared(style_analysis: CompiledWorkflow) -> None:
    nlu = nlu_pb2.AnalyzeTextResponse()
    nlu.CopyFrom(NLU_WITH_BUDGET)
    request = style_analysis.steps["recommendations"].build_request(
        STYLE_INPUT, {"nlu": nlu, "profile": PROFILE}
    )

    request.max_price.units = 1

    assert nlu.budget.max_price.units == 300


def test_literals_convert_enums_money_and_nested_paths() -> None:
    step = recommend_step(
        {
            "occasion": {"value": "OCCASION_FORMAL"},
            "max_price": {"value": {"currency_code": "EUR", "units": "250", "nanos": 500000000}},
            "categories": {"value": ["GARMENT_CATEGORY_TOP", "GARMENT_CATEGORY_SHOES"]},
            "profile.user_id": {"value": "ada"},
            "max_results": {"value": 7},
        }
    ).steps["recommend"]

    request = step.build_request({}, {})

    assert request == recommendation_pb2.RecommendItemsRequest(
        occasion=fashion_pb2.OCCASION_FORMAL,
        max_price=fashion_pb2.Money(currency_code="EUR", units=250, nanos=500_000_000),
        categories=[fashion_pb2.GARMENT_CATEGORY_TOP, fashion_pb2.GARMENT_CATEGORY_SHOES],
        profile=fashion_pb2.StyleProfile(user_id="ada"),
        max_results=7,
    )


def test_inputs_convert_by_the_json_mapping() -> None:
    step = recommend_step(
        {
            "occasion": {"ref": "input.occasion"},
            "max_price": {"ref": "input.budget"},
            "max_results": {"ref": "input.limit"},
            "profile.user_id": {"ref": "input.user.id"},
        }
    ).steps["recommend"]
    run_input = {
        "occasion": "OCCASION_OFFICE",
        "budget": {"currencyCode": "EUR", "units": 120.0},
        "limit": 4.0,
        "user": {"id": "ada"},
    }

    request = step.build_request(run_input, {})

    assert request == recommendation_pb2.RecommendItemsRequest(
        occasion=fashion_pb2.OCCASION_OFFICE,
        max_price=fashion_pb2.Money(currency_code="EUR", units=120),
        max_results=4,
        profile=fashion_pb2.StyleProfile(user_id="ada"),
    )


@pytest.mark.parametrize("units", [300.0, "300", 300])
def test_int64_inputs_may_be_numbers_or_strings(units: Any) -> None:
    step = recommend_step({"max_price.units": {"ref": "input.max_units"}}).steps["recommend"]

    request = step.build_request({"max_units": units}, {})

    assert request.max_price == fashion_pb2.Money(units=300)


def test_missing_or_null_optional_inputs_leave_the_field_unset() -> None:
    step = recommend_step(
        {"occasion": {"ref": "input.occasion"}, "max_price": {"ref": "input.budget.max"}}
    ).steps["recommend"]

    assert step.build_request({}, {}) == recommendation_pb2.RecommendItemsRequest()
    assert step.build_request({"occasion": None, "budget": {}}, {}) == (
        recommendation_pb2.RecommendItemsRequest()
    )


def test_an_input_that_does_not_convert_raises_step_input_error() -> None:
    step = recommend_step({"occasion": {"ref": "input.occasion"}}).steps["recommend"]

    with pytest.raises(StepInputError) as caught:
        step.build_request({"occasion": "OCCASION_BEACH"}, {})

    error = caught.value
    assert isinstance(error, InvalidArgument)
    assert (error.step_id, error.field_path) == ("recommend", "occasion")
    assert 'step "recommend"' in error.message and 'field "occasion"' in error.message
    assert "OCCASION_BEACH" in error.message
    assert [v.field for v in error.violations] == ["input.occasion"]


@pytest.mark.parametrize(
    ("key", "ref", "run_input"),
    [
        ("max_results", "input.limit", {"limit": "many"}),
        ("max_results", "input.limit", {"limit": 2.5}),
        ("max_price", "input.budget", {"budget": "300 EUR"}),
        ("max_price", "input.budget", {"budget": {"amount": 300}}),
        ("categories", "input.categories", {"categories": "GARMENT_CATEGORY_TOP"}),
        ("profile.user_id", "input.user.id", {"user": "ada"}),
    ],
)
def test_input_shape_errors_raise_step_input_error(
    key: str, ref: str, run_input: dict[str, Any]
) -> None:
    step = recommend_step({key: {"ref": ref}}).steps["recommend"]

    with pytest.raises(StepInputError) as caught:
        step.build_request(run_input, {})

    assert caught.value.field_path == key


def test_a_nested_key_overrides_the_message_it_sits_in() -> None:
    workflow = compile_steps(
        {"id": "profile", "method": "aura.style.v1.StyleProfileService/GetStyleProfile"},
        {
            "id": "recommend",
            "method": RECOMMEND,
            "inputs": {
                "profile.occasion": {"value": "OCCASION_PARTY"},
                "profile": {"ref": "steps.profile.profile"},
            },
        },
    )
    profile = style_pb2.GetStyleProfileResponse(
        profile=fashion_pb2.StyleProfile(user_id="ada", occasion=fashion_pb2.OCCASION_OFFICE)
    )

    request = workflow.steps["recommend"].build_request({}, {"profile": profile})

    assert request.profile.user_id == "ada"
    assert request.profile.occasion == fashion_pb2.OCCASION_PARTY


def test_a_step_without_inputs_builds_an_empty_request() -> None:
    step = compile_steps({"id": "trends", "method": TRENDS}).steps["trends"]

    assert step.build_request({}, {}) == recommendation_pb2.GetTrendsRequest()
