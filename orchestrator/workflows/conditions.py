"""Step conditions (`when`), compiled into small evaluators.

EQUALS / NOT_EQUALS compare the referenced value with the literal: step fields
by protobuf value (the literal is converted to the field's type once, so enum
fields compare by name and messages through the JSON mapping), run input
values as JSON. IS_SET / IS_NOT_SET test presence and non-default-ness.
GREATER_THAN / LESS_THAN compare numbers. A reference to a step without an
output (skipped, failed) counts as absent: only NOT_EQUALS and IS_NOT_SET hold.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol

from google.protobuf import json_format, struct_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass

from aura.orchestrator.v1 import workflow_pb2
from orchestrator.workflows.fieldpaths import (
    FieldPath,
    describe_field_type,
    is_map,
    is_numeric,
    is_set,
    present_parent,
    read_value,
)
from orchestrator.workflows.references import (
    MISSING,
    InputRef,
    InputShapeError,
    StepRef,
    lookup_input,
)
from orchestrator.workflows.wiring import convert_json_value

Operator = workflow_pb2.Condition.Operator
EQUALS: Final = workflow_pb2.Condition.OPERATOR_EQUALS
NOT_EQUALS: Final = workflow_pb2.Condition.OPERATOR_NOT_EQUALS
IS_SET: Final = workflow_pb2.Condition.OPERATOR_IS_SET
IS_NOT_SET: Final = workflow_pb2.Condition.OPERATOR_IS_NOT_SET
GREATER_THAN: Final = workflow_pb2.Condition.OPERATOR_GREATER_THAN
LESS_THAN: Final = workflow_pb2.Condition.OPERATOR_LESS_THAN

KNOWN_OPERATORS: Final = frozenset(
    {EQUALS, NOT_EQUALS, IS_SET, IS_NOT_SET, GREATER_THAN, LESS_THAN}
)
OPERATORS_WITH_VALUE: Final = frozenset({EQUALS, NOT_EQUALS, GREATER_THAN, LESS_THAN})
NUMERIC_OPERATORS: Final = frozenset({GREATER_THAN, LESS_THAN})


class ConditionValueError(ValueError):
    """A condition whose value or referenced field does not fit its operator.
    `field` is "ref" or "value", the part of the condition at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class CompiledCondition(Protocol):
    @property
    def ref(self) -> str:
        """The reference, as authored."""
        ...

    def holds(self, run_input: Mapping[str, Any], outputs: Mapping[str, Message]) -> bool: ...


@dataclass(frozen=True)
class InputCondition:
    """A test on a run input value (plain JSON)."""

    ref: str
    op: int
    input_keys: tuple[str, ...]
    expected: Any

    def holds(self, run_input: Mapping[str, Any], outputs: Mapping[str, Message]) -> bool:
        try:
            value = lookup_input(run_input, self.input_keys)
        except InputShapeError:
            value = MISSING
        if self.op in (IS_SET, IS_NOT_SET):
            present = value is not MISSING and not _is_json_default(value)
            return present == (self.op == IS_SET)
        if value is MISSING:
            return self.op == NOT_EQUALS
        if self.op in (EQUALS, NOT_EQUALS):
            return _json_equal(value, self.expected) == (self.op == EQUALS)
        number = _as_number(value)
        if number is None:
            return False
        return bool(number > self.expected if self.op == GREATER_THAN else number < self.expected)


@dataclass(frozen=True)
class StepCondition:
    """A test on an earlier step's response (`path` empty) or one of its fields."""

    ref: str
    op: int
    step_id: str
    path: FieldPath
    expected: Any

    def holds(self, run_input: Mapping[str, Any], outputs: Mapping[str, Message]) -> bool:
        response = outputs.get(self.step_id)
        if response is None:
            return self.op in (NOT_EQUALS, IS_NOT_SET)
        if self.op in (IS_SET, IS_NOT_SET):
            present = True
            if self.path:
                parent = present_parent(response, self.path)
                present = parent is not None and is_set(parent, self.path[-1])
            return present == (self.op == IS_SET)
        actual = read_value(response, self.path) if self.path else response
        if self.op in (EQUALS, NOT_EQUALS):
            comparable = _comparable(self.path[-1], actual) if self.path else actual
            return bool(comparable == self.expected) == (self.op == EQUALS)
        return bool(actual > self.expected if self.op == GREATER_THAN else actual < self.expected)


def build_input_condition(ref: InputRef, op: int, value: struct_pb2.Value | None) -> InputCondition:
    expected: Any = None if value is None else json_format.MessageToDict(value)
    if op in NUMERIC_OPERATORS:
        expected = _require_number(value)
    return InputCondition(ref=ref.text, op=op, input_keys=ref.keys, expected=expected)


def build_step_condition(
    ref: StepRef,
    op: int,
    value: struct_pb2.Value | None,
    path: FieldPath,
    response: Descriptor,
) -> StepCondition:
    """Raises ConditionValueError when the operator does not fit the referenced
    field or the value does not convert to its type."""
    expected: Any = None
    if op in NUMERIC_OPERATORS:
        if not path or not is_numeric(path[-1]):
            kind = describe_field_type(path[-1]) if path else response.full_name
            raise ConditionValueError("ref", f"compares numbers but {ref.text} is {kind}")
        expected = _require_number(value)
    elif op in (EQUALS, NOT_EQUALS):
        assert value is not None
        literal = json_format.MessageToDict(value)
        try:
            expected = _convert_literal(literal, path, response)
        except (json_format.ParseError, ValueError, TypeError) as error:
            raise ConditionValueError(
                "value", f"{_literal_text(literal)} is not a value of {ref.text}: {error}"
            ) from None
    return StepCondition(ref=ref.text, op=op, step_id=ref.step_id, path=path, expected=expected)


def _convert_literal(literal: Any, path: FieldPath, response: Descriptor) -> Any:
    if not path:
        if not isinstance(literal, dict):
            raise ValueError(f"{response.full_name} is a message, compare it with an object")
        return json_format.ParseDict(literal, GetMessageClass(response)())
    leaf = path[-1]
    scratch = convert_json_value(leaf, literal)
    return _comparable(leaf, getattr(scratch, leaf.name))


def _comparable(field: FieldDescriptor, value: Any) -> Any:
    if is_map(field):
        return dict(value)
    if field.is_repeated:
        return list(value)
    return value


def _require_number(value: struct_pb2.Value | None) -> float:
    if value is None or value.WhichOneof("kind") != "number_value":
        raise ConditionValueError("value", "the operator compares numbers; value must be a number")
    return value.number_value


def _literal_text(literal: Any) -> str:
    return json.dumps(literal)


def _is_json_default(value: Any) -> bool:
    if isinstance(value, bool):
        return value is False
    if isinstance(value, int | float):
        return value == 0
    return value in ("", [], {})


def _json_equal(left: Any, right: Any) -> bool:
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left is right
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(_json_equal(left[k], right[k]) for k in left)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(map(_json_equal, left, right))
    return bool(left == right)


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):  # the JSON mapping writes 64-bit integers as strings
        try:
            return float(value)
        except ValueError:
            return None
    return None
