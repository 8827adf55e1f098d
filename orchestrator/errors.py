"""The orchestrator's one root error type and its one wire form.

Domain code raises these; `AuraError.to_status()` is the one conversion into a
`google.rpc.Status` with `ErrorInfo` (and `BadRequest`, `RetryInfo`,
`ResourceInfo` where they help), used by the server's error interceptor and for
a step's stored error alike; `AuraError.from_status()` reads one back.
`status_code_of` is the one int -> `grpc.StatusCode` table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2

ERROR_DOMAIN = "orchestrator.aura"

# Bounds of what one error carries, so its trailers (grpc-message, percent-encoded, plus
# grpc-status-details-bin, base64) stay under about 5.5 KiB even when every byte is
# non-ASCII: a client's default 8 KiB metadata limit then never hides the real status.
MAX_MESSAGE_BYTES = 256
MAX_FIELD_VIOLATIONS = 8
MAX_VIOLATION_FIELD_BYTES = 96
MAX_VIOLATION_DESCRIPTION_BYTES = 192
MAX_METADATA_ENTRIES = 4
MAX_METADATA_KEY_BYTES = 32
MAX_METADATA_VALUE_BYTES = 64
MAX_REASON_BYTES = 64
MAX_RESOURCE_BYTES = 128
#: ErrorInfo metadata key giving the number of field violations when some were left out.
VIOLATION_COUNT_KEY = "field_violation_count"

_CODES_BY_NUMBER = {code.value[0]: code for code in grpc.StatusCode}


def status_code_of(number: int) -> grpc.StatusCode:
    """The gRPC status code numbered `number` (google.rpc.Code); UNKNOWN for no such code."""
    return _CODES_BY_NUMBER.get(number, grpc.StatusCode.UNKNOWN)


def is_status_code(number: int) -> bool:
    """Whether `number` is the number of a gRPC status code."""
    return number in _CODES_BY_NUMBER


#: How much of a client's value an error message or field violation repeats: enough to
#: recognise it, never the whole of an unbounded input.
MAX_ECHO_CHARS = 64
_ELLIPSIS = "…"


def shorten(text: str, max_bytes: int) -> str:
    """`text` cut to at most `max_bytes` UTF-8 bytes, marked with "…" when cut."""
    encoded = text.encode()
    if len(encoded) <= max_bytes:
        return text
    room = max(0, max_bytes - len(_ELLIPSIS.encode()))
    return encoded[:room].decode(errors="ignore") + _ELLIPSIS


def echo(value: str) -> str:
    """A client's value quoted for an error message, at most MAX_ECHO_CHARS of it."""
    if len(value) > MAX_ECHO_CHARS:
        value = value[:MAX_ECHO_CHARS] + _ELLIPSIS
    return repr(value)


@dataclass(frozen=True)
class FieldViolation:
    """One bad field: `field` is a path such as `steps[2].inputs.profile`."""

    field: str
    description: str


class AuraError(Exception):
    """Base of every error the orchestrator reports to a client."""

    code: grpc.StatusCode = grpc.StatusCode.INTERNAL
    default_reason: str = "INTERNAL"

    def __init__(
        self,
        message: str,
        *,
        code: grpc.StatusCode | None = None,
        reason: str | None = None,
        metadata: dict[str, str] | None = None,
        violations: list[FieldViolation] | None = None,
        retry_after_s: float | None = None,
        resource_type: str | None = None,
        resource_name: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.reason = reason or self.default_reason
        self.metadata = dict(metadata or {})
        self.violations = list(violations or [])
        self.retry_after_s = retry_after_s
        self.resource_type = resource_type
        self.resource_name = resource_name

    def to_status(self) -> status_pb2.Status:
        """The error as a google.rpc.Status; every part is bounded (see the MAX_* above):
        texts are shortened with "…" and field violations beyond MAX_FIELD_VIOLATIONS are
        summed up in one last entry "and N more" (the total is in ErrorInfo metadata)."""
        status = status_pb2.Status(
            code=self.code.value[0], message=shorten(self.message, MAX_MESSAGE_BYTES)
        )
        for detail in self._details():
            packed = any_pb2.Any()
            packed.Pack(detail)
            status.details.append(packed)
        return status

    def _details(self) -> list[Any]:
        metadata = {
            shorten(key, MAX_METADATA_KEY_BYTES): shorten(value, MAX_METADATA_VALUE_BYTES)
            for key, value in list(self.metadata.items())[:MAX_METADATA_ENTRIES]
        }
        shown = self.violations[:MAX_FIELD_VIOLATIONS]
        omitted = len(self.violations) - len(shown)
        if omitted:
            metadata[VIOLATION_COUNT_KEY] = str(len(self.violations))
        details: list[Any] = [
            error_details_pb2.ErrorInfo(
                reason=shorten(self.reason, MAX_REASON_BYTES),
                domain=ERROR_DOMAIN,
                metadata=metadata,
            )
        ]
        if self.violations:
            bad_request = error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(
                        field=shorten(v.field, MAX_VIOLATION_FIELD_BYTES),
                        description=shorten(v.description, MAX_VIOLATION_DESCRIPTION_BYTES),
                    )
                    for v in shown
                ]
            )
            if omitted:
                bad_request.field_violations.add(description=f"and {omitted} more")
            details.append(bad_request)
        if self.retry_after_s is not None:
            info = error_details_pb2.RetryInfo()
            info.retry_delay.FromNanoseconds(int(max(0.0, self.retry_after_s) * 1e9))
            details.append(info)
        if self.resource_name:
            details.append(
                error_details_pb2.ResourceInfo(
                    resource_type=shorten(self.resource_type or "", MAX_RESOURCE_BYTES),
                    resource_name=shorten(self.resource_name, MAX_RESOURCE_BYTES),
                )
            )
        return details

    @classmethod
    def from_status(cls, status: status_pb2.Status) -> AuraError:
        """The error a google.rpc.Status describes: its code and message, and what its
        ErrorInfo, BadRequest, RetryInfo and ResourceInfo details say (others are ignored)."""
        code = status_code_of(status.code)
        error = _ERROR_TYPES.get(code, AuraError)(status.message, code=code)
        for packed in status.details:
            _read_detail(error, packed)
        return error


def _read_detail(error: AuraError, packed: any_pb2.Any) -> None:
    if packed.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
        info = error_details_pb2.ErrorInfo()
        packed.Unpack(info)
        error.reason = info.reason
        error.metadata = dict(info.metadata)
    elif packed.Is(error_details_pb2.BadRequest.DESCRIPTOR):
        bad_request = error_details_pb2.BadRequest()
        packed.Unpack(bad_request)
        error.violations = [
            FieldViolation(v.field, v.description) for v in bad_request.field_violations
        ]
    elif packed.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
        retry = error_details_pb2.RetryInfo()
        packed.Unpack(retry)
        error.retry_after_s = retry.retry_delay.ToNanoseconds() / 1e9
    elif packed.Is(error_details_pb2.ResourceInfo.DESCRIPTOR):
        resource = error_details_pb2.ResourceInfo()
        packed.Unpack(resource)
        error.resource_type = resource.resource_type or None
        error.resource_name = resource.resource_name or None


class InvalidArgument(AuraError):
    code = grpc.StatusCode.INVALID_ARGUMENT
    default_reason = "INVALID_ARGUMENT"


class NotFound(AuraError):
    code = grpc.StatusCode.NOT_FOUND
    default_reason = "NOT_FOUND"


class AlreadyExists(AuraError):
    code = grpc.StatusCode.ALREADY_EXISTS
    default_reason = "ALREADY_EXISTS"


class FailedPrecondition(AuraError):
    code = grpc.StatusCode.FAILED_PRECONDITION
    default_reason = "FAILED_PRECONDITION"


class ResourceExhausted(AuraError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED
    default_reason = "RESOURCE_EXHAUSTED"


class Unavailable(AuraError):
    code = grpc.StatusCode.UNAVAILABLE
    default_reason = "UNAVAILABLE"


class DeadlineExceeded(AuraError):
    code = grpc.StatusCode.DEADLINE_EXCEEDED
    default_reason = "DEADLINE_EXCEEDED"


class Unauthenticated(AuraError):
    code = grpc.StatusCode.UNAUTHENTICATED
    default_reason = "UNAUTHENTICATED"


class PermissionDenied(AuraError):
    code = grpc.StatusCode.PERMISSION_DENIED
    default_reason = "PERMISSION_DENIED"


_ERROR_TYPES: dict[grpc.StatusCode, type[AuraError]] = {
    error_type.code: error_type
    for error_type in (
        InvalidArgument,
        NotFound,
        AlreadyExists,
        FailedPrecondition,
        ResourceExhausted,
        Unavailable,
        DeadlineExceeded,
        Unauthenticated,
        PermissionDenied,
    )
}


@dataclass
class ViolationCollector:
    """Gathers every field violation of a request before raising once."""

    violations: list[FieldViolation] = field(default_factory=list)

    def add(self, path: str, description: str) -> None:
        self.violations.append(FieldViolation(path, description))

    def raise_if_any(self, message: str) -> None:
        if self.violations:
            raise InvalidArgument(message, violations=self.violations)


#: The resource type named by errors about runs (aura.orchestrator.v1.WorkflowRun).
RUN_RESOURCE = "aura.orchestrator.v1.WorkflowRun"
#: What a call ended by a shutdown is told to wait before trying again.
SHUTDOWN_RETRY_AFTER_S = 1.0


def run_not_found(run: str, message: str | None = None) -> NotFound:
    return NotFound(
        message or f"workflow run {run} not found",
        reason="RUN_NOT_FOUND",
        resource_type=RUN_RESOURCE,
        resource_name=run,
    )


def shutting_down(
    message: str, *, run: str | None = None, metadata: dict[str, str] | None = None
) -> Unavailable:
    """UNAVAILABLE, reason SHUTTING_DOWN, with RetryInfo: what a call ended by a drain gets."""
    return Unavailable(
        message,
        reason="SHUTTING_DOWN",
        metadata=metadata,
        retry_after_s=SHUTDOWN_RETRY_AFTER_S,
        resource_type=RUN_RESOURCE if run else None,
        resource_name=run,
    )
