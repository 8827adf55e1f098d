"""A step's fallback (and compensation) after compilation, and the checks that make one safe.

A fallback answers in the step's place when its service cannot: another method
(whose response has the same fields as the step's, so its answer is recorded as
the step's response type) or the last good answer to the same request.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from orchestrator.workflows.registry import MethodInfo
from orchestrator.workflows.wiring import FieldBinding

MAX_LAST_GOOD_AGE_S = 24 * 3600.0


@dataclass(frozen=True, eq=False)
class FallbackMethod:
    """Call `method` instead; its request is built from its own bindings."""

    method: MethodInfo
    timeout_s: float
    bindings: tuple[FieldBinding, ...] = field(default=(), repr=False)

    def build_request(
        self, run_input: Mapping[str, Any], outputs: Mapping[str, Message]
    ) -> Message:
        """The fallback's request (raises StepInputError like CompiledStep.build_request)."""
        request = self.method.request_class()
        for binding in self.bindings:
            binding.apply(request, run_input, outputs)
        return request

    def as_step_response(self, answer: Message, response_class: type[Message]) -> Message:
        """The fallback's answer read as the step's response type: the compiler made sure
        both have the same fields, so the wire bytes read the same."""
        if isinstance(answer, response_class):
            return answer
        return response_class.FromString(answer.SerializeToString())


@dataclass(frozen=True, eq=False)
class CompensationCall:
    """The call that undoes a step: `method` with a request from the run input and the
    step's own response (its bindings read `steps.<the step>`)."""

    method: MethodInfo
    timeout_s: float
    bindings: tuple[FieldBinding, ...] = field(default=(), repr=False)

    def build_request(
        self, run_input: Mapping[str, Any], outputs: Mapping[str, Message]
    ) -> Message:
        """The compensating request (raises StepInputError like CompiledStep.build_request)."""
        request = self.method.request_class()
        for binding in self.bindings:
            binding.apply(request, run_input, outputs)
        return request


@dataclass(frozen=True)
class LastGoodAnswer:
    """Reuse the step method's last good answer to the same request, if young enough."""

    max_age_s: float


Fallback = FallbackMethod | LastGoodAnswer


def _signature(field: FieldDescriptor) -> tuple[object, ...]:
    message = field.message_type.full_name if field.message_type is not None else None
    enum = field.enum_type.full_name if field.enum_type is not None else None
    return field.name, field.type, field.is_repeated, message, enum


def response_shape_problem(step_response: Descriptor, fallback_response: Descriptor) -> str | None:
    """Why a fallback's response cannot stand for the step's, or None when it can:
    the same type, or one with the same fields (names, numbers, types)."""
    if step_response.full_name == fallback_response.full_name:
        return None
    ours = {f.number: f for f in step_response.fields}
    theirs = {f.number: f for f in fallback_response.fields}
    for number in sorted(ours.keys() | theirs.keys()):
        mine, other = ours.get(number), theirs.get(number)
        if mine is None or other is None or _signature(mine) != _signature(other):
            named = mine if mine is not None else other
            assert named is not None
            return (
                f"returns {fallback_response.full_name}, which differs from the step's "
                f'{step_response.full_name} in field "{named.name}" = {number}; a fallback '
                "must produce the step's output type (or one with the same fields)"
            )
    return None
