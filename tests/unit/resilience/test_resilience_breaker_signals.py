"""What opens the breaker and what closes it: health as the server's word about now,
refused connections, and default thresholds that a random failure rate retries absorb
does not reach."""

from __future__ import annotations

import random

from orchestrator.resilience import (
    BreakerSettings,
    CircuitBreaker,
    CircuitState,
    HealthSignal,
    Outcome,
)

SETTINGS = BreakerSettings(consecutive_failures=3, base_open_s=1.0, max_open_s=30.0)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def breaker(clock: Clock, settings: BreakerSettings = SETTINGS) -> CircuitBreaker:
    return CircuitBreaker(settings, clock=clock, uniform=lambda low, high: 1.0)


def call(b: CircuitBreaker, outcome: Outcome) -> None:
    permit = b.try_acquire()
    assert permit is not None
    b.record(permit, outcome)


def trip(b: CircuitBreaker) -> None:
    for _ in range(b.settings.consecutive_failures):
        call(b, Outcome.FAILURE)
    assert b.state is CircuitState.OPEN


def test_a_flapping_health_refuses_calls_only_while_it_says_not_serving() -> None:
    clock = Clock()
    b = breaker(clock)
    for _ in range(20):
        b.on_health(HealthSignal.NOT_SERVING)
        assert b.try_acquire() is None
        clock.now += 1.0
        b.on_health(HealthSignal.SERVING)
        # Every call may pass at once, not one probe at a time.
        assert b.state is CircuitState.CLOSED
        assert b.try_acquire() is not None and b.try_acquire() is not None
        clock.now += 1.0
    # Health openings do not lengthen the open time of a later real trip.
    trip(b)
    assert b.retry_after_s() == 1.0


def test_serving_after_a_trip_by_calls_lets_one_probe_through_early() -> None:
    clock = Clock()
    b = breaker(clock)
    trip(b)
    b.on_health(HealthSignal.NOT_SERVING)
    b.on_health(HealthSignal.SERVING)
    assert b.state is CircuitState.HALF_OPEN
    probe = b.try_acquire()
    assert probe is not None and probe.probe
    assert b.try_acquire() is None
    b.record(probe, Outcome.SUCCESS)
    assert b.state is CircuitState.CLOSED


def test_a_failed_probe_after_a_health_opening_is_a_real_trip() -> None:
    clock = Clock()
    b = breaker(clock)
    b.on_health(HealthSignal.NOT_SERVING)
    b.on_health(HealthSignal.UNKNOWN)  # the stream broke: the open timer governs
    clock.now += 1.0
    call(b, Outcome.FAILURE)  # the probe
    assert b.state is CircuitState.OPEN
    b.on_health(HealthSignal.SERVING)  # not health-only any more: a probe, not a close
    assert b.state is CircuitState.HALF_OPEN


def test_a_refused_connection_opens_it_at_once() -> None:
    clock = Clock()
    b = breaker(clock)
    call(b, Outcome.UNREACHABLE)
    assert b.state is CircuitState.OPEN and b.trips == 1
    assert b.try_acquire() is None
    clock.now += 1.0
    call(b, Outcome.UNREACHABLE)  # the probe: still refused, open for longer
    assert b.state is CircuitState.OPEN and b.retry_after_s() == 2.0


def test_a_waiting_call_is_worth_admitting_unless_only_a_long_open_timer_decides() -> None:
    clock = Clock()
    b = breaker(clock)
    assert b.may_admit_within(0.1)
    trip(b)
    assert b.timer_s() == 1.0
    assert not b.may_admit_within(0.5)
    assert b.may_admit_within(1.5)
    b.on_health(HealthSignal.NOT_SERVING)  # SERVING may come at any moment
    assert b.may_admit_within(0.5) and b.timer_s() is None
    b.on_health(HealthSignal.UNKNOWN)
    clock.now += 1.0
    probe = b.try_acquire()
    assert probe is not None and probe.probe
    assert b.may_admit_within(0.1)  # the probe's answer may close it


def test_default_thresholds_ride_out_30_percent_random_failures_but_trip_on_a_dead_backend() -> (
    None
):
    clock = Clock()
    b = breaker(clock, BreakerSettings())
    rng = random.Random(7)
    for _ in range(5000):
        call(b, Outcome.FAILURE if rng.random() < 0.3 else Outcome.SUCCESS)
        clock.now += 0.01  # 100 calls per second: the 10 s window holds 1000
    assert b.trips == 0 and b.state is CircuitState.CLOSED

    calls = 0
    while b.state is CircuitState.CLOSED:
        call(b, Outcome.FAILURE)
        calls += 1
    assert calls <= 10


def test_serving_after_a_broken_stream_closes_a_breaker_only_health_had_opened() -> None:
    clock = Clock()
    b = breaker(clock)
    b.on_health(HealthSignal.NOT_SERVING)
    b.on_health(HealthSignal.UNKNOWN)
    clock.now += 1.0
    assert b.state is CircuitState.HALF_OPEN
    b.on_health(HealthSignal.SERVING)  # the stream is back and says so: no probe needed
    assert b.state is CircuitState.CLOSED
