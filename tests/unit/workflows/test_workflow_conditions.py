"""`when` conditions: whether a step runs, from the run input or earlier outputs."""

from __future__ import annotations

from typing import Any

import pytest
from google.protobuf import json_format

from aura.common.v1 import fashion_pb2
from aura.nlu.v1 import nlu_pb2
from aura.orchestrator.v1 import workflow_pb2
from orchestrator.workflows import CompiledStep, MethodRegistry, compile_workflow

REGISTRY = MethodRegistry.default()

SHOP_WITH_BUDGET = nlu_pb2.AnalyzeTextResponse(
    intent=nlu_pb2.INTENT_SHOP,
    occasion=fashion_pb2.OCCASION_OFFICE,
    style_keywords=["classic"],
    budget=nlu_pb2.Budget(max_price=fashion_pb2.Money(currency_code="EUR", units=300)),
    confidence=0.75,
)
NOTHING_FOUND = nlu_pb2.AnalyzeTextResponse()


def gated_step(ref: str, op: str, value: Any = None) -> CompiledStep:
    """A trends step that runs after `nlu` when the condition holds."""
    when: dict[str, Any] = {"ref": ref, "op": op}
    if value is not None:
        when["value"] = value
    definition = json_format.ParseDict(
        {
            "name": "workflowDefinitions/gated",
            "steps": [
                {"id": "nlu", "method": "aura.nlu.v1.NluService/AnalyzeText"},
                {
                    "id": "trends",
                    "method": "aura.recommendation.v1.RecommendationEngineService/GetTrends",
                    "depends_on": ["nlu"],
                    "when": when,
                },
            ],
        },
        workflow_pb2.WorkflowDefinition(),
    )
    return compile_workflow(definition, REGISTRY).steps["trends"]


def on_nlu(step: CompiledStep, response: nlu_pb2.AnalyzeTextResponse) -> bool:
    return step.should_run({}, {"nlu": response})


def test_a_step_without_condition_always_runs() -> None:
    definition = workflow_pb2.WorkflowDefinition(
        name="workflowDefinitions/plain",
        steps=[workflow_pb2.WorkflowStep(id="nlu", method="aura.nlu.v1.NluService/AnalyzeText")],
    )

    assert compile_workflow(definition, REGISTRY).steps["nlu"].should_run({}, {})


def test_a_condition_makes_its_step_a_dependant() -> None:
    step = gated_step("steps.nlu.intent", "OPERATOR_IS_SET")

    assert step.deps == {"nlu"}


class TestOnStepOutputs:
    def test_equals_compares_enum_fields_by_name(self) -> None:
        step = gated_step("steps.nlu.intent", "OPERATOR_EQUALS", "INTENT_SHOP")

        assert on_nlu(step, SHOP_WITH_BUDGET)
        assert not on_nlu(step, NOTHING_FOUND)

    def test_not_equals_is_the_opposite(self) -> None:
        step = gated_step("steps.nlu.occasion", "OPERATOR_NOT_EQUALS", "OCCASION_UNSPECIFIED")

        assert on_nlu(step, SHOP_WITH_BUDGET)
        assert not on_nlu(step, NOTHING_FOUND)

    def test_equals_compares_messages_through_the_json_mapping(self) -> None:
        step = gated_step(
            "steps.nlu.budget.max_price",
            "OPERATOR_EQUALS",
            {"currencyCode": "EUR", "units": "300"},
        )

        assert on_nlu(step, SHOP_WITH_BUDGET)
        assert not on_nlu(step, NOTHING_FOUND)

    def test_equals_compares_repeated_fields_element_by_element(self) -> None:
        step = gated_step("steps.nlu.style_keywords", "OPERATOR_EQUALS", ["classic"])

        assert on_nlu(step, SHOP_WITH_BUDGET)
        assert not on_nlu(step, NOTHING_FOUND)

    def test_is_set_means_a_present_message(self) -> None:
        step = gated_step("steps.nlu.budget", "OPERATOR_IS_SET")

        assert on_nlu(step, SHOP_WITH_BUDGET)
        assert not on_nlu(step, NOTHING_FOUND)

    def test_is_set_means_a_non_default_scalar_or_a_non_empty_list(self) -> None:
        assert on_nlu(gated_step("steps.nlu.confidence", "OPERATOR_IS_SET"), SHOP_WITH_BUDGET)
        assert not on_nlu(gated_step("steps.nlu.confidence", "OPERATOR_IS_SET"), NOTHING_FOUND)
        assert on_nlu(gated_step("steps.nlu.style_keywords", "OPERATOR_IS_SET"), SHOP_WITH_BUDGET)
        assert not on_nlu(gated_step("steps.nlu.colors", "OPERATOR_IS_SET"), SHOP_WITH_BUDGET)

    def test_is_not_set_through_an_unset_message(self) -> None:
        step = gated_step("steps.nlu.budget.max_price.units", "OPERATOR_IS_NOT_SET")

        assert on_nlu(step, NOTHING_FOUND)
        assert not on_nlu(step, SHOP_WITH_BUDGET)

    def test_greater_than_and_less_than_compare_numbers(self) -> None:
        above = gated_step("steps.nlu.confidence", "OPERATOR_GREATER_THAN", 0.5)
        below = gated_step("steps.nlu.budget.max_price.units", "OPERATOR_LESS_THAN", 500)

        assert on_nlu(above, SHOP_WITH_BUDGET)
        assert not on_nlu(above, NOTHING_FOUND)
        assert on_nlu(below, SHOP_WITH_BUDGET)
        assert on_nlu(below, NOTHING_FOUND)  # unset units read as 0

    def test_the_whole_response_can_be_tested(self) -> None:
        step = gated_step("steps.nlu", "OPERATOR_EQUALS", {})

        assert on_nlu(step, NOTHING_FOUND)
        assert not on_nlu(step, SHOP_WITH_BUDGET)

    @pytest.mark.parametrize(
        ("op", "value", "holds"),
        [
            ("OPERATOR_EQUALS", "INTENT_SHOP", False),
            ("OPERATOR_NOT_EQUALS", "INTENT_SHOP", True),
            ("OPERATOR_IS_SET", None, False),
            ("OPERATOR_IS_NOT_SET", None, True),
            ("OPERATOR_GREATER_THAN", -1, False),
            ("OPERATOR_LESS_THAN", 1, False),
        ],
    )
    def test_a_step_without_output_counts_as_absent(self, op: str, value: Any, holds: bool) -> None:
        ref = "steps.nlu.confidence" if op.endswith("_THAN") else "steps.nlu.intent"

        assert gated_step(ref, op, value).should_run({}, {}) is holds


class TestOnRunInput:
    @pytest.mark.parametrize(
        ("run_input", "holds"),
        [({"mode": "quick"}, True), ({"mode": "full"}, False), ({}, False)],
    )
    def test_equals(self, run_input: dict[str, Any], holds: bool) -> None:
        step = gated_step("input.mode", "OPERATOR_EQUALS", "quick")

        assert step.should_run(run_input, {}) is holds

    @pytest.mark.parametrize(
        ("run_input", "holds"),
        [({"mode": "quick"}, False), ({"mode": "full"}, True), ({}, True)],
    )
    def test_not_equals(self, run_input: dict[str, Any], holds: bool) -> None:
        step = gated_step("input.mode", "OPERATOR_NOT_EQUALS", "quick")

        assert step.should_run(run_input, {}) is holds

    def test_equals_tells_booleans_from_numbers(self) -> None:
        step = gated_step("input.flag", "OPERATOR_EQUALS", True)

        assert step.should_run({"flag": True}, {})
        assert not step.should_run({"flag": 1.0}, {})

    @pytest.mark.parametrize(
        ("run_input", "holds"),
        [
            ({"season": "2026-winter"}, True),
            ({"season": ""}, False),
            ({"season": None}, False),
            ({}, False),
            ({"season": 0.0}, False),
            ({"season": []}, False),
            ({"season": ["x"]}, True),
        ],
    )
    def test_is_set_and_is_not_set(self, run_input: dict[str, Any], holds: bool) -> None:
        assert gated_step("input.season", "OPERATOR_IS_SET").should_run(run_input, {}) is holds
        is_not_set = gated_step("input.season", "OPERATOR_IS_NOT_SET")
        assert is_not_set.should_run(run_input, {}) is not holds

    @pytest.mark.parametrize(
        ("run_input", "greater", "less"),
        [
            ({"budget": 350.0}, True, False),
            ({"budget": 100}, False, True),
            ({"budget": "350"}, True, False),
            ({"budget": "cheap"}, False, False),
            ({"budget": True}, False, False),
            ({}, False, False),
        ],
    )
    def test_greater_than_and_less_than(
        self, run_input: dict[str, Any], greater: bool, less: bool
    ) -> None:
        assert (
            gated_step("input.budget", "OPERATOR_GREATER_THAN", 300).should_run(run_input, {})
            is greater
        )
        assert (
            gated_step("input.budget", "OPERATOR_LESS_THAN", 300).should_run(run_input, {}) is less
        )

    def test_nested_keys(self) -> None:
        step = gated_step("input.user.tier", "OPERATOR_EQUALS", "gold")

        assert step.should_run({"user": {"tier": "gold"}}, {})
        assert not step.should_run({"user": "gold"}, {})
