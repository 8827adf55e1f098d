"""Compile-time validation: every problem of a definition is one field
violation, and all of them are reported together."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from google.protobuf import json_format
from grpc_health.v1 import health_pb2

from aura.orchestrator.v1 import workflow_pb2
from orchestrator.errors import FieldViolation, InvalidArgument
from orchestrator.workflows import MethodRegistry, compile_workflow

REGISTRY = MethodRegistry.default()
NLU = "aura.nlu.v1.NluService/AnalyzeText"
GET_PROFILE = "aura.style.v1.StyleProfileService/GetStyleProfile"
OUTFITS = "aura.combination.v1.CombinationEngineService/GenerateOutfits"
TRENDS = "aura.recommendation.v1.RecommendationEngineService/GetTrends"

VALID: dict[str, Any] = {
    "name": "workflowDefinitions/demo",
    "steps": [
        {"id": "nlu", "method": NLU, "inputs": {"text": {"ref": "input.text"}}},
        {"id": "profile", "method": GET_PROFILE, "inputs": {"user_id": {"ref": "input.user_id"}}},
        {
            "id": "outfits",
            "method": OUTFITS,
            "depends_on": ["nlu", "profile"],  # keeps the graph whole when a test rewires
            "inputs": {
                "profile": {"ref": "steps.profile.profile"},
                "occasion": {"ref": "steps.nlu.occasion"},
            },
        },
    ],
}


def definition(changes: dict[str, Any] | None = None, **steps: dict[str, Any]) -> Any:
    """VALID with top-level `changes` and per-step changes, e.g. outfits={...};
    step inputs are merged into the existing ones."""
    data = copy.deepcopy(VALID)
    by_id = {step["id"]: step for step in data["steps"]}
    data.update(changes or {})
    for step_id, step_changes in steps.items():
        step = by_id[step_id]
        step.setdefault("inputs", {}).update(step_changes.pop("inputs", {}))
        step.update(step_changes)
    return data


def violations(data: dict[str, Any], registry: MethodRegistry = REGISTRY) -> list[FieldViolation]:
    parsed = json_format.ParseDict(data, workflow_pb2.WorkflowDefinition())
    with pytest.raises(InvalidArgument) as caught:
        compile_workflow(parsed, registry)
    assert caught.value.reason == "INVALID_WORKFLOW_DEFINITION"
    assert caught.value.violations
    return caught.value.violations


def only_violation(data: dict[str, Any], registry: MethodRegistry = REGISTRY) -> FieldViolation:
    found = violations(data, registry)
    assert len(found) == 1, found
    return found[0]


def test_the_base_definition_is_valid() -> None:
    parsed = json_format.ParseDict(VALID, workflow_pb2.WorkflowDefinition())

    assert compile_workflow(parsed, REGISTRY).steps.keys() == {"nlu", "profile", "outfits"}


def test_every_problem_is_reported_together() -> None:
    data = definition(
        {"name": "demo", "timeout": "7200s", "required_inputs": ["user id"]},
        nlu={"method": "aura.nlu.v1.NluService/Translate"},
        profile={"inputs": {"userid": {"ref": "input.user_id"}}, "depends_on": ["ghost"]},
        outfits={
            "inputs": {"profile": {"ref": "steps.nlu.occasion"}, "occasion": {"value": "BEACH"}},
            "retry": {"max_attempts": 11},
            "when": {"ref": "steps.profile.profile", "op": "OPERATOR_GREATER_THAN", "value": 1},
        },
    )

    assert [v.field for v in violations(data)] == [
        "name",
        "timeout",
        "required_inputs[0]",
        "steps[0].method",
        "steps[1].inputs.userid",
        "steps[1].depends_on[0]",
        "steps[2].inputs.occasion",
        "steps[2].when.ref",
        "steps[2].retry.max_attempts",
    ]


def test_the_error_message_leads_with_the_first_problem() -> None:
    data = definition(outfits={"inputs": {"profile": {"ref": "steps.nlu.occasion"}}})

    parsed = json_format.ParseDict(data, workflow_pb2.WorkflowDefinition())
    with pytest.raises(InvalidArgument) as caught:
        compile_workflow(parsed, REGISTRY)

    assert "workflowDefinitions/demo" in caught.value.message
    assert 'step "outfits"' in caught.value.message


class TestName:
    @pytest.mark.parametrize(
        "name",
        ["", "demo", "workflowDefinitions/", "workflowDefinitions/Demo", "workflows/demo",
         "workflowDefinitions/9demo", "workflowDefinitions/" + "a" * 64],
    )  # fmt: skip
    def test_must_be_workflow_definitions_slash_id(self, name: str) -> None:
        assert only_violation(definition({"name": name})).field == "name"

    def test_longest_id_is_fine(self) -> None:
        data = definition({"name": "workflowDefinitions/" + "a" * 63})
        parsed = json_format.ParseDict(data, workflow_pb2.WorkflowDefinition())

        assert compile_workflow(parsed, REGISTRY).definition_id == "a" * 63


def test_a_workflow_needs_a_step() -> None:
    assert only_violation(definition({"steps": []})).field == "steps"


class TestStepIds:
    def test_are_required(self) -> None:
        data = definition({"steps": [{"method": TRENDS}]})

        assert only_violation(data).field == "steps[0].id"

    @pytest.mark.parametrize("step_id", ["Trends", "1trends", "get-trends", "t" * 64])
    def test_must_be_well_formed(self, step_id: str) -> None:
        data = definition({"steps": [{"id": step_id, "method": TRENDS}]})

        found = only_violation(data)
        assert found.field == "steps[0].id"
        assert step_id in found.description

    def test_must_be_unique(self) -> None:
        data = definition()
        data["steps"].append({"id": "nlu", "method": NLU, "depends_on": ["profile"]})

        found = only_violation(data)
        assert found.field == "steps[3].id"
        assert "steps[0]" in found.description


class TestMethods:
    def test_are_required(self) -> None:
        found = only_violation(definition(nlu={"method": ""}))

        assert found.field == "steps[0].method"
        assert 'step "nlu"' in found.description

    @pytest.mark.parametrize(
        "method", ["AnalyzeText", "aura.nlu.v1.NluService.AnalyzeText", "NluService/AnalyzeText"]
    )
    def test_must_be_full_names(self, method: str) -> None:
        assert only_violation(definition(nlu={"method": method})).field == "steps[0].method"

    def test_must_be_known(self) -> None:
        found = only_violation(definition(nlu={"method": "aura.nlu.v1.NluService/Translate"}))

        assert found.field == "steps[0].method"
        assert "unknown method" in found.description
        assert "aura.nlu.v1.NluService" in found.description  # lists what is known

    def test_must_be_unary(self) -> None:
        registry = MethodRegistry(REGISTRY.methods())
        registry.register_file(health_pb2.DESCRIPTOR)
        data = definition(nlu={"method": "grpc.health.v1.Health/Watch", "inputs": {}})

        found = only_violation(data, registry)
        assert found.field == "steps[0].method"
        assert "unary" in found.description


class TestInputKeys:
    @pytest.mark.parametrize(
        "key",
        [
            "profil",  # no such field
            "profile.taste",  # no such field in StyleProfile
            "occasion.name",  # through an enum
            "wardrobe.sku",  # through a repeated field
            "profile..user_id",  # empty segment
        ],
    )
    def test_must_be_field_paths_of_the_request(self, key: str) -> None:
        data = definition(outfits={"inputs": {key: {"value": "x"}}})

        found = only_violation(data)
        assert found.field == f"steps[2].inputs.{key}"
        assert found.description.startswith(f'step "outfits": field "{key}"')

    def test_need_a_source(self) -> None:
        data = definition(outfits={"inputs": {"max_outfits": {}}})

        assert only_violation(data).field == "steps[2].inputs.max_outfits"


class TestReferences:
    @pytest.mark.parametrize(
        "ref",
        ["profile.profile", "input", "input.", "input.user id", "steps.", "steps.Profile.profile",
         "steps.profile.", "steps.profile..profile", "step.profile.profile", ""],
    )  # fmt: skip
    def test_must_be_well_formed(self, ref: str) -> None:
        data = definition(outfits={"inputs": {"profile": {"ref": ref}}})

        assert only_violation(data).field == "steps[2].inputs.profile"

    def test_must_name_an_existing_step(self) -> None:
        data = definition(outfits={"inputs": {"profile": {"ref": "steps.ghost.profile"}}})

        found = only_violation(data)
        assert found.field == "steps[2].inputs.profile"
        assert '"ghost"' in found.description

    def test_must_not_name_the_step_itself(self) -> None:
        data = definition(outfits={"inputs": {"profile": {"ref": "steps.outfits.outfits"}}})

        found = only_violation(data)
        assert found.field == "steps[2].inputs.profile"
        assert "itself" in found.description

    def test_must_name_a_field_of_the_response(self) -> None:
        data = definition(outfits={"inputs": {"profile": {"ref": "steps.profile.profile.taste"}}})

        found = only_violation(data)
        assert found.field == "steps[2].inputs.profile"
        assert "taste" in found.description


class TestWiringTypes:
    @pytest.mark.parametrize(
        ("key", "ref"),
        [
            ("profile", "steps.nlu.occasion"),  # enum into a message
            ("occasion", "steps.nlu.intent"),  # another enum type
            ("occasion", "steps.profile.profile"),  # message into an enum
            ("trends", "steps.profile.profile"),  # singular into repeated
            ("profile", "steps.nlu.style_keywords"),  # repeated into singular
            ("max_outfits", "steps.nlu.confidence"),  # float into int32
            ("max_outfits", "steps.nlu.style_keywords"),  # repeated string into int32
            ("profile", "steps.profile"),  # a whole GetStyleProfileResponse is no StyleProfile
            ("wardrobe", "steps.nlu.entities"),  # repeated messages of another type
        ],
    )
    def test_must_match(self, key: str, ref: str) -> None:
        data = definition(outfits={"inputs": {key: {"ref": ref}}})

        found = only_violation(data)
        assert found.field == f"steps[2].inputs.{key}"
        assert "expects" in found.description

    def test_names_both_types(self) -> None:
        data = definition(outfits={"inputs": {"profile": {"ref": "steps.nlu.occasion"}}})

        assert only_violation(data).description == (
            'step "outfits": field "profile" takes steps.nlu.occasion: '
            "expects aura.common.v1.StyleProfile, got enum aura.common.v1.Occasion"
        )

    def test_same_message_enum_and_repeated_types_match(self) -> None:
        data = definition(
            outfits={
                "inputs": {
                    "profile": {"ref": "steps.profile.profile"},
                    "occasion": {"ref": "steps.profile.profile.occasion"},
                    "profile.user_id": {"ref": "steps.profile.profile.user_id"},
                    "profile.preferred_categories": {
                        "ref": "steps.profile.profile.preferred_categories"
                    },
                    "max_outfits": {"ref": "steps.profile.profile.version"},
                }
            }
        )
        parsed = json_format.ParseDict(data, workflow_pb2.WorkflowDefinition())

        assert compile_workflow(parsed, REGISTRY).steps["outfits"].deps == {"nlu", "profile"}


class TestLiterals:
    @pytest.mark.parametrize(
        ("key", "value"),
        [
            ("occasion", "OCCASION_BEACH"),
            ("max_outfits", "three"),
            ("max_outfits", 2.5),
            ("profile", "ada"),
            ("profile", {"taste": "classic"}),
            ("trends", {"style": "boho"}),
            ("profile.version", 1e12),
        ],
    )
    def test_must_convert_to_the_field_type(self, key: str, value: Any) -> None:
        data = definition(outfits={"inputs": {key: {"value": value}}})

        found = only_violation(data)
        assert found.field == f"steps[2].inputs.{key}"
        assert "cannot take the value" in found.description


class TestDependsOn:
    def test_entries_must_exist(self) -> None:
        data = definition(outfits={"depends_on": ["nlu", "profile", "ghost"]})

        found = only_violation(data)
        assert found.field == "steps[2].depends_on[2]"
        assert '"ghost"' in found.description

    def test_entries_must_not_be_the_step_itself(self) -> None:
        assert only_violation(definition(nlu={"depends_on": ["nlu"]})).field == (
            "steps[0].depends_on[0]"
        )

    def test_entries_must_be_step_ids(self) -> None:
        assert only_violation(definition(nlu={"depends_on": ["Not An Id"]})).field == (
            "steps[0].depends_on[0]"
        )

    def test_entries_add_dependencies(self) -> None:
        data = definition(nlu={"depends_on": ["profile"]})
        parsed = json_format.ParseDict(data, workflow_pb2.WorkflowDefinition())

        workflow = compile_workflow(parsed, REGISTRY)
        assert workflow.steps["nlu"].deps == {"profile"}
        assert workflow.topological_order == ("profile", "nlu", "outfits")


class TestConditions:
    def test_need_a_ref(self) -> None:
        data = definition(outfits={"when": {"op": "OPERATOR_IS_SET"}})

        assert only_violation(data).field == "steps[2].when.ref"

    def test_refs_are_checked_like_input_refs(self) -> None:
        data = definition(outfits={"when": {"ref": "steps.ghost", "op": "OPERATOR_IS_SET"}})

        assert only_violation(data).field == "steps[2].when.ref"

    @pytest.mark.parametrize("op", ["OPERATOR_UNSPECIFIED", 42])
    def test_need_a_known_operator(self, op: Any) -> None:
        data = definition(outfits={"when": {"ref": "steps.nlu.intent", "op": op}})

        assert only_violation(data).field == "steps[2].when.op"

    @pytest.mark.parametrize(
        "op",
        ["OPERATOR_EQUALS", "OPERATOR_NOT_EQUALS", "OPERATOR_GREATER_THAN", "OPERATOR_LESS_THAN"],
    )
    def test_comparisons_need_a_value(self, op: str) -> None:
        data = definition(outfits={"when": {"ref": "steps.nlu.confidence", "op": op}})

        assert only_violation(data).field == "steps[2].when.value"

    def test_equals_value_must_fit_the_referenced_field(self) -> None:
        data = definition(
            outfits={"when": {"ref": "steps.nlu.intent", "op": "OPERATOR_EQUALS", "value": "SHOP"}}
        )

        assert only_violation(data).field == "steps[2].when.value"

    def test_numeric_operators_need_a_numeric_field(self) -> None:
        when = {"ref": "steps.nlu.style_keywords", "op": "OPERATOR_GREATER_THAN", "value": 1}

        assert only_violation(definition(outfits={"when": when})).field == "steps[2].when.ref"

    def test_numeric_operators_need_a_numeric_value(self) -> None:
        when = {"ref": "input.budget", "op": "OPERATOR_LESS_THAN", "value": "300"}

        assert only_violation(definition(outfits={"when": when})).field == "steps[2].when.value"


class TestGraph:
    def test_cycles_are_reported_with_their_steps(self) -> None:
        data = definition(nlu={"depends_on": ["outfits"]})

        found = only_violation(data)
        assert found.field == "steps[0]"
        assert found.description == 'steps form a dependency cycle: "nlu" -> "outfits" -> "nlu"'

    def test_every_cycle_is_reported(self) -> None:
        data = definition(profile={"depends_on": ["outfits"]})
        data["steps"] += [
            {"id": "a", "method": TRENDS, "depends_on": ["b", "nlu"]},
            {"id": "b", "method": TRENDS, "depends_on": ["a"]},
        ]

        found = violations(data)
        assert [v.field for v in found] == ["steps[1]", "steps[3]"]
        assert '"a" -> "b" -> "a"' in found[1].description

    def test_a_step_connected_to_nothing_is_unreachable(self) -> None:
        data = definition()
        data["steps"].append({"id": "trends", "method": TRENDS})

        found = only_violation(data)
        assert found.field == "steps[3]"
        assert 'step "trends" is unreachable from the rest of the workflow' in found.description

    def test_every_step_of_a_separate_component_is_unreachable(self) -> None:
        data = definition()
        data["steps"] += [
            {"id": "trends", "method": TRENDS},
            {"id": "more_trends", "method": TRENDS, "depends_on": ["trends"]},
        ]

        assert [v.field for v in violations(data)] == ["steps[3]", "steps[4]"]

    def test_a_single_step_workflow_is_fine(self) -> None:
        data = definition({"steps": [{"id": "trends", "method": TRENDS}]})
        parsed = json_format.ParseDict(data, workflow_pb2.WorkflowDefinition())

        assert compile_workflow(parsed, REGISTRY).topological_order == ("trends",)

    def test_graph_edges_point_from_dependency_to_dependant(self) -> None:
        parsed = json_format.ParseDict(VALID, workflow_pb2.WorkflowDefinition())

        graph = compile_workflow(parsed, REGISTRY).graph
        assert sorted(graph.edges) == [("nlu", "outfits"), ("profile", "outfits")]


class TestTimeouts:
    @pytest.mark.parametrize("timeout", ["0s", "-1s", "3600.001s"])
    def test_workflow_timeout_must_be_positive_and_at_most_an_hour(self, timeout: str) -> None:
        assert only_violation(definition({"timeout": timeout})).field == "timeout"

    @pytest.mark.parametrize("timeout", ["0s", "-0.5s", "7200s"])
    def test_step_timeout_must_be_positive_and_at_most_an_hour(self, timeout: str) -> None:
        assert only_violation(definition(nlu={"timeout": timeout})).field == "steps[0].timeout"

    def test_defaults_and_limits(self) -> None:
        data = definition({"timeout": "3600s"}, nlu={"timeout": "0.25s"})
        parsed = json_format.ParseDict(data, workflow_pb2.WorkflowDefinition())

        workflow = compile_workflow(parsed, REGISTRY)
        assert workflow.timeout_s == 3600
        assert workflow.steps["nlu"].timeout_s == 0.25
        assert workflow.steps["profile"].timeout_s == 10


class TestRetry:
    @pytest.mark.parametrize(
        ("retry", "field"),
        [
            ({"max_attempts": 11}, "max_attempts"),
            ({"max_attempts": -1}, "max_attempts"),
            ({"initial_backoff": "-0.1s"}, "initial_backoff"),
            ({"max_backoff": "-1s"}, "max_backoff"),
            ({"initial_backoff": "2s", "max_backoff": "1s"}, "max_backoff"),
            ({"initial_backoff": "6s"}, "max_backoff"),  # above the default max of 5s
            ({"backoff_multiplier": 0.5}, "backoff_multiplier"),
            ({"backoff_multiplier": -2}, "backoff_multiplier"),
            ({"retryable_status_codes": ["UNAVAILABLE", "INVALID_ARGUMENT"]},
             "retryable_status_codes[1]"),
            ({"retryable_status_codes": ["DEADLINE_EXCEEDED"]}, "retryable_status_codes[0]"),
            ({"retryable_status_codes": ["CANCELLED"]}, "retryable_status_codes[0]"),
            ({"retryable_status_codes": ["OK"]}, "retryable_status_codes[0]"),
        ],
    )  # fmt: skip
    def test_policy_limits(self, retry: dict[str, Any], field: str) -> None:
        found = only_violation(definition(nlu={"retry": retry}))

        assert found.field == f"steps[0].retry.{field}"
        assert found.description.startswith('step "nlu": ')

    def test_defaults_fill_in_unset_values(self) -> None:
        import grpc

        data = definition(
            nlu={"retry": {"max_attempts": 5, "retryable_status_codes": ["RESOURCE_EXHAUSTED"]}},
            profile={"retry": {}},
        )
        parsed = json_format.ParseDict(data, workflow_pb2.WorkflowDefinition())

        steps = compile_workflow(parsed, REGISTRY).steps
        nlu, profile, outfits = steps["nlu"].retry, steps["profile"].retry, steps["outfits"].retry
        assert (nlu.max_attempts, nlu.initial_backoff_s, nlu.max_backoff_s, nlu.multiplier) == (
            5,
            0.1,
            5.0,
            2.0,
        )
        assert nlu.retryable_codes == {grpc.StatusCode.RESOURCE_EXHAUSTED}
        assert profile == outfits
        assert outfits.max_attempts == 3
        assert outfits.retryable_codes == {grpc.StatusCode.UNAVAILABLE}


class TestRequiredInputs:
    @pytest.mark.parametrize("key", ["", "user id", "user.id", "ü"])
    def test_keys_must_be_well_formed(self, key: str) -> None:
        found = only_violation(definition({"required_inputs": ["text", key]}))

        assert found.field == "required_inputs[1]"

    def test_keys_are_listed_once(self) -> None:
        found = only_violation(definition({"required_inputs": ["text", "text"]}))

        assert found.field == "required_inputs[1]"

    def test_missing_required_inputs_are_reported_together(self) -> None:
        data = definition({"required_inputs": ["text", "user_id"]})
        workflow = compile_workflow(
            json_format.ParseDict(data, workflow_pb2.WorkflowDefinition()), REGISTRY
        )

        workflow.check_input({"text": "hi", "user_id": "ada"})
        with pytest.raises(InvalidArgument) as caught:
            workflow.check_input({"user_id": None})
        assert [v.field for v in caught.value.violations] == ["input.text", "input.user_id"]


def test_the_compiled_definition_is_a_copy_as_authored() -> None:
    parsed = json_format.ParseDict(VALID, workflow_pb2.WorkflowDefinition())

    workflow = compile_workflow(parsed, REGISTRY)
    parsed.steps[0].id = "changed"

    assert workflow.definition == json_format.ParseDict(VALID, workflow_pb2.WorkflowDefinition())
    assert not workflow.definition.HasField("timeout")


@pytest.mark.parametrize("limit", [-1, 100_001])
def test_max_concurrent_runs_out_of_range_is_a_violation(limit: int) -> None:
    found = violations(definition({"max_concurrent_runs": limit}))
    assert [v.field for v in found] == ["max_concurrent_runs"]


@pytest.mark.parametrize("limit", [0, 1, 100_000])
def test_max_concurrent_runs_in_range_compiles(limit: int) -> None:
    parsed = json_format.ParseDict(
        definition({"max_concurrent_runs": limit}), workflow_pb2.WorkflowDefinition()
    )
    assert compile_workflow(parsed, REGISTRY).definition.max_concurrent_runs == limit
