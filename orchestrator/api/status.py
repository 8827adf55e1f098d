"""The one boundary where errors become gRPC statuses with google.rpc details."""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from orchestrator.errors import ERROR_DOMAIN, AuraError, shorten

log = logging.getLogger(__name__)

Req = TypeVar("Req")
Resp = TypeVar("Resp")


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


def to_rpc_status(error: AuraError) -> status_pb2.Status:
    """The error as a google.rpc.Status; every part is bounded (see the MAX_* above):
    texts are shortened with "…" and field violations beyond MAX_FIELD_VIOLATIONS are
    summed up in one last entry "and N more" (the total is in ErrorInfo metadata)."""
    status = status_pb2.Status(
        code=error.code.value[0], message=shorten(error.message, MAX_MESSAGE_BYTES)
    )
    metadata = {
        shorten(key, MAX_METADATA_KEY_BYTES): shorten(value, MAX_METADATA_VALUE_BYTES)
        for key, value in list(error.metadata.items())[:MAX_METADATA_ENTRIES]
    }
    shown = error.violations[:MAX_FIELD_VIOLATIONS]
    omitted = len(error.violations) - len(shown)
    if omitted:
        metadata[VIOLATION_COUNT_KEY] = str(len(error.violations))
    details: list[Any] = [
        error_details_pb2.ErrorInfo(
            reason=shorten(error.reason, MAX_REASON_BYTES), domain=ERROR_DOMAIN, metadata=metadata
        )
    ]
    if error.violations:
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
    if error.retry_after_s is not None:
        info = error_details_pb2.RetryInfo()
        info.retry_delay.FromNanoseconds(int(error.retry_after_s * 1e9))
        details.append(info)
    if error.resource_name:
        details.append(
            error_details_pb2.ResourceInfo(
                resource_type=shorten(error.resource_type or "", MAX_RESOURCE_BYTES),
                resource_name=shorten(error.resource_name, MAX_RESOURCE_BYTES),
            )
        )
    for detail in details:
        packed = any_pb2.Any()
        packed.Pack(detail)
        status.details.append(packed)
    return status


def _internal(error: BaseException) -> AuraError:
    log.exception("unexpected error while serving a request", exc_info=error)
    return AuraError("internal error; the orchestrator logged the cause", reason="INTERNAL")


async def abort_with(context: grpc.aio.ServicerContext[Any, Any], error: AuraError) -> None:
    await context.abort_with_status(rpc_status.to_status(to_rpc_status(error)))


async def _abort_for(context: grpc.aio.ServicerContext[Any, Any], error: Exception) -> None:
    """Our errors keep their status; an abort already under way passes; the rest is INTERNAL."""
    if isinstance(error, grpc.aio.AbortError):
        raise error
    await abort_with(context, error if isinstance(error, AuraError) else _internal(error))


def unary_boundary(
    handler: Callable[[Any, Req, grpc.aio.ServicerContext[Req, Resp]], Awaitable[Resp]],
) -> Callable[[Any, Req, grpc.aio.ServicerContext[Req, Resp]], Awaitable[Resp]]:
    """Turns AuraError into its status and anything unexpected into INTERNAL, never UNKNOWN."""

    @functools.wraps(handler)
    async def wrapper(
        self: Any, request: Req, context: grpc.aio.ServicerContext[Req, Resp]
    ) -> Resp:
        try:
            return await handler(self, request, context)
        except Exception as error:
            await _abort_for(context, error)
        raise AssertionError("unreachable: abort raises")

    return wrapper


def stream_boundary(
    handler: Callable[[Any, Req, grpc.aio.ServicerContext[Req, Resp]], AsyncIterator[Resp]],
) -> Callable[[Any, Req, grpc.aio.ServicerContext[Req, Resp]], AsyncIterator[Resp]]:
    """The same boundary for server-streaming handlers."""

    @functools.wraps(handler)
    async def wrapper(
        self: Any, request: Req, context: grpc.aio.ServicerContext[Req, Resp]
    ) -> AsyncIterator[Resp]:
        try:
            async for item in handler(self, request, context):
                yield item
        except Exception as error:
            await _abort_for(context, error)

    return wrapper
