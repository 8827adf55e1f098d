"""Retry delays grow exponentially, are capped, and carry a ±20 % jitter."""

from __future__ import annotations

import grpc

from orchestrator.resilience import RetrySpec
from orchestrator.resilience.backoff import backoff_delay_s

SPEC = RetrySpec(
    max_attempts=5,
    initial_backoff_s=0.1,
    max_backoff_s=1.0,
    multiplier=3.0,
    retryable_codes=frozenset({grpc.StatusCode.UNAVAILABLE}),
)


def test_delays_grow_by_the_multiplier_up_to_the_cap_without_jitter() -> None:
    no_jitter = lambda low, high: 1.0  # noqa: E731
    delays = [backoff_delay_s(SPEC, n, uniform=no_jitter) for n in range(1, 5)]
    assert delays == [0.1, 0.1 * 3, 0.1 * 9, 1.0]


def test_jitter_stays_within_eighty_to_one_hundred_twenty_percent() -> None:
    for n in range(1, 6):
        base = min(0.1 * 3 ** (n - 1), 1.0)
        low = backoff_delay_s(SPEC, n, uniform=lambda low, high: low)
        high = backoff_delay_s(SPEC, n, uniform=lambda low, high: high)
        assert low == base * 0.8 and high == base * 1.2
        for _ in range(50):
            assert base * 0.8 <= backoff_delay_s(SPEC, n) <= base * 1.2
