"""Run inputs and definition constants the engine can convert: every Value has a kind,
every number is finite, and an input is bounded in size and depth."""

from __future__ import annotations

import math

import pytest
from google.protobuf import json_format, struct_pb2

from orchestrator.workflows import (
    MAX_RUN_INPUT_BYTES,
    MAX_RUN_INPUT_DEPTH,
    run_input_as_json,
    run_input_problems,
    value_problems,
)


def run_input(**fields: object) -> struct_pb2.Struct:
    data = struct_pb2.Struct()
    data.update(fields)
    return data


def nested(levels: int) -> struct_pb2.Value:
    value = struct_pb2.Value(bool_value=True)
    for _ in range(levels):
        outer = struct_pb2.Value()
        outer.list_value.values.append(value)
        value = outer
    return value


def fields_of(data: struct_pb2.Struct) -> list[str]:
    return sorted(problem.field for problem in run_input_problems(data))


def test_an_ordinary_input_has_no_problems() -> None:
    data = run_input(text="navy", budget=300, tags=["a", {"b": None}], flag=False)
    assert run_input_problems(data) == []


@pytest.mark.parametrize("number", [math.nan, math.inf, -math.inf])
def test_non_finite_numbers_are_named_by_their_path(number: float) -> None:
    data = run_input(outer={"list": [1, {"score": number}]})
    problems = run_input_problems(data)
    assert [p.field for p in problems] == ["input.outer.list[1].score"]
    assert "finite" in problems[0].description


def test_a_value_without_a_kind_is_a_problem_wherever_it_is() -> None:
    data = run_input(text="x")
    data.fields["empty"].Clear()
    data.fields["list"].list_value.values.add()
    data.fields["object"].struct_value.fields["inner"].Clear()

    assert fields_of(data) == ["input.empty", "input.list[0]", "input.object.inner"]


def test_depth_is_counted_from_the_input_object_as_level_one() -> None:
    deepest_allowed = run_input()
    deepest_allowed.fields["v"].CopyFrom(nested(MAX_RUN_INPUT_DEPTH - 1))
    assert run_input_problems(deepest_allowed) == []

    one_more = run_input()
    one_more.fields["v"].CopyFrom(nested(MAX_RUN_INPUT_DEPTH))
    assert fields_of(one_more) == ["input.v" + "[0]" * (MAX_RUN_INPUT_DEPTH - 1)]


def test_a_value_nested_past_the_limit_is_reported_once_where_it_crosses() -> None:
    problems = list(value_problems(nested(40), "v", max_depth=10))
    assert [p.field for p in problems] == ["v" + "[0]" * 9]


def test_size_is_checked_before_anything_else() -> None:
    data = run_input(blob="x" * MAX_RUN_INPUT_BYTES, bad=math.nan)
    problems = run_input_problems(data)
    assert [p.field for p in problems] == ["input"]
    assert str(MAX_RUN_INPUT_BYTES) in problems[0].description


def test_the_converted_input_is_what_the_json_mapping_makes_of_it() -> None:
    data = run_input(
        text="navy",
        budget=300,
        ratio=0.25,
        flag=False,
        nothing=None,
        tags=["a", 1, True, None, {"b": [{"c": "deep"}], "e": {}}],
        empty_list=[],
        empty_object={},
    )
    data.fields["nested"].CopyFrom(nested(MAX_RUN_INPUT_DEPTH - 1))

    converted, problems = run_input_as_json(data)

    assert problems == []
    assert converted == json_format.MessageToDict(data)
    assert isinstance(converted["budget"], float)  # a Value number is a double
