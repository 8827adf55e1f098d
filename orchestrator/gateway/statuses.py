"""gRPC status codes as HTTP statuses (the mapping of google/rpc/code.proto), and the
google.rpc.Status an error answers with, details included, as JSON."""

from __future__ import annotations

from typing import Any

import grpc
from google.protobuf import json_format
from google.rpc import (
    code_pb2,
    error_details_pb2,  # noqa: F401  (registers ErrorInfo, BadRequest... for Any details)
    status_pb2,
)

HTTP_STATUS: dict[grpc.StatusCode, int] = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DATA_LOSS: 500,
}

_DETAILS_KEY = "grpc-status-details-bin"


def http_status(code: grpc.StatusCode) -> int:
    return HTTP_STATUS.get(code, 500)


def status_of(error: grpc.aio.AioRpcError) -> status_pb2.Status:
    """The call's google.rpc.Status: from its grpc-status-details-bin trailer when the
    server sent one (with the details), else its code and message."""
    for key, value in error.trailing_metadata() or ():
        if key == _DETAILS_KEY and isinstance(value, bytes):
            status = status_pb2.Status()
            status.ParseFromString(value)
            return status
    return status_pb2.Status(code=error.code().value[0], message=error.details() or "")


def make_status(code: grpc.StatusCode, message: str) -> status_pb2.Status:
    return status_pb2.Status(code=code.value[0], message=message)


def status_json(status: status_pb2.Status) -> dict[str, Any]:
    """{"code": 5, "status": "NOT_FOUND", "message": ..., "details": [{"@type": ...}]}:
    the Status in protobuf's JSON mapping, plus the code's name for people. A detail of a
    type this process does not know keeps its type URL and loses its fields."""
    details: list[dict[str, Any]] = []
    for detail in status.details:
        try:
            details.append(json_format.MessageToDict(detail))
        except (TypeError, json_format.Error):
            details.append({"@type": detail.type_url})
    body: dict[str, Any] = {
        "code": status.code,
        "status": code_pb2.Code.Name(status.code) if status.code in code_pb2.Code.values() else "",
        "message": status.message,
        "details": details,
    }
    return body
