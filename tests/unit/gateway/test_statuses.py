"""gRPC codes as HTTP statuses (google/rpc/code.proto's mapping) and the Status body."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2

from orchestrator.gateway import HTTP_STATUS, http_status, status_json

EXPECTED = {
    "OK": 200,
    "CANCELLED": 499,
    "UNKNOWN": 500,
    "INVALID_ARGUMENT": 400,
    "DEADLINE_EXCEEDED": 504,
    "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409,
    "PERMISSION_DENIED": 403,
    "RESOURCE_EXHAUSTED": 429,
    "FAILED_PRECONDITION": 400,
    "ABORTED": 409,
    "OUT_OF_RANGE": 400,
    "UNIMPLEMENTED": 501,
    "INTERNAL": 500,
    "UNAVAILABLE": 503,
    "DATA_LOSS": 500,
    "UNAUTHENTICATED": 401,
}


@pytest.mark.parametrize("code", list(grpc.StatusCode), ids=lambda code: code.name)
def test_every_grpc_code_has_the_http_status_of_the_standard_mapping(
    code: grpc.StatusCode,
) -> None:
    assert http_status(code) == EXPECTED[code.name]
    assert code in HTTP_STATUS


def test_the_body_is_the_status_with_its_details_and_the_codes_name() -> None:
    info = any_pb2.Any()
    info.Pack(error_details_pb2.ErrorInfo(reason="QUEUE_FULL", domain="orchestrator.aura"))
    stranger = any_pb2.Any(type_url="type.googleapis.com/some.Unknown", value=b"\x08\x01")
    status = status_pb2.Status(code=8, message="queue full", details=[info, stranger])
    assert status_json(status) == {
        "code": 8,
        "status": "RESOURCE_EXHAUSTED",
        "message": "queue full",
        "details": [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "QUEUE_FULL",
                "domain": "orchestrator.aura",
            },
            {"@type": "type.googleapis.com/some.Unknown"},
        ],
    }
