"""The server's one error boundary: every handler's exception becomes a google.rpc.Status.

An `AuraError` ends the call with its own status (`AuraError.to_status`); an abort
already under way passes; anything else is a bug: INTERNAL with ErrorInfo(INTERNAL)
and one logged traceback, never UNKNOWN and never the exception's text. Wraps every
async handler of the server (unary and streaming, the orchestrator's service, health
and reflection alike); a synchronous handler is left as it is.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeAlias

import grpc

from orchestrator.api.status import abort_with
from orchestrator.errors import AuraError

log = logging.getLogger(__name__)

Context: TypeAlias = "grpc.aio.ServicerContext[Any, Any]"
#: The rest of the interceptor chain: the handler of a call's method, None for none.
HandlerLookup: TypeAlias = (
    "Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler | None]]"
)
#: More than any server's methods: a handler made per call is guarded, just not kept.
MAX_CACHED_HANDLERS = 1024
_BEHAVIOURS = ("unary_unary", "unary_stream", "stream_unary", "stream_stream")


class ErrorStatusInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    def __init__(self) -> None:
        # handler -> its guarded twin: the server hands out the same handler for every
        # call of a method, so each is wrapped once, not per call.
        self._guarded: dict[grpc.RpcMethodHandler, grpc.RpcMethodHandler] = {}

    async def intercept_service(
        self, continuation: HandlerLookup, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler | None:
        handler = await continuation(handler_call_details)
        if handler is None:  # no such method: grpc answers UNIMPLEMENTED
            return None
        guarded = self._guarded.get(handler)
        if guarded is None:
            guarded = _guarded_handler(handler)
            if len(self._guarded) < MAX_CACHED_HANDLERS:
                self._guarded[handler] = guarded
        return guarded


def with_behaviours(
    handler: grpc.RpcMethodHandler, wrap: Callable[[Callable[..., Any]], Callable[..., Any]]
) -> grpc.RpcMethodHandler:
    """`handler` with each of its behaviours (whichever call shape it has) wrapped."""
    behaviours = {
        name: wrap(behaviour)
        for name in _BEHAVIOURS
        if (behaviour := getattr(handler, name)) is not None
    }
    return handler._replace(**behaviours)


def _guarded_handler(handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
    return with_behaviours(handler, _guarded)


def _guarded(behaviour: Callable[..., Any]) -> Callable[..., Any]:
    if inspect.isasyncgenfunction(behaviour):

        async def streaming(request: Any, context: Context) -> AsyncIterator[Any]:
            try:
                async for item in behaviour(request, context):
                    yield item
            except Exception as error:
                await _abort_for(context, error)

        return streaming
    if inspect.iscoroutinefunction(behaviour):

        async def unary(request: Any, context: Context) -> Any:
            try:
                return await behaviour(request, context)
            except Exception as error:
                await _abort_for(context, error)

        return unary
    return behaviour


async def _abort_for(context: Context, error: Exception) -> None:
    """Our errors keep their status; an abort already under way passes; the rest is INTERNAL."""
    if isinstance(error, grpc.aio.AbortError):
        raise error
    if not isinstance(error, AuraError):
        log.error("unexpected error while serving a request", exc_info=error)
        error = AuraError("internal error; the orchestrator logged the cause", reason="INTERNAL")
    await abort_with(context, error)
