"""A retry policy as plain data (gRFC A6 semantics), the shape backoff and retry read.

It lives here, at the bottom, so the pure retry parts need nothing above them; the
workflow compiler fills it in from a definition's RetryPolicy."""

from __future__ import annotations

from dataclasses import dataclass

import grpc


@dataclass(frozen=True)
class RetrySpec:
    """A step's retry policy with the defaults filled in (gRFC A6 semantics)."""

    max_attempts: int = 3
    """Total attempts including the first."""
    initial_backoff_s: float = 0.1
    max_backoff_s: float = 5.0
    multiplier: float = 2.0
    retryable_codes: frozenset[grpc.StatusCode] = frozenset({grpc.StatusCode.UNAVAILABLE})


DEFAULT_RETRY = RetrySpec()
