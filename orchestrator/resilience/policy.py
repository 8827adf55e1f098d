"""Per-service resilience policy: retry defaults, retry budget, breaker and bulkhead."""

from __future__ import annotations

from dataclasses import dataclass, field

from orchestrator.resilience.circuit_breaker import BreakerSettings
from orchestrator.resilience.retry_spec import RetrySpec
from orchestrator.resilience.retry_throttle import RetryThrottleSettings

DEFAULT_MAX_IN_FLIGHT = 64


@dataclass(frozen=True)
class ServicePolicy:
    """How the mesh treats one backend service."""

    retry: RetrySpec = field(default_factory=RetrySpec)
    """Retry policy of steps calling this service that declare none of their own."""
    retry_throttle: RetryThrottleSettings = field(default_factory=RetryThrottleSettings)
    breaker: BreakerSettings = field(default_factory=BreakerSettings)
    max_in_flight: int = DEFAULT_MAX_IN_FLIGHT
    """Bulkhead: calls in flight at once to the service (all replicas together)."""
