"""Requests that cannot be decoded are answered INVALID_ARGUMENT, never UNKNOWN.

grpc.aio decodes a request before any handler runs: corrupt wire bytes, invalid UTF-8 in a
string field or messages nested past protobuf's recursion limit raise there, and grpc answers
UNKNOWN and logs a traceback. This interceptor gives every method a deserializer that never
raises (it returns an `UndecodableRequest` instead) and a behaviour that aborts on it with
INVALID_ARGUMENT and an `ErrorInfo(reason=UNDECODABLE_REQUEST)`, logging one line.

It covers the four call shapes of asyncio handlers (coroutines, async generators, and the
request iterators of client and bidirectional streams) and synchronous single-request handlers
(such as an unimplemented base-class method), which it runs in a worker thread as grpc.aio
would. A synchronous handler of a request stream keeps grpc's own decoding.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

log = logging.getLogger(__name__)

UNDECODABLE_REQUEST = "UNDECODABLE_REQUEST"

Deserializer = Callable[[bytes], Any]
Behaviour = Callable[..., Any]


@dataclass(frozen=True)
class UndecodableRequest:
    """What the deserializer returns in place of a request it could not decode."""

    message_type: str
    error: str


def never_raising(deserializer: Deserializer) -> Deserializer:
    """`deserializer`, returning an `UndecodableRequest` where it would raise."""
    message_type = _message_type(deserializer)

    @functools.wraps(deserializer)
    def deserialize(data: bytes) -> Any:
        try:
            return deserializer(data)
        except Exception as error:  # DecodeError, RecursionError, whatever a parser raises
            return UndecodableRequest(message_type, str(error) or type(error).__name__)

    return deserialize


def _message_type(deserializer: Deserializer) -> str:
    """The full protobuf name behind `Message.FromString`, or a readable stand-in."""
    owner = getattr(deserializer, "__self__", None)
    descriptor = getattr(owner, "DESCRIPTOR", None)
    name = getattr(descriptor, "full_name", None)
    return name if isinstance(name, str) else getattr(deserializer, "__qualname__", "request")


def undecodable_status(method: str, request: UndecodableRequest, domain: str) -> grpc.Status:
    info = error_details_pb2.ErrorInfo(
        reason=UNDECODABLE_REQUEST,
        domain=domain,
        metadata={"method": method, "message_type": request.message_type},
    )
    packed = any_pb2.Any()
    packed.Pack(info)
    return rpc_status.to_status(
        status_pb2.Status(
            code=code_pb2.INVALID_ARGUMENT,
            message=f"the request cannot be decoded as {request.message_type}: {request.error}",
            details=[packed],
        )
    )


# Methods whose guarded handler is kept; past it (a server with that many methods) each
# call of the others is wrapped afresh, which is correct, only slower.
MAX_CACHED_METHODS = 1024


class UndecodableRequestInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Install first among a server's interceptors; `domain` goes into the ErrorInfo."""

    def __init__(self, domain: str) -> None:
        self._domain = domain
        # method -> (the server's handler, its guarded twin): a server hands out the same
        # handler for every call of a method, so each is wrapped once, not per call.
        self._guarded: dict[str, tuple[grpc.RpcMethodHandler, grpc.RpcMethodHandler]] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None or handler.request_deserializer is None:
            return handler
        method = handler_call_details.method
        cached = self._guarded.get(method)
        if cached is not None and cached[0] is handler:
            return cached[1]
        guarded_handler = self._guard(handler, method)
        if len(self._guarded) < MAX_CACHED_METHODS:
            self._guarded[method] = (handler, guarded_handler)
        return guarded_handler

    def _guard(self, handler: grpc.RpcMethodHandler, method: str) -> grpc.RpcMethodHandler:
        field = _behaviour_field(handler)
        behaviour = getattr(handler, field)
        if handler.request_streaming and not _is_async(behaviour):
            return handler
        reject = functools.partial(self._reject, method)
        if handler.request_streaming:
            guarded = _guard_request_stream(behaviour, reject)
        else:
            guarded = _guard_request(behaviour, reject, bool(handler.response_streaming))
        return handler._replace(
            request_deserializer=never_raising(handler.request_deserializer),
            **{field: guarded},
        )

    async def _reject(
        self, method: str, request: UndecodableRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> None:
        log.info("rejected an undecodable request to %s: %s", method, request.error)
        await context.abort_with_status(undecodable_status(method, request, self._domain))


Reject = Callable[[UndecodableRequest, Any], Awaitable[None]]


def _behaviour_field(handler: grpc.RpcMethodHandler) -> str:
    streaming = (bool(handler.request_streaming), bool(handler.response_streaming))
    return {
        (False, False): "unary_unary",
        (False, True): "unary_stream",
        (True, False): "stream_unary",
        (True, True): "stream_stream",
    }[streaming]


def _is_async(behaviour: Behaviour | None) -> bool:
    return inspect.iscoroutinefunction(behaviour) or inspect.isasyncgenfunction(behaviour)


def _guard_request(behaviour: Behaviour, reject: Reject, response_streaming: bool) -> Behaviour:
    """One request, checked before the behaviour sees it; keeps coroutine vs async generator."""
    if not _is_async(behaviour):
        behaviour = _in_worker_thread(behaviour, response_streaming)
    if inspect.isasyncgenfunction(behaviour):

        async def guarded_stream(request: Any, context: Any) -> AsyncIterator[Any]:
            if isinstance(request, UndecodableRequest):
                await reject(request, context)
            async for response in behaviour(request, context):
                yield response

        return guarded_stream

    async def guarded(request: Any, context: Any) -> Any:
        if isinstance(request, UndecodableRequest):
            await reject(request, context)
        return await behaviour(request, context)

    return guarded


def _in_worker_thread(behaviour: Behaviour, response_streaming: bool) -> Behaviour:
    """A synchronous handler as an async one that runs it off the event loop."""

    async def run(request: Any, context: Any) -> Any:
        return await asyncio.to_thread(behaviour, request, context)

    async def stream(request: Any, context: Any) -> AsyncIterator[Any]:
        responses: Iterator[Any] = iter(await run(request, context))
        done = object()
        while (response := await asyncio.to_thread(next, responses, done)) is not done:
            yield response

    return stream if response_streaming else run


def _guard_request_stream(behaviour: Behaviour, reject: Reject) -> Behaviour:
    """A stream of requests, each checked as the behaviour reads it."""

    async def checked(requests: AsyncIterator[Any], context: Any) -> AsyncIterator[Any]:
        async for request in requests:
            if isinstance(request, UndecodableRequest):
                await reject(request, context)
            yield request

    if inspect.isasyncgenfunction(behaviour):

        async def guarded_stream(requests: AsyncIterator[Any], context: Any) -> AsyncIterator[Any]:
            async for response in behaviour(checked(requests, context), context):
                yield response

        return guarded_stream

    async def guarded(requests: AsyncIterator[Any], context: Any) -> Any:
        return await behaviour(checked(requests, context), context)

    return guarded
