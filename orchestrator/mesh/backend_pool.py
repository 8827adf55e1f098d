"""Channels to the backend services and the one generic way to call them.

The engine calls any unary method it has a descriptor for: a new service needs
a proto and an address, not code. Channels are created once per address and
reused; channel-level retries are off because the engine retries per step
policy (stacking both would multiply attempts).

Per call, in order: fail fast if no replica's breaker can admit the call within
its timeout (every one is open and its open timer outlasts the timeout); wait
for a bulkhead slot within the call's deadline; pick a replica round-robin
among those whose breaker admits the call; if none does yet, give the slot back
and wait, within the timeout, for one that will (a half-open probe's answer,
health turning SERVING, an open timer running out, another replica); call it;
feed the outcome back to that replica's breaker (only UNAVAILABLE-like failures
count, a refused connection trips at once, calls we cancelled are ignored). See
`service_state` for why breakers are per replica.

An answer comes back as its message and the bytes it arrived as (`Answer`): the step
stores those bytes as its output, so an answer is parsed once and never serialized
again. Bytes that do not parse as the method's response type fail the call INTERNAL
(reason UNDECODABLE_RESPONSE); the backend answered, so its breaker counts a success.

Channels reconnect quickly (`RECONNECT_BACKOFF_MAX_MS`): gRPC's default
connection backoff grows to two minutes, so after a long outage a channel would
stay down for many seconds after the backend is back, and with it the health
stream whose SERVING closes the breaker.

With `tls` (AURA_MESH_TLS_*), every channel is TLS and checks the backend's certificate
against its service's identity (`mesh_tls`); the health stream shares that channel. A
refused handshake fails calls UNAVAILABLE and counts as unreachable for the breaker.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import grpc
from google.protobuf.message import DecodeError, Message
from google.rpc import code_pb2
from grpc_health.v1 import health_pb2

from orchestrator.errors import Unavailable
from orchestrator.mesh.backend_error import BackendCallError, status_from_aio_error
from orchestrator.mesh.health_watch import HealthWatch
from orchestrator.mesh.mesh_tls import MeshTls, MeshTlsFiles, service_identity
from orchestrator.mesh.service_state import Endpoint, ServiceState, ServiceStats
from orchestrator.mesh.snapshot import ServiceSnapshot, service_snapshot
from orchestrator.resilience import (
    BULKHEAD_FULL,
    Bulkhead,
    BulkheadFull,
    CircuitBreaker,
    CircuitState,
    HealthSignal,
    Outcome,
    Permit,
    RetryThrottle,
    ServicePolicy,
    circuit_open_status,
    orchestrator_status,
    parse_pushback,
)
from orchestrator.telemetry import grpc_client_interceptors

log = logging.getLogger(__name__)

# Connection attempts to a down backend at most every 250 ms (x0.8-1.2 jitter):
# cheap (a refused connection costs a packet) and it bounds how long a recovered
# backend waits to be reconnected.
RECONNECT_BACKOFF_INITIAL_MS = 100
RECONNECT_BACKOFF_MAX_MS = 250

CHANNEL_OPTIONS: Sequence[tuple[str, Any]] = (
    ("grpc.enable_retries", 0),
    ("grpc.initial_reconnect_backoff_ms", RECONNECT_BACKOFF_INITIAL_MS),
    ("grpc.max_reconnect_backoff_ms", RECONNECT_BACKOFF_MAX_MS),
    # At or above gRPC servers' default minimum ping interval (5 min); faster pings earn
    # GOAWAY "too_many_pings" and a reconnect.
    ("grpc.keepalive_time_ms", 300_000),
    ("grpc.max_receive_message_length", 16 * 1024 * 1024),
)

# Health statuses that open a breaker at once.
_HEALTH_SIGNALS = {
    health_pb2.HealthCheckResponse.SERVING: HealthSignal.SERVING,
    health_pb2.HealthCheckResponse.NOT_SERVING: HealthSignal.NOT_SERVING,
    health_pb2.HealthCheckResponse.SERVICE_UNKNOWN: HealthSignal.NOT_SERVING,
}

# (service, address, from, to, reason)
BreakerListener = Callable[[str, str, CircuitState, CircuitState, str], None]


UNDECODABLE_RESPONSE = "UNDECODABLE_RESPONSE"


class Answer(NamedTuple):
    """A backend's answer: the parsed message and the bytes it arrived as."""

    message: Message
    wire: bytes


def breaker_outcome(code: grpc.StatusCode, *, deadline_was_own: bool) -> Outcome:
    """What a call's status means for the breaker: only UNAVAILABLE-like codes are failures.

    A DEADLINE_EXCEEDED counts only when the call had the step's full timeout (a
    hung backend), not when a run's or caller's nearly spent deadline cut it short.
    Any other answer shows the backend alive and responsive.
    """
    if code is grpc.StatusCode.UNAVAILABLE:
        return Outcome.FAILURE
    if code is grpc.StatusCode.DEADLINE_EXCEEDED:
        return Outcome.FAILURE if deadline_was_own else Outcome.IGNORED
    if code is grpc.StatusCode.CANCELLED:
        return Outcome.IGNORED
    return Outcome.SUCCESS


class BackendPool:
    """Replicas per full service name, with breakers, bulkheads and retry budgets."""

    def __init__(
        self,
        addresses: Mapping[str, Sequence[str]],
        *,
        policy_for: Callable[[str], ServicePolicy] | None = None,
        on_breaker_transition: BreakerListener | None = None,
        clock: Callable[[], float] = time.monotonic,
        tls: MeshTlsFiles | None = None,
    ) -> None:
        self._addresses = {service: list(addrs) for service, addrs in addresses.items()}
        self._policy_for = policy_for or (lambda service: ServicePolicy())
        self._listeners: list[BreakerListener] = (
            [on_breaker_transition] if on_breaker_transition else []
        )
        self._clock = clock
        self._tls_files = tls
        self._tls: MeshTls | None = None
        self._services: dict[str, ServiceState] = {}
        self._callables: dict[tuple[str, str], grpc.aio.UnaryUnaryMultiCallable[Any, bytes]] = {}

    def add_breaker_listener(self, listener: BreakerListener) -> None:
        self._listeners.append(listener)

    async def start(self) -> None:
        if self._tls_files is not None:
            self._tls = self._tls_files.load()  # once: the files are not read again
        for service, addresses in self._addresses.items():
            policy = self._policy_for(service)
            state = ServiceState(
                name=service,
                policy=policy,
                endpoints=[],
                bulkhead=Bulkhead(policy.max_in_flight),
                retry_throttle=RetryThrottle(policy.retry_throttle),
            )
            state.endpoints.extend(self._endpoint(state, address) for address in addresses)
            self._services[service] = state

    def _endpoint(self, state: ServiceState, address: str) -> Endpoint:
        service = state.name
        if self._tls is None:
            channel = grpc.aio.insecure_channel(
                address, options=CHANNEL_OPTIONS, interceptors=grpc_client_interceptors()
            )
        else:
            channel = self._tls.channel(
                address, service, CHANNEL_OPTIONS, interceptors=grpc_client_interceptors()
            )
        breaker = CircuitBreaker(state.policy.breaker, clock=self._clock)

        def transition(previous: CircuitState, to: CircuitState, reason: str) -> None:
            log.info(
                "circuit %s %s: %s -> %s (%s)", service, address, previous.name, to.name, reason
            )
            state.notify_admission_changed()
            for listener in self._listeners:
                listener(service, address, previous, to, reason)

        def health_changed(status: int) -> None:
            breaker.on_health(_HEALTH_SIGNALS.get(status, HealthSignal.UNKNOWN))

        breaker.add_listener(transition)
        watch = HealthWatch(channel, service, on_status=health_changed)
        watch.start()
        return Endpoint(address, channel, watch, breaker)

    async def stop(self) -> None:
        for state in self._services.values():
            for endpoint in state.endpoints:
                await endpoint.health.stop()
                await endpoint.channel.close()
        self._services.clear()
        self._callables.clear()

    # Views --------------------------------------------------------------------

    def services(self) -> list[str]:
        return sorted(self._services)

    def service(self, service: str) -> ServiceState:
        state = self._services.get(service)
        if state is None:
            raise Unavailable(
                f"no address configured for service {service}",
                reason="SERVICE_NOT_CONFIGURED",
                metadata={"service": service},
            )
        return state

    def snapshot(self) -> list[ServiceSnapshot]:
        """A plain view of every service and its replicas, sorted by service name."""
        return [service_snapshot(self._services[name]) for name in self.services()]

    def endpoints(self, service: str) -> list[Endpoint]:
        state = self._services.get(service)
        return state.endpoints if state else []

    @property
    def stats(self) -> dict[str, ServiceStats]:
        return {name: state.stats for name, state in self._services.items()}

    # The call -----------------------------------------------------------------

    async def invoke(
        self,
        *,
        service: str,
        path: str,
        request: Message,
        response_class: type[Message],
        timeout_s: float,
        metadata: Sequence[tuple[str, str]] = (),
        deadline_was_own: bool = True,
        on_dispatch: Callable[[], None] | None = None,
    ) -> Answer:
        """Calls `path` on one replica of `service`; raises BackendCallError on failure.

        `deadline_was_own`: the timeout is the step's own (not cut short by a run's
        or caller's deadline), so a DEADLINE_EXCEEDED says the backend is stuck.
        `on_dispatch` is called once, right before the call goes out to the chosen
        replica (after the bulkhead slot and the breaker's admission), never when
        the call is refused before.

        A call no breaker admits yet waits for one within `timeout_s`; it fails
        fast (CIRCUIT_OPEN, no backend call) only when no breaker can admit it in
        that time, or when the time runs out.
        """
        state = self.service(service)
        started = self._clock()
        deadline = started + timeout_s
        while True:
            if not state.may_admit_within(deadline - self._clock()):
                raise self._circuit_open(state, path)
            await self._acquire_slot(state, path, deadline - self._clock(), timeout_s)
            picked = state.pick()
            if picked is not None:
                break
            state.bulkhead.release()
            left_s = deadline - self._clock()
            if left_s <= 0:
                raise self._circuit_open(state, path)
            await state.admission_may_have_changed(left_s)
            # What is left after waiting is not the step's full timeout: a deadline
            # hit now does not say the backend is stuck.
            deadline_was_own = False
        endpoint, permit = picked
        try:
            # The call is awaited here rather than in a helper coroutine: 20,000 calls in
            # flight (the scale scenario) each hold one coroutine less.
            call = self._callable(endpoint, path)
            started = time.perf_counter()
            try:
                if on_dispatch is not None:
                    on_dispatch()
                state.stats.call_count += 1
                endpoint.call_count += 1
                wire = await call(request, timeout=deadline - self._clock(), metadata=metadata)
            except grpc.aio.AioRpcError as error:
                raise self._failed(state, endpoint, permit, path, error, deadline_was_own) from None
            except (asyncio.CancelledError, Exception):
                self._record(state, endpoint, permit, Outcome.IGNORED)
                raise
            self._record(state, endpoint, permit, Outcome.SUCCESS)
            state.stats.latency.add(time.perf_counter() - started)
            return self._answer(state, endpoint, path, response_class, wire)
        finally:
            state.bulkhead.release()

    async def _acquire_slot(
        self, state: ServiceState, path: str, wait_s: float, timeout_s: float
    ) -> None:
        try:
            await state.bulkhead.acquire(wait_s)
        except BulkheadFull as full:
            raise BackendCallError(
                orchestrator_status(
                    code_pb2.DEADLINE_EXCEEDED,
                    f"no call slot for {state.name} within {timeout_s:.3f}s: {full}",
                    reason=BULKHEAD_FULL,
                    metadata={"service": state.name},
                ),
                service=state.name,
                method=path,
            ) from None

    def _circuit_open(self, state: ServiceState, path: str) -> BackendCallError:
        state.circuit_rejections += 1
        return BackendCallError(
            circuit_open_status(state.name, state.retry_after_s()), service=state.name, method=path
        )

    def _failed(
        self,
        state: ServiceState,
        endpoint: Endpoint,
        permit: Permit,
        path: str,
        error: grpc.aio.AioRpcError,
        deadline_was_own: bool,
    ) -> BackendCallError:
        """The backend's failure, recorded for its breaker, as the error the call raises."""
        outcome = breaker_outcome(error.code(), deadline_was_own=deadline_was_own)
        if outcome is Outcome.FAILURE and _unreachable(endpoint.channel):
            outcome = Outcome.UNREACHABLE
        self._record(state, endpoint, permit, outcome)
        state.stats.error_count += 1
        endpoint.error_count += 1
        status = status_from_aio_error(error)
        if outcome is Outcome.UNREACHABLE and self._tls is not None:
            # A refused handshake looks like a refused connection: say what was expected.
            status.message += f" (mTLS link, expected identity {service_identity(state.name)})"
        return BackendCallError(
            status,
            service=state.name,
            method=path,
            pushback_s=parse_pushback(error.trailing_metadata(), status),
            endpoint=endpoint.address,
        )

    @staticmethod
    def _answer(
        state: ServiceState,
        endpoint: Endpoint,
        path: str,
        response_class: type[Message],
        wire: bytes,
    ) -> Answer:
        """The answer parsed once; bytes that are not the method's response type fail it."""
        try:
            return Answer(response_class.FromString(wire), wire)
        except DecodeError as error:
            state.stats.error_count += 1
            endpoint.error_count += 1
            name = response_class.DESCRIPTOR.full_name
            raise BackendCallError(
                orchestrator_status(
                    code_pb2.INTERNAL,
                    f"the answer of {path} from {endpoint.address} is not a valid {name}: {error}",
                    reason=UNDECODABLE_RESPONSE,
                    metadata={"service": state.name, "response_type": name},
                ),
                service=state.name,
                method=path,
                endpoint=endpoint.address,
            ) from None

    @staticmethod
    def _record(state: ServiceState, endpoint: Endpoint, permit: Permit, outcome: Outcome) -> None:
        endpoint.breaker.record(permit, outcome)
        if permit.probe:
            state.notify_admission_changed()  # the probe slot is free again, or it moved

    def _callable(
        self, endpoint: Endpoint, path: str
    ) -> grpc.aio.UnaryUnaryMultiCallable[Any, bytes]:
        key = (endpoint.address, path)
        call = self._callables.get(key)
        if call is None:
            # No deserializer: the bytes are the answer (`_call` parses them), and grpc's
            # own would turn bytes it cannot parse into a None answer and a log line.
            call = endpoint.channel.unary_unary(path, request_serializer=_serialize)
            self._callables[key] = call
        return call


def _unreachable(channel: grpc.aio.Channel) -> bool:
    """The channel could not connect (refused, unreachable): the call never got there."""
    return channel.get_state() is grpc.ChannelConnectivity.TRANSIENT_FAILURE


def _serialize(message: Message) -> bytes:
    return message.SerializeToString()
