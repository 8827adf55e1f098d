"""One wrapper turns a backend's AioRpcError into our error type."""

from __future__ import annotations

import grpc
from google.rpc import status_pb2
from grpc_status import rpc_status

from orchestrator.errors import AuraError, status_code_of


class BackendCallError(AuraError):
    """A backend call failed; `status` is what the backend (or the channel) said."""

    def __init__(
        self,
        status: status_pb2.Status,
        *,
        service: str,
        method: str,
        pushback_s: float | None = None,
        endpoint: str = "",
    ) -> None:
        super().__init__(
            status.message,
            code=status_code_of(status.code),
            reason="BACKEND_ERROR",
            metadata={"service": service, "method": method},
        )
        self.status = status
        self.pushback_s = pushback_s
        """Server pushback (gRFC A6) in seconds; negative: do not retry; None: none asked."""
        self.endpoint = endpoint
        """The address that answered; empty when no call went out (e.g. circuit open)."""

    def to_status(self) -> status_pb2.Status:
        """What the backend (or the channel) said, its own details kept."""
        return self.status


def status_from_aio_error(error: grpc.aio.AioRpcError) -> status_pb2.Status:
    """The google.rpc.Status of a failed call, keeping the backend's rich details."""
    try:
        rich = rpc_status.from_call(error)
    except ValueError:
        rich = None
    if rich is not None:
        return rich
    return status_pb2.Status(code=error.code().value[0], message=error.details() or "")


def status_of(code: grpc.StatusCode, message: str) -> status_pb2.Status:
    return status_pb2.Status(code=code.value[0], message=message)


def code_of(status: status_pb2.Status) -> grpc.StatusCode:
    return status_code_of(status.code)
