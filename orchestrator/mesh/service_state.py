"""What the mesh keeps per backend service and per endpoint (replica).

Breakers are per endpoint, the gRFC A50 / Envoy outlier-detection way, and the
service's view is derived from them: one dead replica is ejected while the
others keep serving, and the service only fails fast when every replica's
breaker is open. A single per-service breaker would either ignore a dead
replica (its failures diluted by the healthy ones) or cut off healthy replicas
with it. Health Watch streams are per endpoint too, so the signal that opens a
breaker is about exactly the replica it guards.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import grpc

from orchestrator.mesh.health_watch import SERVING, HealthWatch
from orchestrator.resilience import (
    Bulkhead,
    CircuitBreaker,
    CircuitState,
    LatencyWindow,
    Permit,
    RetryThrottle,
    ServicePolicy,
)


@dataclass
class ServiceStats:
    call_count: int = 0
    error_count: int = 0
    latency: LatencyWindow = field(default_factory=LatencyWindow)


@dataclass
class Endpoint:
    address: str
    channel: grpc.aio.Channel
    health: HealthWatch
    breaker: CircuitBreaker
    call_count: int = 0
    error_count: int = 0

    @property
    def serving(self) -> bool:
        return bool(self.health.status == SERVING)


@dataclass
class ServiceState:
    """One service: its replicas, round-robin cursor, bulkhead, retry budget, stats."""

    name: str
    policy: ServicePolicy
    endpoints: list[Endpoint]
    bulkhead: Bulkhead
    retry_throttle: RetryThrottle
    stats: ServiceStats = field(default_factory=ServiceStats)
    circuit_rejections: int = 0
    _cursor: int = 0
    _admission_waiters: list[asyncio.Future[None]] = field(default_factory=list)

    @property
    def circuit_state(self) -> CircuitState:
        return service_circuit_state([e.breaker.state for e in self.endpoints])

    @property
    def circuit_trips(self) -> int:
        return sum(e.breaker.trips for e in self.endpoints)

    def pick(self) -> tuple[Endpoint, Permit] | None:
        """The next endpoint in round-robin order whose breaker admits a call."""
        count = len(self.endpoints)
        for offset in range(count):
            index = (self._cursor + offset) % count
            permit = self.endpoints[index].breaker.try_acquire()
            if permit is not None:
                self._cursor = (index + 1) % count
                return self.endpoints[index], permit
        return None

    def may_admit_within(self, seconds: float) -> bool:
        """Whether some endpoint may let a call through within `seconds` (see the breaker)."""
        return any(e.breaker.may_admit_within(seconds) for e in self.endpoints)

    async def admission_may_have_changed(self, timeout_s: float) -> None:
        """Returns when an endpoint's breaker moved or freed its probe, when the soonest
        open timer runs out, or after `timeout_s`, whichever is first."""
        timers = [t for t in (e.breaker.timer_s() for e in self.endpoints) if t is not None]
        wait_s = min([timeout_s, *timers])
        if wait_s <= 0:
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._admission_waiters.append(waiter)
        try:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait_s):
                    await waiter
        finally:
            if waiter in self._admission_waiters:
                self._admission_waiters.remove(waiter)

    def notify_admission_changed(self) -> None:
        """Wakes every call waiting in `admission_may_have_changed`."""
        waiters, self._admission_waiters = self._admission_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def retry_after_s(self) -> float:
        """When the soonest endpoint will let a call through again."""
        return min((e.breaker.retry_after_s() for e in self.endpoints), default=0.0)


def service_circuit_state(states: Sequence[CircuitState]) -> CircuitState:
    """CLOSED if any endpoint takes calls, HALF_OPEN if only probes can pass, else OPEN."""
    if not states or CircuitState.CLOSED in states:
        return CircuitState.CLOSED
    if CircuitState.HALF_OPEN in states:
        return CircuitState.HALF_OPEN
    return CircuitState.OPEN
