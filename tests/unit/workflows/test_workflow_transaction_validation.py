"""Transaction groups and compensations are checked once, at registration: a group's
steps exist, belong to one group, can all start together and are plain calls; a
compensation names a known method and reads only the run input and its own step."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from google.protobuf import json_format

from aura.combination.v1 import combination_pb2
from aura.orchestrator.v1 import workflow_pb2
from orchestrator.errors import InvalidArgument
from orchestrator.workflows import CompiledWorkflow, MethodRegistry, compile_workflow

REGISTRY = MethodRegistry.default()
SAVE = "aura.combination.v1.CombinationEngineService/SaveOutfit"
REMOVE = "aura.combination.v1.CombinationEngineService/RemoveOutfit"
LEARN = "aura.style.v1.StyleProfileService/LearnAdoptedOutfit"
PROFILE = "aura.style.v1.StyleProfileService/GetStyleProfile"
ADOPT_INPUTS = {
    "user_id": {"ref": "input.user_id"},
    "outfit_id": {"ref": "input.outfit_id"},
    "item_skus": {"ref": "input.item_skus"},
}
BASE: dict[str, Any] = {
    "name": "workflowDefinitions/demo",
    "steps": [
        {"id": "profile", "method": PROFILE, "inputs": {"user_id": {"ref": "input.user_id"}}},
        {"id": "save", "method": SAVE, "inputs": ADOPT_INPUTS, "depends_on": ["profile"]},
        {"id": "learn", "method": LEARN, "inputs": ADOPT_INPUTS, "depends_on": ["profile"]},
    ],
    "transactions": [{"id": "adopt", "steps": ["save", "learn"]}],
}


def _compile(changes: Any = None) -> CompiledWorkflow:
    document = copy.deepcopy(BASE)
    if changes is not None:
        changes(document)
    return compile_workflow(
        json_format.ParseDict(document, workflow_pb2.WorkflowDefinition()), REGISTRY
    )


def _problems(changes: Any) -> dict[str, str]:
    with pytest.raises(InvalidArgument) as raised:
        _compile(changes)
    return {v.field: v.description for v in raised.value.violations}


def test_a_valid_group_compiles_with_its_steps_in_group_order() -> None:
    workflow = _compile()
    assert workflow.transactions["adopt"].steps == ("save", "learn")
    assert workflow.transactions["adopt"].prepare_timeout_s == 5.0
    assert workflow.transaction_of["learn"].id == "adopt"
    assert "profile" not in workflow.transaction_of


def test_steps_of_a_group_need_nothing_else_to_connect_them() -> None:
    def only_the_group(d: dict[str, Any]) -> None:
        d["steps"] = d["steps"][1:]
        for step in d["steps"]:
            del step["depends_on"]

    assert list(_compile(only_the_group).transactions) == ["adopt"]


@pytest.mark.parametrize(
    ("change", "field", "says"),
    [
        (
            lambda d: d["transactions"][0]["steps"].append("ghost"),
            "transactions[0].steps[2]",
            "unknown",
        ),
        (
            lambda d: d["transactions"].append({"id": "again", "steps": ["save"]}),
            "transactions[1].steps[0]",
            "already in",
        ),
        (
            lambda d: d["transactions"].append({"id": "adopt", "steps": []}),
            "transactions[1].id",
            "used by",
        ),
        (lambda d: d["transactions"][0].update(id="Bad-Id"), "transactions[0].id", "must match"),
        (lambda d: d["steps"][1].update(optional=True), "transactions[0].steps[0]", "optional"),
        (
            lambda d: d["steps"][2].update(depends_on=["save"]),
            "transactions[0].steps[1]",
            "same transaction",
        ),
        (
            lambda d: d["steps"][0].update(optional=True),
            "transactions[0].steps[0]",
            "optional or conditional",
        ),
        (
            lambda d: d["steps"][1].update(
                compensation={"method": REMOVE, "inputs": {"user_id": {"ref": "input.user_id"}}}
            ),
            "transactions[0].steps[0]",
            "compensation",
        ),
    ],
)
def test_a_bad_group_is_refused_naming_the_field(change: Any, field: str, says: str) -> None:
    problems = _problems(change)
    assert field in problems and says in problems[field], problems


def _with_compensation(compensation: dict[str, Any]) -> Any:
    def change(d: dict[str, Any]) -> None:
        d["transactions"] = []
        d["steps"][1]["compensation"] = compensation

    return change


def test_a_compensation_reads_the_run_input_and_its_own_step() -> None:
    compensation = {
        "method": REMOVE,
        "inputs": {
            "user_id": {"ref": "input.user_id"},
            "outfit_id": {"ref": "steps.save.outfit.outfit_id"},
        },
    }
    workflow = _compile(_with_compensation(compensation))
    save = workflow.steps["save"]
    assert save.compensation is not None and save.compensation.method.full_name == REMOVE
    assert save.deps == {"profile"}  # its own response is no dependency
    saved = combination_pb2.SaveOutfitResponse(
        outfit=combination_pb2.WardrobeOutfit(outfit_id="o1")
    )
    request = save.compensation.build_request({"user_id": "ada"}, {"save": saved})
    assert request == combination_pb2.RemoveOutfitRequest(user_id="ada", outfit_id="o1")


@pytest.mark.parametrize(
    ("compensation", "field", "says"),
    [
        ({"method": "aura.nope.v1.X/Y"}, "steps[1].compensation.method", "unknown"),
        ({}, "steps[1].compensation.method", "needs a method"),
        (
            {"method": REMOVE, "inputs": {"user_id": {"ref": "steps.profile.profile.user_id"}}},
            "steps[1].compensation.inputs.user_id",
            "another step",
        ),
    ],
)
def test_a_bad_compensation_is_refused(compensation: dict[str, Any], field: str, says: str) -> None:
    problems = _problems(_with_compensation(compensation))
    assert field in problems and says in problems[field], problems
