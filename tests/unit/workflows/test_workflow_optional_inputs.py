"""Optional inputs: a step that reads another step only through optional inputs
runs without it when it failed or was skipped; checked once, at registration."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from google.protobuf import json_format

from aura.common.v1 import fashion_pb2
from aura.nlu.v1 import nlu_pb2
from aura.orchestrator.v1 import workflow_pb2
from aura.style.v1 import style_pb2
from orchestrator.errors import FieldViolation, InvalidArgument
from orchestrator.workflows import (
    CompiledWorkflow,
    MethodRegistry,
    compile_workflow,
    seed_definitions,
)

REGISTRY = MethodRegistry.default()
NLU = "aura.nlu.v1.NluService/AnalyzeText"
GET_PROFILE = "aura.style.v1.StyleProfileService/GetStyleProfile"
OUTFITS = "aura.combination.v1.CombinationEngineService/GenerateOutfits"

BASE: dict[str, Any] = {
    "name": "workflowDefinitions/demo",
    "steps": [
        {"id": "nlu", "method": NLU, "inputs": {"text": {"ref": "input.text"}}},
        {"id": "profile", "method": GET_PROFILE, "inputs": {"user_id": {"ref": "input.user_id"}}},
        {
            "id": "outfits",
            "method": OUTFITS,
            "inputs": {
                "profile": {"ref": "steps.profile.profile"},
                "occasion": {"ref": "steps.nlu.occasion", "optional": True},
            },
        },
    ],
}


def with_outfit_inputs(**inputs: dict[str, Any]) -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    data["steps"][2]["inputs"].update(inputs)
    return data


def compiled(data: dict[str, Any]) -> CompiledWorkflow:
    return compile_workflow(
        json_format.ParseDict(data, workflow_pb2.WorkflowDefinition()), REGISTRY
    )


def violations(data: dict[str, Any]) -> list[FieldViolation]:
    with pytest.raises(InvalidArgument) as caught:
        compiled(data)
    assert caught.value.reason == "INVALID_WORKFLOW_DEFINITION"
    return caught.value.violations


def test_a_step_read_only_through_optional_inputs_is_a_dependency_it_can_do_without() -> None:
    outfits = compiled(BASE).steps["outfits"]

    assert outfits.deps == {"profile", "nlu"}
    assert outfits.optional_deps == {"nlu"}
    assert outfits.required_deps == {"profile"}


def test_a_step_read_by_one_required_input_stays_required() -> None:
    data = with_outfit_inputs(**{"profile.occasion": {"ref": "steps.nlu.occasion"}})

    outfits = compiled(data).steps["outfits"]

    assert outfits.optional_deps == frozenset()
    assert outfits.required_deps == {"profile", "nlu"}


def test_a_step_named_in_depends_on_stays_required() -> None:
    data = copy.deepcopy(BASE)
    data["steps"][2]["depends_on"] = ["nlu"]

    assert compiled(data).steps["outfits"].required_deps == {"profile", "nlu"}


def test_without_the_source_output_an_optional_input_is_left_unset() -> None:
    outfits = compiled(BASE).steps["outfits"]
    profile = style_pb2.GetStyleProfileResponse(profile=fashion_pb2.StyleProfile(user_id="ada"))

    request = outfits.build_request({}, {"profile": profile})

    assert request.profile.user_id == "ada"
    assert request.occasion == fashion_pb2.OCCASION_UNSPECIFIED


def test_a_default_stands_in_when_the_source_did_not_answer_or_left_the_value_unset() -> None:
    data = with_outfit_inputs(
        occasion={"ref": "steps.nlu.occasion", "default_value": "OCCASION_CASUAL"}
    )
    outfits = compiled(data).steps["outfits"]

    assert outfits.optional_deps == {"nlu"}  # a default makes the input optional
    assert outfits.build_request({}, {}).occasion == fashion_pb2.OCCASION_CASUAL
    unset = nlu_pb2.AnalyzeTextResponse()
    assert outfits.build_request({}, {"nlu": unset}).occasion == fashion_pb2.OCCASION_CASUAL
    formal = nlu_pb2.AnalyzeTextResponse(occasion=fashion_pb2.OCCASION_FORMAL)
    assert outfits.build_request({}, {"nlu": formal}).occasion == fashion_pb2.OCCASION_FORMAL


@pytest.mark.parametrize(
    ("source", "field"),
    [
        ({"value": 3, "optional": True}, "steps[2].inputs.max_outfits.optional"),
        ({"value": 3, "default_value": 2}, "steps[2].inputs.max_outfits.default_value"),
        ({"ref": "input.count", "optional": True}, "steps[2].inputs.max_outfits.optional"),
    ],
)
def test_optional_and_default_apply_to_step_references_only(
    source: dict[str, Any], field: str
) -> None:
    found = violations(with_outfit_inputs(max_outfits=source))

    assert [v.field for v in found] == [field]
    assert "step references" in found[0].description


def test_a_default_must_convert_to_the_field_type() -> None:
    data = with_outfit_inputs(occasion={"ref": "steps.nlu.occasion", "default_value": "PARTY"})

    found = violations(data)

    assert [v.field for v in found] == ["steps[2].inputs.occasion.default_value"]
    assert "enum aura.common.v1.Occasion" in found[0].description


def test_an_optional_input_is_type_checked_like_any_other() -> None:
    data = with_outfit_inputs(occasion={"ref": "steps.nlu.style_keywords", "optional": True})

    assert [v.field for v in violations(data)] == ["steps[2].inputs.occasion"]


@pytest.mark.parametrize(
    ("seed", "step", "optional_deps"),
    [
        ("outfit_recommendation", "outfits", {"trends"}),
        ("personalized_shopping", "recommendations", {"trends"}),
    ],
)
def test_the_seeds_read_their_optional_enrichment_through_optional_inputs(
    seed: str, step: str, optional_deps: set[str]
) -> None:
    definition = next(d for d in seed_definitions() if d.name.endswith("/" + seed))

    compiled_step = compile_workflow(definition, REGISTRY).steps[step]

    assert compiled_step.optional_deps == optional_deps
    assert "trends" in compiled_step.deps
