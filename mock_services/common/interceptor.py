"""Per-call bookkeeping and fault injection, wrapped around a mock service's methods.

Runs for the mock's own service only: health and reflection stay truthful and fault-free, as
they would on a real server whose business logic is failing.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from mock_services.common.faults import (
    FAULT_HEADER,
    FaultConfig,
    FaultPlan,
    FaultSyntaxError,
    RequestFaults,
    parse_fault_header,
    plan_faults,
)
from mock_services.common.validation import (
    ERROR_DOMAIN,
    Violations,
    abort_with,
    invalid_argument_status,
)

IDEMPOTENCY_KEY_HEADER = "aura-idempotency-key"
PARTICIPANT_SERVICE = "aura.transaction.v1.ParticipantService"
PUSHBACK_HEADER = "grpc-retry-pushback-ms"

log = logging.getLogger(__name__)

Handler = Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]]


@dataclass
class ServerState:
    """What a running mock knows about the calls it received, and the faults it injects."""

    service_name: str
    faults: FaultConfig
    calls: collections.Counter[str] = field(default_factory=collections.Counter)
    """Method name (e.g. "AnalyzeText") -> calls received, including failed ones."""
    cancelled: collections.Counter[str] = field(default_factory=collections.Counter)
    """Method name -> calls the client cancelled or whose deadline passed mid-call."""
    in_flight: int = 0
    last_idempotency_key: str | None = None
    last_metadata: dict[str, str] = field(default_factory=dict)
    last_time_remaining_s: float | None = None
    """Deadline budget the last call arrived with; None when it had no deadline."""
    ready_at: float = 0.0
    """Monotonic time before which calls get UNAVAILABLE (slow start)."""
    rng: random.Random = field(default_factory=random.Random)

    def starting_for_s(self) -> float:
        return max(0.0, self.ready_at - time.monotonic())


def _text_metadata(context_metadata: Any) -> dict[str, str]:
    metadata: dict[str, str] = {}
    for key, value in context_metadata or ():
        if isinstance(value, str):
            metadata[key] = f"{metadata[key]};{value}" if key in metadata else value
    return metadata


def _pack(message: Any) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


def _error_status(
    code: grpc.StatusCode, message: str, reason: str, metadata: dict[str, str], retry_ms: int | None
) -> grpc.Status:
    details = [
        _pack(error_details_pb2.ErrorInfo(reason=reason, domain=ERROR_DOMAIN, metadata=metadata))
    ]
    if retry_ms is not None:
        delay = duration_pb2.Duration()
        delay.FromMilliseconds(retry_ms)
        details.append(_pack(error_details_pb2.RetryInfo(retry_delay=delay)))
    status = rpc_status.to_status(
        status_pb2.Status(code=code.value[0], message=message, details=details)
    )
    if retry_ms is None:
        return status
    # The pushback header is what gRFC A6 clients read; RetryInfo is for humans and richer clients.
    pushback = ((PUSHBACK_HEADER, str(retry_ms)),)
    return status._replace(trailing_metadata=tuple(status.trailing_metadata) + pushback)


class FaultInjectionInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Counts calls, records their metadata and applies the configured and requested faults."""

    def __init__(self, state: ServerState) -> None:
        self._state = state
        # The mock's own service and, next to it, its transaction participant service.
        self._prefixes = (f"/{state.service_name}/", f"/{PARTICIPANT_SERVICE}/")

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        method: str = handler_call_details.method
        prefix = next((p for p in self._prefixes if method.startswith(p)), None)
        if handler is None or prefix is None or handler.unary_unary is None:
            return handler
        wrapped = self._wrap(method.removeprefix(prefix), handler.unary_unary)
        return grpc.unary_unary_rpc_method_handler(
            wrapped,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )

    def _wrap(self, method: str, inner: Handler) -> Handler:
        state = self._state

        async def handle(request: Any, context: grpc.aio.ServicerContext) -> Any:
            state.calls[method] += 1
            state.in_flight += 1
            metadata = _text_metadata(context.invocation_metadata())
            state.last_metadata = metadata
            state.last_time_remaining_s = context.time_remaining()
            if IDEMPOTENCY_KEY_HEADER in metadata:
                state.last_idempotency_key = metadata[IDEMPOTENCY_KEY_HEADER]
            try:
                await self._inject(method, metadata, context)
                return await inner(request, context)
            except asyncio.CancelledError:
                state.cancelled[method] += 1
                raise
            finally:
                state.in_flight -= 1

        return handle

    async def _inject(
        self, method: str, metadata: dict[str, str], context: grpc.aio.ServicerContext
    ) -> None:
        state = self._state
        request_faults: RequestFaults | None = None
        if FAULT_HEADER in metadata:
            try:
                request_faults = parse_fault_header(metadata[FAULT_HEADER])
            except FaultSyntaxError as error:
                violations = Violations()
                violations.add(f"metadata.{FAULT_HEADER}", str(error))
                await abort_with(context, invalid_argument_status(violations, "fault header"))

        starting_for_s = state.starting_for_s()
        if starting_for_s > 0:
            await abort_with(
                context,
                _error_status(
                    grpc.StatusCode.UNAVAILABLE,
                    f"{state.service_name} is starting; ready in {starting_for_s:.1f}s",
                    "STARTING",
                    {"service": state.service_name},
                    max(1, round(starting_for_s * 1000)),
                ),
            )

        plan: FaultPlan = plan_faults(state.faults, request_faults, state.rng)
        if plan.delay_s > 0:
            await asyncio.sleep(plan.delay_s)
        if plan.hang:
            log.debug("%s/%s: hanging until the client gives up", state.service_name, method)
            await asyncio.Event().wait()
        if plan.error_code is not None:
            await abort_with(
                context,
                _error_status(
                    plan.error_code,
                    f"injected fault: {plan.error_code.name} from {state.service_name}/{method}",
                    "INJECTED_FAULT",
                    {"service": state.service_name, "method": method},
                    plan.pushback_ms,
                ),
            )
