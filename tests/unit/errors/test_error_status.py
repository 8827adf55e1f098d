"""One wire form for errors: `AuraError.to_status()` and `AuraError.from_status()` agree."""

from __future__ import annotations

import grpc
import pytest
from google.rpc import code_pb2, error_details_pb2, status_pb2

from orchestrator.errors import (
    AuraError,
    FieldViolation,
    InvalidArgument,
    NotFound,
    ResourceExhausted,
    Unavailable,
    is_status_code,
    status_code_of,
)
from orchestrator.mesh import BackendCallError
from orchestrator.resilience.status_details import (
    circuit_open_status,
    error_reason,
    retry_info_delay_s,
)
from orchestrator.workflows import StepInputError


def test_an_error_survives_the_round_trip_through_its_status() -> None:
    error = InvalidArgument(
        "bad definition",
        reason="BAD_DEFINITION",
        metadata={"definition": "workflowDefinitions/a"},
        violations=[FieldViolation("steps[0].method", "unknown"), FieldViolation("name", "bad")],
        retry_after_s=2.5,
        resource_type="WorkflowDefinition",
        resource_name="workflowDefinitions/a",
    )

    back = AuraError.from_status(error.to_status())

    assert isinstance(back, InvalidArgument)
    assert back.code is grpc.StatusCode.INVALID_ARGUMENT
    assert (back.message, back.reason, back.metadata) == (
        "bad definition",
        "BAD_DEFINITION",
        {"definition": "workflowDefinitions/a"},
    )
    assert back.violations == error.violations
    assert back.retry_after_s == 2.5
    assert (back.resource_type, back.resource_name) == (
        "WorkflowDefinition",
        "workflowDefinitions/a",
    )
    assert back.to_status() == error.to_status()


@pytest.mark.parametrize(
    "error",
    [NotFound("gone"), ResourceExhausted("busy"), Unavailable("down"), AuraError("bug")],
)
def test_each_error_type_comes_back_as_itself(error: AuraError) -> None:
    back = AuraError.from_status(error.to_status())

    assert type(back) is type(error) and back.code is error.code and back.reason == error.reason


def test_a_status_of_any_code_reads_back_with_that_code() -> None:
    status = status_pb2.Status(code=code_pb2.ABORTED, message="conflict")

    back = AuraError.from_status(status)

    assert back.code is grpc.StatusCode.ABORTED and back.message == "conflict"
    assert back.to_status().code == code_pb2.ABORTED


def test_an_explicit_code_overrides_the_type_default() -> None:
    status = AuraError("slow", code=grpc.StatusCode.DEADLINE_EXCEEDED).to_status()

    assert status.code == code_pb2.DEADLINE_EXCEEDED


def test_the_status_code_table_covers_every_code_and_only_those() -> None:
    for code in grpc.StatusCode:
        assert status_code_of(code.value[0]) is code and is_status_code(code.value[0])
    assert status_code_of(99) is grpc.StatusCode.UNKNOWN and not is_status_code(99)


def test_a_step_input_error_keeps_its_reason_and_field_violation_on_the_wire() -> None:
    error = StepInputError("recommend", "max_results", "input.limit", "not an integer")

    status = error.to_status()

    assert status.code == code_pb2.INVALID_ARGUMENT
    assert error_reason(status) == "INVALID_STEP_INPUT"
    bad_request = error_details_pb2.BadRequest()
    assert [d.Unpack(bad_request) for d in status.details if d.Is(bad_request.DESCRIPTOR)]
    assert [v.field for v in bad_request.field_violations] == ["input.limit"]


def test_a_backend_error_is_the_backends_own_status() -> None:
    backend = circuit_open_status("aura.nlu.v1.NluService", retry_after_s=1.0)

    error = BackendCallError(backend, service="aura.nlu.v1.NluService", method="AnalyzeText")

    assert error.to_status() == backend
    assert error.code is grpc.StatusCode.UNAVAILABLE


def test_orchestrator_statuses_are_built_by_the_same_conversion() -> None:
    status = circuit_open_status("aura.nlu.v1.NluService", retry_after_s=-1.0)

    assert error_reason(status) == "CIRCUIT_OPEN"
    assert retry_info_delay_s(status) == 0.0, "a negative delay is sent as none"
