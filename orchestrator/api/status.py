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

from orchestrator.errors import ERROR_DOMAIN, AuraError

log = logging.getLogger(__name__)

Req = TypeVar("Req")
Resp = TypeVar("Resp")


def to_rpc_status(error: AuraError) -> status_pb2.Status:
    status = status_pb2.Status(code=error.code.value[0], message=error.message)
    details: list[Any] = [
        error_details_pb2.ErrorInfo(
            reason=error.reason, domain=ERROR_DOMAIN, metadata=error.metadata
        )
    ]
    if error.violations:
        details.append(
            error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(
                        field=v.field, description=v.description
                    )
                    for v in error.violations
                ]
            )
        )
    if error.retry_after_s is not None:
        info = error_details_pb2.RetryInfo()
        info.retry_delay.FromNanoseconds(int(error.retry_after_s * 1e9))
        details.append(info)
    if error.resource_name:
        details.append(
            error_details_pb2.ResourceInfo(
                resource_type=error.resource_type or "", resource_name=error.resource_name
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
