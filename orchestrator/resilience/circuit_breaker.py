"""A circuit breaker for one backend endpoint, fed by health and by call outcomes.

States: CLOSED (calls flow, outcomes counted) -> OPEN (calls fail fast) ->
HALF_OPEN (exactly one probe passes; success closes, failure re-opens).

What opens it:
- health (grpc.health.v1 Watch): NOT_SERVING or SERVICE_UNKNOWN opens it at
  once and holds it open while health says so. That is the server's own word
  about now, not a verdict on its past: SERVING closes a breaker that only
  health had opened (no probe, no longer open time next trip), and lets a probe
  through early (OPEN -> HALF_OPEN) when call outcomes had tripped it too. A
  health flap therefore refuses calls only while NOT_SERVING lasts. A broken
  Watch stream (UNKNOWN) is not a failure: the open timer governs again.
- an unreachable endpoint (the connection is refused): opens it at once.
- call outcomes: `consecutive_failures` failures in a row, or a failure rate of
  at least `failure_rate` over the last `window_s` seconds once `min_calls`
  calls were seen. Which outcomes are failures is the caller's business (the
  mesh counts only UNAVAILABLE-like codes); cancelled calls are IGNORED. The
  defaults are set so that a backend failing at random at a rate that retries
  absorb (30% with three attempts succeeds 97.3% of the time) does not trip:
  five failures in a row happen about once per 600 calls at 30%, ten about once
  per 240,000, and 16 of 20 calls failing about once per 180,000 windows; a
  backend that is really down fails every call and trips either way, and one
  whose connection is refused trips on its first call.

Each trip's open time is base_open_s * 2^(streak-1), capped at max_open_s, with
a jitter of x0.8-1.2; the streak grows while trips follow each other and starts
again after the breaker stayed closed for `streak_reset_s`. A health-only
opening does not grow the streak.

Outcomes are reported with the `Permit` the call was admitted with, so a slow
answer to a call admitted before a transition cannot close or open the breaker
after it moved on (each transition starts a new generation).

Pure: clock and randomness are injected; no I/O, no tasks.
"""

from __future__ import annotations

import enum
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass


class CircuitState(enum.Enum):
    CLOSED = "CLOSED"
    OPEN = "OPEN"
    HALF_OPEN = "HALF_OPEN"


class HealthSignal(enum.Enum):
    SERVING = "SERVING"
    NOT_SERVING = "NOT_SERVING"
    """NOT_SERVING or SERVICE_UNKNOWN."""
    UNKNOWN = "UNKNOWN"
    """No answer yet, or the Watch stream broke."""


class Outcome(enum.Enum):
    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"
    UNREACHABLE = "UNREACHABLE"
    """The call never reached the endpoint (connection refused): trips at once."""
    IGNORED = "IGNORED"


@dataclass(frozen=True)
class BreakerSettings:
    consecutive_failures: int = 10
    failure_rate: float = 0.8
    window_s: float = 10.0
    min_calls: int = 20
    base_open_s: float = 1.0
    max_open_s: float = 30.0
    streak_reset_s: float = 60.0

    def __post_init__(self) -> None:
        if self.consecutive_failures < 1 or self.min_calls < 1:
            raise ValueError("consecutive_failures and min_calls must be at least 1")
        if not 0 < self.failure_rate <= 1:
            raise ValueError("failure_rate must be in (0, 1]")
        if self.window_s <= 0 or self.base_open_s <= 0 or self.max_open_s < self.base_open_s:
            raise ValueError("window_s, base_open_s must be positive; max_open_s >= base_open_s")


@dataclass(frozen=True)
class Permit:
    """Admission of one call; hand it back with the outcome."""

    probe: bool
    generation: int


TransitionListener = Callable[[CircuitState, CircuitState, str], None]


class CircuitBreaker:
    def __init__(
        self,
        settings: BreakerSettings | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        uniform: Callable[[float, float], float] = random.uniform,
        on_transition: TransitionListener | None = None,
    ) -> None:
        self.settings = settings or BreakerSettings()
        self._clock = clock
        self._wall_clock = wall_clock
        self._uniform = uniform
        self._listeners: list[TransitionListener] = [on_transition] if on_transition else []
        self._state = CircuitState.CLOSED
        self._generation = 0
        self._consecutive = 0
        # Unbounded on purpose: the window is trimmed by age, and a running count of its
        # failures keeps record() O(1) instead of summing the window on every call.
        self._window: deque[tuple[float, bool]] = deque()
        self._window_failures = 0
        self._open_until = 0.0
        self._health_down = False
        self._opened_by_health_only = False
        """OPEN only because health said NOT_SERVING: SERVING closes it."""
        self._probe_in_flight = False
        self._streak = 0
        self._closed_since = clock()
        self.trips = 0
        self.changed_at: float | None = None
        """Wall-clock time of the last transition."""
        self.last_reason = ""

    def add_listener(self, listener: TransitionListener) -> None:
        self._listeners.append(listener)

    @property
    def state(self) -> CircuitState:
        self._advance()
        return self._state

    def retry_after_s(self) -> float:
        """How long until a call may pass again (0 when one may pass now)."""
        state = self.state
        if state is CircuitState.CLOSED:
            return 0.0
        if state is CircuitState.HALF_OPEN:
            return self.settings.base_open_s if self._probe_in_flight else 0.0
        if self._health_down:
            return self.settings.base_open_s
        return max(0.0, self._open_until - self._clock())

    def may_admit_within(self, seconds: float) -> bool:
        """Whether a call waiting up to `seconds` may be let through.

        False only when the open timer alone decides and runs past `seconds`.
        While health holds it open, SERVING may come at any moment; while a
        probe is out, its answer may close it.
        """
        state = self.state
        if state is not CircuitState.OPEN or self._health_down:
            return True
        return self._open_until - self._clock() < seconds

    def timer_s(self) -> float | None:
        """Seconds until the open timer lets a probe through; None when no timer runs."""
        if self.state is not CircuitState.OPEN or self._health_down:
            return None
        return max(0.0, self._open_until - self._clock())

    def try_acquire(self) -> Permit | None:
        """A permit when a call may go out now; None when it must fail fast."""
        state = self.state
        if state is CircuitState.CLOSED:
            return Permit(probe=False, generation=self._generation)
        if state is CircuitState.HALF_OPEN and not self._probe_in_flight:
            self._probe_in_flight = True
            return Permit(probe=True, generation=self._generation)
        return None

    def record(self, permit: Permit, outcome: Outcome) -> None:
        current = permit.generation == self._generation
        if permit.probe:
            if current:
                self._probe_in_flight = False
            if not current or self._state is not CircuitState.HALF_OPEN:
                return
            if outcome is Outcome.SUCCESS:
                self._close("probe succeeded")
            elif outcome is Outcome.FAILURE:
                self._open("probe failed")
            elif outcome is Outcome.UNREACHABLE:
                self._open("probe found the endpoint unreachable")
            return
        if not current or self._state is not CircuitState.CLOSED or outcome is Outcome.IGNORED:
            return
        if outcome is Outcome.UNREACHABLE:
            self._open("endpoint unreachable")
            return
        now = self._clock()
        failed = outcome is Outcome.FAILURE
        self._consecutive = self._consecutive + 1 if failed else 0
        self._window.append((now, failed))
        self._window_failures += failed
        while self._window and self._window[0][0] < now - self.settings.window_s:
            self._window_failures -= self._window.popleft()[1]
        if self._consecutive >= self.settings.consecutive_failures:
            self._open(f"{self._consecutive} consecutive failures")
            return
        calls = len(self._window)
        if calls >= self.settings.min_calls:
            failures = self._window_failures
            if failures / calls >= self.settings.failure_rate:
                self._open(f"{failures} of the last {calls} calls failed")

    def on_health(self, signal: HealthSignal) -> None:
        if signal is HealthSignal.NOT_SERVING:
            self._health_down = True
            if self._state is not CircuitState.OPEN:
                self._open("health says NOT_SERVING", by_health=True)
        elif signal is HealthSignal.SERVING:
            self._health_down = False
            if self._state is not CircuitState.CLOSED and self._opened_by_health_only:
                self._close("health says SERVING")
            elif self._state is CircuitState.OPEN:
                self._transition(CircuitState.HALF_OPEN, "health says SERVING")
        else:
            self._health_down = False

    # Transitions -------------------------------------------------------------

    def _advance(self) -> None:
        if (
            self._state is CircuitState.OPEN
            and not self._health_down
            and self._clock() >= self._open_until
        ):
            self._transition(CircuitState.HALF_OPEN, "open time elapsed")

    def _open(self, reason: str, *, by_health: bool = False) -> None:
        """Opens it. `by_health`: health says NOT_SERVING; the streak does not grow (the
        open time only governs if the Watch stream breaks before SERVING)."""
        now = self._clock()
        if (
            self._state is CircuitState.CLOSED
            and now - self._closed_since >= self.settings.streak_reset_s
        ):
            self._streak = 0
        if not by_health:
            self._streak += 1
        self.trips += 1
        base = self.settings.base_open_s * 2 ** (max(1, self._streak) - 1)
        self._open_until = now + min(base, self.settings.max_open_s) * self._uniform(0.8, 1.2)
        # Health-only when health opens it from CLOSED, or from a HALF_OPEN reached
        # from a health-only opening; any trip by calls clears it.
        self._opened_by_health_only = by_health and (
            self._state is CircuitState.CLOSED or self._opened_by_health_only
        )
        self._transition(CircuitState.OPEN, reason)

    def _close(self, reason: str) -> None:
        self._closed_since = self._clock()
        self._transition(CircuitState.CLOSED, reason)

    def _transition(self, to: CircuitState, reason: str) -> None:
        previous = self._state
        self._state = to
        self._generation += 1
        self._consecutive = 0
        self._window.clear()
        self._window_failures = 0
        self._probe_in_flight = False
        self.changed_at = self._wall_clock()
        self.last_reason = reason
        for listener in self._listeners:
            listener(previous, to, reason)
