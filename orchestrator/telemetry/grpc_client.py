"""Client spans for unary gRPC calls, with the trace context sent in metadata (W3C traceparent).

Used instead of opentelemetry-instrumentation-grpc's aio *client* interceptor, which awaits
the call's status inside the interceptor: cancelling the caller's task then no longer
cancels the RPC, and the backend keeps working for a cancelled run. This one returns the
call to the caller untouched (cancelling the caller cancels the RPC, as without tracing)
and ends the span from the call's done callback.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import grpc
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

UNTRACED_PREFIXES = ("/grpc.health.", "/grpc.reflection.")
_finishing: set[asyncio.Future[None]] = set()  # strong references until each span ends


class TracingUnaryClientInterceptor(grpc.aio.UnaryUnaryClientInterceptor):  # type: ignore[misc]
    def __init__(self, tracer: trace.Tracer | None = None) -> None:
        self._tracer = tracer or trace.get_tracer("aura.grpc.client")

    async def intercept_unary_unary(
        self,
        continuation: Callable[[grpc.aio.ClientCallDetails, Any], Any],
        client_call_details: grpc.aio.ClientCallDetails,
        request: Any,
    ) -> Any:
        method = client_call_details.method
        if isinstance(method, bytes):
            method = method.decode()
        if method.startswith(UNTRACED_PREFIXES):
            return await continuation(client_call_details, request)
        service, _, rpc_method = method.lstrip("/").partition("/")
        span = self._tracer.start_span(
            method,
            kind=SpanKind.CLIENT,
            attributes={"rpc.system": "grpc", "rpc.service": service, "rpc.method": rpc_method},
        )
        carrier: dict[str, str] = {}
        propagate.inject(carrier, context=trace.set_span_in_context(span))
        metadata = list(client_call_details.metadata or ()) + list(carrier.items())
        details = client_call_details._replace(metadata=grpc.aio.Metadata(*metadata))
        try:
            call = await continuation(details, request)
        except BaseException as error:
            span.set_status(Status(StatusCode.ERROR, type(error).__name__))
            span.end()
            raise
        call.add_done_callback(lambda done: _end_when_known(span, done))
        return call


def _end_when_known(span: trace.Span, call: Any) -> None:
    async def finish() -> None:
        try:
            code = await call.code()
        except asyncio.CancelledError:
            code = grpc.StatusCode.CANCELLED
        span.set_attribute("rpc.grpc.status_code", code.value[0])
        if code != grpc.StatusCode.OK:
            span.set_status(Status(StatusCode.ERROR, code.name))
        span.end()

    if call.cancelled():
        span.set_attribute("rpc.grpc.status_code", grpc.StatusCode.CANCELLED.value[0])
        span.set_status(Status(StatusCode.ERROR, "CANCELLED"))
        span.end()
        return
    task = asyncio.ensure_future(finish())
    _finishing.add(task)
    task.add_done_callback(_finishing.discard)
