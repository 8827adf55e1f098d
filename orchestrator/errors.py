"""The orchestrator's one root error type.

Domain code raises these; `orchestrator.api.status` turns them into a
`google.rpc.Status` with `ErrorInfo` (and `BadRequest`, `RetryInfo`,
`ResourceInfo` where they help). Nothing else builds gRPC errors.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import grpc

ERROR_DOMAIN = "orchestrator.aura"

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
        reason: str | None = None,
        metadata: dict[str, str] | None = None,
        violations: list[FieldViolation] | None = None,
        retry_after_s: float | None = None,
        resource_type: str | None = None,
        resource_name: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason or self.default_reason
        self.metadata = dict(metadata or {})
        self.violations = list(violations or [])
        self.retry_after_s = retry_after_s
        self.resource_type = resource_type
        self.resource_name = resource_name


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


@dataclass
class ViolationCollector:
    """Gathers every field violation of a request before raising once."""

    violations: list[FieldViolation] = field(default_factory=list)

    def add(self, path: str, description: str) -> None:
        self.violations.append(FieldViolation(path, description))

    def raise_if_any(self, message: str) -> None:
        if self.violations:
            raise InvalidArgument(message, violations=self.violations)
