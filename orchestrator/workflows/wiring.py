"""Precompiled request wiring: each binding fills one request field from an
earlier step's response, the run input or a literal.

Step-to-step values are copied as protobuf values. Run input values go through
protobuf's JSON mapping, into a scratch message of the field's containing type,
and from there into the request; literals were converted that way at compile
time already.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass

from orchestrator.errors import FieldViolation, InvalidArgument
from orchestrator.workflows.fieldpaths import (
    FieldPath,
    copy_field,
    is_set,
    parent_for_write,
    present_parent,
)
from orchestrator.workflows.references import MISSING, InputShapeError, lookup_input


class StepInputError(InvalidArgument):
    """A run input value that cannot become the request field it is wired to."""

    default_reason = "INVALID_STEP_INPUT"

    def __init__(self, step_id: str, field_path: str, input_path: str, detail: str) -> None:
        description = f'step "{step_id}": field "{field_path}" cannot take {input_path}: {detail}'
        super().__init__(description, violations=[FieldViolation(input_path, description)])
        self.step_id = step_id
        self.field_path = field_path
        self.input_path = input_path


class FieldBinding(Protocol):
    """Fills one field of a request."""

    @property
    def key(self) -> str:
        """The dotted field path in the request, as authored."""
        ...

    @property
    def target(self) -> FieldPath: ...

    def apply(
        self, request: Message, run_input: Mapping[str, Any], outputs: Mapping[str, Message]
    ) -> None: ...


def convert_json_value(field: FieldDescriptor, value: Any) -> Message:
    """A scratch message of the field's containing type holding `value` in `field`,
    converted by the protobuf JSON mapping. Raises json_format.ParseError (or
    ValueError/TypeError) when the value does not fit."""
    containing = field.containing_type
    assert containing is not None
    scratch = GetMessageClass(containing)()
    json_format.ParseDict({field.name: value}, scratch)
    return scratch


def _copy_literal(scratch: Message, target: FieldPath, request: Message) -> None:
    """Sets `target` in `request` from a scratch message made by `convert_json_value`."""
    leaf = target[-1]
    is_message = leaf.message_type is not None and not leaf.is_repeated
    if is_message and not scratch.HasField(leaf.name):
        return  # a null literal sets nothing
    copy_field(scratch, leaf, parent_for_write(request, target), leaf)


@dataclass(frozen=True)
class StepOutputBinding:
    """`key` <- "steps.<step_id>[.<source path>]". An empty source path binds the
    whole response. An absent or default source value leaves the field alone, or
    sets `default` when there is one; so does a source step without an output
    (one that failed or was skipped, read through an optional input)."""

    key: str
    target: FieldPath
    step_id: str
    source: FieldPath
    default: Message | None = None
    """Scratch message holding the default value (see `convert_json_value`)."""

    def apply(
        self, request: Message, run_input: Mapping[str, Any], outputs: Mapping[str, Message]
    ) -> None:
        response = outputs.get(self.step_id)
        if response is None:
            self._apply_default(request)
            return
        leaf = self.target[-1]
        if not self.source:
            getattr(parent_for_write(request, self.target), leaf.name).CopyFrom(response)
            return
        source_parent = present_parent(response, self.source)
        if source_parent is None or not is_set(source_parent, self.source[-1]):
            self._apply_default(request)
            return
        copy_field(source_parent, self.source[-1], parent_for_write(request, self.target), leaf)

    def _apply_default(self, request: Message) -> None:
        if self.default is not None:
            _copy_literal(self.default, self.target, request)


@dataclass(frozen=True)
class InputBinding:
    """`key` <- "input.<key>...", converted by the JSON mapping. A missing or null
    input value leaves the field unset."""

    key: str
    target: FieldPath
    step_id: str
    input_keys: tuple[str, ...]

    @property
    def input_path(self) -> str:
        return "input." + ".".join(self.input_keys)

    def apply(
        self, request: Message, run_input: Mapping[str, Any], outputs: Mapping[str, Message]
    ) -> None:
        try:
            value = lookup_input(run_input, self.input_keys)
        except InputShapeError as error:
            raise StepInputError(self.step_id, self.key, self.input_path, str(error)) from None
        if value is MISSING:
            return
        leaf = self.target[-1]
        if type(value) is str and leaf.type == FieldDescriptor.TYPE_STRING and not leaf.is_repeated:
            # The JSON mapping of a string is the string itself: skip ParseDict (the
            # slowest part of building a request from the run input).
            setattr(parent_for_write(request, self.target), leaf.name, value)
            return
        try:
            scratch = convert_json_value(leaf, value)
        except (json_format.ParseError, ValueError, TypeError) as error:
            raise StepInputError(self.step_id, self.key, self.input_path, str(error)) from None
        copy_field(scratch, leaf, parent_for_write(request, self.target), leaf)


@dataclass(frozen=True)
class LiteralBinding:
    """`key` <- a constant, converted at compile time into `scratch`."""

    key: str
    target: FieldPath
    scratch: Message

    def apply(
        self, request: Message, run_input: Mapping[str, Any], outputs: Mapping[str, Message]
    ) -> None:
        _copy_literal(self.scratch, self.target, request)
