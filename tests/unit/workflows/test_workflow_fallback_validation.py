"""Fallbacks are checked once, at registration: exactly one kind, a known unary method
that is not the step's own and produces the step's output type, well-wired inputs,
a bounded max_age."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from google.protobuf import json_format

from aura.common.v1 import fashion_pb2
from aura.orchestrator.v1 import workflow_pb2
from aura.style.v1 import style_pb2
from orchestrator.errors import FieldViolation, InvalidArgument
from orchestrator.workflows import (
    CompiledWorkflow,
    FallbackMethod,
    LastGoodAnswer,
    MethodRegistry,
    compile_workflow,
    seed_definitions,
)

REGISTRY = MethodRegistry.default()
NLU = "aura.nlu.v1.NluService/AnalyzeText"
BUILD_PROFILE = "aura.style.v1.StyleProfileService/BuildStyleProfile"
GET_PROFILE = "aura.style.v1.StyleProfileService/GetStyleProfile"
GET_HISTORY = "aura.style.v1.StyleProfileService/GetStyleHistory"
OUTFITS = "aura.combination.v1.CombinationEngineService/GenerateOutfits"

BASE: dict[str, Any] = {
    "name": "workflowDefinitions/demo",
    "steps": [
        {"id": "nlu", "method": NLU, "inputs": {"text": {"ref": "input.text"}}},
        {
            "id": "profile",
            "method": BUILD_PROFILE,
            "inputs": {
                "user_id": {"ref": "input.user_id"},
                "text_style_keywords": {"ref": "steps.nlu.style_keywords"},
            },
        },
        {
            "id": "outfits",
            "method": OUTFITS,
            "inputs": {"profile": {"ref": "steps.profile.profile"}},
        },
    ],
}


def with_fallback(fallback: dict[str, Any], step: int = 1) -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    data["steps"][step]["fallback"] = fallback
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


def fields(data: dict[str, Any]) -> list[str]:
    return [v.field for v in violations(data)]


GOOD_METHOD_FALLBACK = {
    "method": GET_PROFILE,
    "inputs": {"user_id": {"ref": "input.user_id"}},
    "timeout": "1.5s",
}


def test_a_fallback_method_with_the_same_response_fields_compiles() -> None:
    step = compiled(with_fallback(GOOD_METHOD_FALLBACK)).steps["profile"]

    assert isinstance(step.fallback, FallbackMethod)
    assert step.fallback.method.full_name == GET_PROFILE
    assert step.fallback.timeout_s == 1.5
    request = step.fallback.build_request({"user_id": "ada"}, {})
    assert request == style_pb2.GetStyleProfileRequest(user_id="ada")


def test_a_fallback_answer_is_read_as_the_step_response_type() -> None:
    step = compiled(with_fallback(GOOD_METHOD_FALLBACK)).steps["profile"]
    assert isinstance(step.fallback, FallbackMethod)
    stored = style_pb2.GetStyleProfileResponse(
        profile=fashion_pb2.StyleProfile(user_id="ada", version=4)
    )

    answer = step.fallback.as_step_response(stored, step.method.response_class)

    assert isinstance(answer, style_pb2.BuildStyleProfileResponse)
    assert answer.profile.user_id == "ada" and answer.profile.version == 4


def test_a_fallback_method_timeout_defaults_to_the_step_timeout() -> None:
    data = with_fallback({"method": GET_PROFILE})
    data["steps"][1]["timeout"] = "4s"

    step = compiled(data).steps["profile"]

    assert isinstance(step.fallback, FallbackMethod)
    assert step.fallback.timeout_s == 4.0


def test_a_last_good_answer_fallback_compiles_with_its_bound() -> None:
    step = compiled(with_fallback({"last_good_answer": {"max_age": "300s"}})).steps["profile"]

    assert step.fallback == LastGoodAnswer(max_age_s=300.0)


def test_a_step_a_fallback_reads_is_a_dependency_that_never_skips_the_step() -> None:
    data = copy.deepcopy(BASE)
    data["steps"][1] = {
        "id": "profile",
        "method": GET_PROFILE,
        "inputs": {"user_id": {"ref": "input.user_id"}},
        "fallback": {
            "method": BUILD_PROFILE,
            "inputs": {
                "user_id": {"ref": "input.user_id"},
                "text_style_keywords": {"ref": "steps.nlu.style_keywords"},
            },
        },
    }

    step = compiled(data).steps["profile"]

    assert step.deps == {"nlu"}
    assert step.required_deps == frozenset()


def test_a_fallback_input_is_type_checked() -> None:
    data = with_fallback(
        {"method": GET_PROFILE, "inputs": {"user_id": {"ref": "steps.nlu.intent"}}}
    )

    found = violations(data)

    assert [v.field for v in found] == ["steps[1].fallback.inputs.user_id"]
    assert "steps.nlu.intent" in found[0].description


@pytest.mark.parametrize(
    ("fallback", "field", "words"),
    [
        ({}, "steps[1].fallback", "exactly one"),
        (
            {"method": GET_PROFILE, "last_good_answer": {"max_age": "60s"}},
            "steps[1].fallback",
            "exactly one",
        ),
        (
            {"method": "aura.style.v1.StyleProfileService/Guess"},
            "steps[1].fallback.method",
            "unknown",
        ),
        ({"method": "style/GetStyleProfile"}, "steps[1].fallback.method", "full method name"),
        ({"method": BUILD_PROFILE}, "steps[1].fallback.method", "another method"),
        ({"method": GET_HISTORY}, "steps[1].fallback.method", "output type"),
        ({"method": NLU}, "steps[1].fallback.method", "output type"),
        (
            {"method": GET_PROFILE, "inputs": {"userid": {"ref": "input.user_id"}}},
            "steps[1].fallback.inputs.userid",
            "not a request field",
        ),
        (
            {"method": GET_PROFILE, "inputs": {"user_id": {"ref": "steps.ghost"}}},
            "steps[1].fallback.inputs.user_id",
            "unknown step",
        ),
        ({"method": GET_PROFILE, "timeout": "-1s"}, "steps[1].fallback.timeout", "positive"),
        ({"last_good_answer": {}}, "steps[1].fallback.last_good_answer.max_age", "positive"),
        (
            {"last_good_answer": {"max_age": "90000s"}},
            "steps[1].fallback.last_good_answer.max_age",
            "24h",
        ),
        (
            {"last_good_answer": {"max_age": "60s"}, "timeout": "1s"},
            "steps[1].fallback.timeout",
            "fallback method",
        ),
        (
            {"last_good_answer": {"max_age": "60s"}, "inputs": {"x": {"value": 1}}},
            "steps[1].fallback.inputs",
            "fallback method",
        ),
    ],
)
def test_a_bad_fallback_is_one_field_violation(
    fallback: dict[str, Any], field: str, words: str
) -> None:
    found = violations(with_fallback(fallback))

    assert [v.field for v in found] == [field]
    assert words in found[0].description


def test_fallback_problems_are_reported_with_the_rest() -> None:
    data = with_fallback({"method": GET_HISTORY})
    data["steps"][2]["inputs"]["occasion"] = {"value": "BEACH"}
    data["steps"][0]["fallback"] = {"last_good_answer": {"max_age": "0s"}}

    assert fields(data) == [
        "steps[0].fallback.last_good_answer.max_age",
        "steps[1].fallback.method",
        "steps[2].inputs.occasion",
    ]


def test_the_seeds_name_their_fallbacks() -> None:
    seeds = {d.name.rpartition("/")[2]: compile_workflow(d, REGISTRY) for d in seed_definitions()}

    profile = seeds["complete_style_analysis"].steps["profile"].fallback
    assert isinstance(profile, FallbackMethod) and profile.method.full_name == GET_PROFILE
    for seed, step in [
        ("outfit_recommendation", "profile"),
        ("outfit_recommendation", "trends"),
        ("personalized_shopping", "profile"),
        ("personalized_shopping", "trends"),
        ("style_evolution_analysis", "history"),
        ("style_evolution_analysis", "trends"),
        ("trend_analysis", "trends"),
        ("trend_analysis", "profile"),
    ]:
        assert isinstance(seeds[seed].steps[step].fallback, LastGoodAnswer), (seed, step)
