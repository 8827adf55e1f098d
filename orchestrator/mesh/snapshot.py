"""Plain, immutable views of the mesh for callers that report on it (ListServices).

Callers get numbers and states, never the live breakers, bulkheads or channels."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from orchestrator.mesh.health_watch import SERVING, UNKNOWN
from orchestrator.mesh.service_state import Endpoint, ServiceState
from orchestrator.resilience import CircuitState


class ServingStatus(enum.Enum):
    """What the endpoint's health Watch stream last said."""

    UNKNOWN = "unknown"
    """No answer yet, or the stream broke."""
    SERVING = "serving"
    NOT_SERVING = "not_serving"
    """NOT_SERVING or SERVICE_UNKNOWN."""


@dataclass(frozen=True)
class EndpointSnapshot:
    address: str
    serving_status: ServingStatus
    circuit_state: CircuitState
    circuit_trips: int
    circuit_changed_at: float | None
    """Wall-clock seconds of the breaker's last transition; None if it never moved."""
    call_count: int
    error_count: int


@dataclass(frozen=True)
class ServiceSnapshot:
    service: str
    call_count: int
    error_count: int
    circuit_state: CircuitState
    circuit_trips: int
    circuit_rejections: int
    in_flight: int
    max_in_flight: int
    retry_tokens: float
    max_retry_tokens: float
    latency_p50_s: float
    latency_p99_s: float
    endpoints: tuple[EndpointSnapshot, ...]


def _serving_status(status: int) -> ServingStatus:
    if status == SERVING:
        return ServingStatus.SERVING
    if status == UNKNOWN:
        return ServingStatus.UNKNOWN
    return ServingStatus.NOT_SERVING


def endpoint_snapshot(endpoint: Endpoint) -> EndpointSnapshot:
    return EndpointSnapshot(
        address=endpoint.address,
        serving_status=_serving_status(endpoint.health.status),
        circuit_state=endpoint.breaker.state,
        circuit_trips=endpoint.breaker.trips,
        circuit_changed_at=endpoint.breaker.changed_at,
        call_count=endpoint.call_count,
        error_count=endpoint.error_count,
    )


def service_snapshot(state: ServiceState) -> ServiceSnapshot:
    stats = state.stats
    return ServiceSnapshot(
        service=state.name,
        call_count=stats.call_count,
        error_count=stats.error_count,
        circuit_state=state.circuit_state,
        circuit_trips=state.circuit_trips,
        circuit_rejections=state.circuit_rejections,
        in_flight=state.bulkhead.in_flight,
        max_in_flight=state.bulkhead.max_in_flight,
        retry_tokens=state.retry_throttle.tokens,
        max_retry_tokens=state.retry_throttle.max_tokens,
        latency_p50_s=stats.latency.percentile(50),
        latency_p99_s=stats.latency.percentile(99),
        endpoints=tuple(endpoint_snapshot(endpoint) for endpoint in state.endpoints),
    )
