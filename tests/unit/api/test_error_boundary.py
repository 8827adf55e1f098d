"""Domain errors become google.rpc.Status with ErrorInfo and the details that help."""

from __future__ import annotations

import grpc
from google.rpc import error_details_pb2

from orchestrator.errors import FieldViolation, InvalidArgument, NotFound, ResourceExhausted


def unpack(status: object, kind: type) -> object:
    for detail in status.details:  # type: ignore[attr-defined]
        if detail.Is(kind.DESCRIPTOR):
            message = kind()
            detail.Unpack(message)
            return message
    raise AssertionError(f"no {kind.__name__} detail")


def test_invalid_argument_carries_error_info_and_every_field_violation() -> None:
    status = InvalidArgument(
        "bad",
        violations=[
            FieldViolation("steps[0].method", "unknown"),
            FieldViolation("name", "bad"),
        ],
    ).to_status()
    assert status.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    info = unpack(status, error_details_pb2.ErrorInfo)
    assert info.reason == "INVALID_ARGUMENT" and info.domain == "orchestrator.aura"  # type: ignore[attr-defined]
    bad = unpack(status, error_details_pb2.BadRequest)
    assert [v.field for v in bad.field_violations] == ["steps[0].method", "name"]  # type: ignore[attr-defined]


def test_not_found_names_the_resource() -> None:
    status = NotFound(
        "gone", reason="RUN_NOT_FOUND", resource_type="Run", resource_name="workflowRuns/x"
    ).to_status()
    assert status.code == grpc.StatusCode.NOT_FOUND.value[0]
    assert unpack(status, error_details_pb2.ResourceInfo).resource_name == "workflowRuns/x"  # type: ignore[attr-defined]


def test_resource_exhausted_says_when_to_retry() -> None:
    status = ResourceExhausted("busy", retry_after_s=1.5).to_status()
    assert unpack(status, error_details_pb2.RetryInfo).retry_delay.ToNanoseconds() == 1_500_000_000  # type: ignore[attr-defined]
