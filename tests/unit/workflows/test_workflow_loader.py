"""Reading definitions from YAML and JSON through protobuf's JSON mapping."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from google.protobuf import duration_pb2, json_format

from aura.orchestrator.v1 import workflow_pb2
from orchestrator.errors import InvalidArgument
from orchestrator.workflows import load_definition_file, parse_definition, seed_definitions

YAML = """
name: workflowDefinitions/shop
description: Shopping help.
timeout: 12.5s
required_inputs: [text]
steps:
  - id: nlu
    method: aura.nlu.v1.NluService/AnalyzeText
    inputs:
      text: {ref: input.text}
      locale: {value: en}
    retry: {maxAttempts: 4, retryable_status_codes: [UNAVAILABLE, ABORTED]}
    when: {ref: input.text, op: OPERATOR_IS_SET}
"""


def test_yaml_accepts_proto_and_json_field_names() -> None:
    definition = parse_definition(YAML)

    assert definition.name == "workflowDefinitions/shop"
    assert definition.timeout == duration_pb2.Duration(seconds=12, nanos=500_000_000)
    [step] = definition.steps
    assert step.inputs["text"].ref == "input.text"
    assert step.inputs["locale"].value.string_value == "en"
    assert step.retry.max_attempts == 4
    assert list(step.retry.retryable_status_codes) == [14, 10]
    assert step.when.op == workflow_pb2.Condition.OPERATOR_IS_SET


def test_json_gives_the_same_definition_as_yaml() -> None:
    definition = parse_definition(YAML)
    text = json.dumps(json_format.MessageToDict(definition))

    assert parse_definition(text, fmt="json") == definition


@pytest.mark.parametrize(
    ("text", "fmt"),
    [
        ("steps: [unclosed", "yaml"),
        ("name: a\n  bad: indentation", "yaml"),
        ("{not json", "json"),
        ("", "yaml"),
        ("- a list", "yaml"),
        ("just text", "yaml"),
        ("[1, 2]", "json"),
        ("name: workflowDefinitions/x\nstepz: []", "yaml"),
        ("steps: [{id: a, retries: 3}]", "yaml"),
        ("timeout: ten seconds", "yaml"),
        ("steps: [{id: a, optional: maybe}]", "yaml"),
        ("steps: [{id: a, when: {op: OPERATOR_SOMETIMES}}]", "yaml"),
        ("steps: [{id: a, inputs: {text: {ref: input.text, value: hi}}}]", "yaml"),
        ("timeout: 2024-01-01", "yaml"),
    ],
)
def test_text_that_is_not_a_definition_is_invalid_argument(text: str, fmt: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        parse_definition(text, fmt=fmt)  # type: ignore[arg-type]

    assert caught.value.reason == "INVALID_WORKFLOW_DEFINITION"
    assert caught.value.message.startswith("invalid workflow definition: ")


def test_files_are_read_by_their_suffix(tmp_path: Path) -> None:
    expected = parse_definition(YAML)
    yaml_file = tmp_path / "shop.yaml"
    json_file = tmp_path / "shop.json"
    yaml_file.write_text(YAML)
    json_file.write_text(json_format.MessageToJson(expected))

    assert load_definition_file(yaml_file) == expected
    assert load_definition_file(json_file) == expected


def test_a_bad_file_is_named_in_the_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{")

    with pytest.raises(InvalidArgument, match=r"bad\.json"):
        load_definition_file(bad)


def test_seed_definitions_come_back_fresh_each_time() -> None:
    first, second = seed_definitions(), seed_definitions()
    first[0].name = "changed"

    assert len(second) == 6
    assert second[0].name != "changed"
