"""Checks of `google.protobuf.Struct`/`Value` data the engine turns into JSON: run inputs
and a definition's constants.

A value is usable only when protobuf's JSON mapping (`json_format.MessageToDict`, what
the engine runs on) and every client printing it can convert it: each `Value` has a kind
set and no number is NaN or +-Infinity. A run input is also bounded: at most
MAX_RUN_INPUT_BYTES serialized and MAX_RUN_INPUT_DEPTH levels of nesting (the input
object is level 1), far below protobuf's recursion limit of 100 messages even inside the
run events and responses that carry it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any, Final

from google.protobuf import struct_pb2

from orchestrator.errors import FieldViolation

MAX_RUN_INPUT_BYTES: Final = 1 << 20
MAX_RUN_INPUT_DEPTH: Final = 16


def value_problems(
    value: struct_pb2.Value, path: str, *, max_depth: int = MAX_RUN_INPUT_DEPTH
) -> Iterator[FieldViolation]:
    """Every unusable part of `value` (at `path`), walked without recursion; `value`
    itself is at level 2 (inside an object or list, which is level 1)."""
    pending: list[tuple[struct_pb2.Value, str, int]] = [(value, path, 2)]
    while pending:
        item, where, level = pending.pop()
        kind = item.WhichOneof("kind")
        if kind is None:
            yield FieldViolation(
                where, "a value needs a kind: null, number, string, bool, object or list"
            )
        elif kind == "number_value" and not math.isfinite(item.number_value):
            yield FieldViolation(where, "numbers must be finite: NaN and Infinity have no JSON")
        elif kind in ("struct_value", "list_value") and level > max_depth:
            yield FieldViolation(where, f"nested more than {max_depth} levels deep")
        elif kind == "struct_value":
            fields = item.struct_value.fields
            pending.extend((fields[key], f"{where}.{key}", level + 1) for key in sorted(fields))
        elif kind == "list_value":
            values = item.list_value.values
            pending.extend((v, f"{where}[{i}]", level + 1) for i, v in enumerate(values))


def struct_as_json(
    data: struct_pb2.Struct, path: str, *, max_depth: int = MAX_RUN_INPUT_DEPTH
) -> tuple[dict[str, Any] | None, list[FieldViolation]]:
    """`data` through the JSON mapping, or None and every unusable value of it."""
    problems = [
        problem
        for key in sorted(data.fields)
        for problem in value_problems(data.fields[key], f"{path}.{key}", max_depth=max_depth)
    ]
    if problems:
        return None, problems
    return struct_json(data), []


def struct_json(data: struct_pb2.Struct) -> dict[str, Any]:
    """What `json_format.MessageToDict` makes of a Struct `value_problems` passes, built
    directly: the generic converter was the slowest part of starting a run."""
    return {key: _value_json(value) for key, value in data.fields.items()}


def _value_json(value: struct_pb2.Value) -> Any:
    kind = value.WhichOneof("kind")
    if kind == "string_value":
        return value.string_value
    if kind == "number_value":
        return value.number_value
    if kind == "bool_value":
        return value.bool_value
    if kind == "struct_value":
        return struct_json(value.struct_value)
    if kind == "list_value":
        return [_value_json(item) for item in value.list_value.values]
    return None  # null_value


def struct_problems(
    data: struct_pb2.Struct, path: str, *, max_depth: int = MAX_RUN_INPUT_DEPTH
) -> list[FieldViolation]:
    """Every unusable value of `data`, and a last check that the JSON mapping takes it."""
    return struct_as_json(data, path, max_depth=max_depth)[1]


def run_input_as_json(
    run_input: struct_pb2.Struct,
) -> tuple[dict[str, Any] | None, list[FieldViolation]]:
    """The run input as the engine hands it to steps (converted once, here), or None and what
    makes it unusable: its size first, then each bad value."""
    size = run_input.ByteSize()
    if size > MAX_RUN_INPUT_BYTES:
        return None, [
            FieldViolation("input", f"at most {MAX_RUN_INPUT_BYTES} bytes serialized, got {size}")
        ]
    return struct_as_json(run_input, "input")


def run_input_problems(run_input: struct_pb2.Struct) -> list[FieldViolation]:
    """What makes `run_input` unusable: its size first, then each bad value."""
    return run_input_as_json(run_input)[1]
