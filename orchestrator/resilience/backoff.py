"""Retry delays: exponential backoff with jitter (gRFC A6)."""

from __future__ import annotations

import random
from collections.abc import Callable

from orchestrator.resilience.retry_spec import RetrySpec

JITTER_LOW, JITTER_HIGH = 0.8, 1.2


def backoff_delay_s(
    spec: RetrySpec, retry_number: int, *, uniform: Callable[[float, float], float] = random.uniform
) -> float:
    """Delay before retry `retry_number` (1 = the first retry): initial * multiplier^(n-1),
    capped at max_backoff, times a jitter in [0.8, 1.2]."""
    base = spec.initial_backoff_s * spec.multiplier ** (retry_number - 1)
    return min(base, spec.max_backoff_s) * uniform(JITTER_LOW, JITTER_HIGH)
