"""What analytics learns live, not from the store: this replica's circuit breaker trips.

A breaker opening is no run event (the store only sees the attempts it refused, with
reason CIRCUIT_OPEN), so the mesh's transition listener (`observe_breaker`) tells it
here. Kept in memory, bounded, for this process only: it starts empty after a restart
and knows nothing of other replicas' breakers.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Callable

from orchestrator.resilience import CircuitState

MAX_TRIPS = 16_384


class AnalyticsRecorder:
    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._trips: deque[tuple[float, str]] = deque(maxlen=MAX_TRIPS)

    def observe_breaker(
        self, service: str, address: str, previous: CircuitState, to: CircuitState, reason: str
    ) -> None:
        """Mesh listener: counts a trip each time an endpoint's breaker opens."""
        if to is CircuitState.OPEN:
            self._trips.append((self._clock(), service))

    def trips_since(self, since: float) -> Counter[str]:
        """Breaker openings per service at or after `since` (unix seconds)."""
        return Counter(service for at, service in self._trips if at >= since)
