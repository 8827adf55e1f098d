"""The circuit breaker state machine, on an injected clock."""

from __future__ import annotations

import pytest

from orchestrator.resilience import (
    BreakerSettings,
    CircuitBreaker,
    CircuitState,
    HealthSignal,
    Outcome,
)

SETTINGS = BreakerSettings(
    consecutive_failures=3,
    failure_rate=0.5,
    window_s=10.0,
    min_calls=6,
    base_open_s=1.0,
    max_open_s=4.0,
    streak_reset_s=30.0,
)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def breaker(clock: Clock, jitter: float = 1.0) -> tuple[CircuitBreaker, list[tuple[str, str]]]:
    seen: list[tuple[str, str]] = []
    b = CircuitBreaker(
        SETTINGS,
        clock=clock,
        uniform=lambda low, high: jitter,
        on_transition=lambda old, new, reason: seen.append((new.name, reason)),
    )
    return b, seen


def call(b: CircuitBreaker, outcome: Outcome) -> None:
    permit = b.try_acquire()
    assert permit is not None
    b.record(permit, outcome)


def test_consecutive_failures_open_it_and_it_fails_fast_until_the_open_time_passes() -> None:
    clock = Clock()
    b, seen = breaker(clock)
    call(b, Outcome.FAILURE)
    call(b, Outcome.SUCCESS)  # resets the run of failures
    for _ in range(3):
        call(b, Outcome.FAILURE)
    assert b.state is CircuitState.OPEN and b.trips == 1
    assert b.try_acquire() is None
    assert b.retry_after_s() == 1.0
    clock.now += 0.999
    assert b.try_acquire() is None
    clock.now += 0.001
    assert b.state is CircuitState.HALF_OPEN
    assert seen == [("OPEN", "3 consecutive failures"), ("HALF_OPEN", "open time elapsed")]


def test_half_open_lets_exactly_one_probe_through_and_its_success_closes() -> None:
    clock = Clock()
    b, _ = breaker(clock)
    for _ in range(3):
        call(b, Outcome.FAILURE)
    clock.now += 1.0
    probe = b.try_acquire()
    assert probe is not None and probe.probe
    assert b.try_acquire() is None  # only one probe at a time
    b.record(probe, Outcome.SUCCESS)
    assert b.state is CircuitState.CLOSED
    assert b.try_acquire() is not None


def test_a_failed_probe_reopens_for_longer_each_time_up_to_the_cap() -> None:
    clock = Clock()
    b, _ = breaker(clock)
    for _ in range(3):
        call(b, Outcome.FAILURE)
    open_times = [b.retry_after_s()]
    for _ in range(4):
        clock.now += open_times[-1]
        call(b, Outcome.FAILURE)  # the probe fails
        open_times.append(b.retry_after_s())
    assert open_times == pytest.approx([1.0, 2.0, 4.0, 4.0, 4.0])
    assert b.trips == 5


def test_open_time_carries_jitter() -> None:
    clock = Clock()
    low, _ = breaker(clock, jitter=0.8)
    high, _ = breaker(clock, jitter=1.2)
    for b in (low, high):
        for _ in range(3):
            call(b, Outcome.FAILURE)
    assert low.retry_after_s() == pytest.approx(0.8)
    assert high.retry_after_s() == pytest.approx(1.2)


def test_the_streak_starts_over_after_a_long_closed_spell() -> None:
    clock = Clock()
    b, _ = breaker(clock)
    for _ in range(3):
        call(b, Outcome.FAILURE)
    clock.now += 1.0
    call(b, Outcome.FAILURE)  # probe fails: 2 s
    clock.now += 2.0
    call(b, Outcome.SUCCESS)  # probe succeeds: closed
    for _ in range(3):
        call(b, Outcome.FAILURE)
    assert b.retry_after_s() == 4.0  # soon after: the streak goes on
    clock.now += 4.0
    call(b, Outcome.SUCCESS)
    clock.now += SETTINGS.streak_reset_s
    for _ in range(3):
        call(b, Outcome.FAILURE)
    assert b.retry_after_s() == 1.0


def test_a_failure_rate_over_the_window_opens_it_only_with_enough_volume() -> None:
    clock = Clock()
    b, seen = breaker(clock)
    for _ in range(2):
        call(b, Outcome.FAILURE)
        call(b, Outcome.SUCCESS)
    assert b.state is CircuitState.CLOSED  # 50 % but only 4 calls
    call(b, Outcome.FAILURE)
    call(b, Outcome.SUCCESS)
    assert b.state is CircuitState.OPEN
    assert seen[-1] == ("OPEN", "3 of the last 6 calls failed")


def test_old_calls_leave_the_window() -> None:
    clock = Clock()
    b, _ = breaker(clock)
    for _ in range(2):
        call(b, Outcome.FAILURE)
        call(b, Outcome.SUCCESS)
    clock.now += 11.0
    call(b, Outcome.FAILURE)
    call(b, Outcome.SUCCESS)
    assert b.state is CircuitState.CLOSED


def test_ignored_outcomes_count_neither_way_and_free_the_probe() -> None:
    clock = Clock()
    b, _ = breaker(clock)
    for _ in range(2):
        call(b, Outcome.FAILURE)
    call(b, Outcome.IGNORED)
    call(b, Outcome.FAILURE)
    assert b.state is CircuitState.OPEN  # the cancelled call did not break the run of failures
    clock.now += 1.0
    probe = b.try_acquire()
    assert probe is not None
    b.record(probe, Outcome.IGNORED)
    assert b.state is CircuitState.HALF_OPEN
    assert b.try_acquire() is not None  # a new probe may go


def test_health_not_serving_opens_at_once_and_holds_it_open_until_serving() -> None:
    clock = Clock()
    b, seen = breaker(clock)
    b.on_health(HealthSignal.SERVING)
    assert b.state is CircuitState.CLOSED
    b.on_health(HealthSignal.NOT_SERVING)
    assert b.state is CircuitState.OPEN and b.trips == 1
    clock.now += 60.0
    assert b.try_acquire() is None  # the open timer does not override health
    b.on_health(HealthSignal.SERVING)  # only health had opened it: closed at once
    assert b.state is CircuitState.CLOSED
    assert [s for s, _ in seen] == ["OPEN", "CLOSED"]


def test_a_broken_health_stream_is_not_a_failure() -> None:
    clock = Clock()
    b, _ = breaker(clock)
    b.on_health(HealthSignal.UNKNOWN)
    assert b.state is CircuitState.CLOSED
    b.on_health(HealthSignal.NOT_SERVING)
    b.on_health(HealthSignal.UNKNOWN)  # stream broke: the open timer governs again
    clock.now += 1.0
    assert b.state is CircuitState.HALF_OPEN


def test_late_answers_from_before_a_transition_change_nothing() -> None:
    clock = Clock()
    b, _ = breaker(clock)
    early = b.try_acquire()
    assert early is not None
    for _ in range(3):
        call(b, Outcome.FAILURE)
    clock.now += 1.0
    assert b.state is CircuitState.HALF_OPEN
    b.record(early, Outcome.SUCCESS)  # admitted while closed, answered after the trip
    assert b.state is CircuitState.HALF_OPEN
