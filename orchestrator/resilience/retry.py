"""The retry predicate and the decision whether (and when) to try a step again.

Pure: the caller gives the attempt's outcome, its backoff, the server's pushback,
the retry budget's verdict and the time left; the decision says retry after
`delay_s` or stop, and why.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import grpc

from orchestrator.resilience.status_details import BULKHEAD_FULL, CIRCUIT_OPEN

NEVER_RETRIED = frozenset(
    {grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED}
)
# Refusals made by this orchestrator, not by a backend: retrying them within
# the step would only wait out the breaker or the bulkhead and hold the run.
NOT_RETRIED_REASONS = frozenset({CIRCUIT_OPEN, BULKHEAD_FULL})


def asks_to_retry_later(code: grpc.StatusCode, reason: str, pushback_s: float | None) -> bool:
    """AIP-194: RESOURCE_EXHAUSTED is generally not retried (a spent quota may last
    hours), but one that says when to come back (RetryInfo, or the A6 pushback
    trailer) is a short overload: retry after the asked delay."""
    return (
        code is grpc.StatusCode.RESOURCE_EXHAUSTED
        and pushback_s is not None
        and pushback_s >= 0
        and reason not in NOT_RETRIED_REASONS
    )


def is_retryable(
    code: grpc.StatusCode, reason: str, retryable_codes: Collection[grpc.StatusCode]
) -> bool:
    """Whether a failed attempt may be retried at all under the step's policy."""
    return (
        code in retryable_codes and code not in NEVER_RETRIED and reason not in NOT_RETRIED_REASONS
    )


@dataclass(frozen=True)
class RetryDecision:
    retry: bool
    delay_s: float = 0.0
    why: str = ""
    """Why not, when `retry` is False."""
    throttled: bool = False
    """The retry budget refused a retry the policy allowed."""
    pushed_back: bool = False
    """`delay_s` is the server's pushback rather than our backoff."""


def decide_retry(
    *,
    code: grpc.StatusCode,
    reason: str,
    retryable_codes: Collection[grpc.StatusCode],
    attempt: int,
    max_attempts: int,
    backoff_s: float,
    pushback_s: float | None,
    throttle_allows: bool,
    time_left_s: float,
) -> RetryDecision:
    """gRFC A6: retry a retryable code while attempts and budget last; a server pushback
    (>= 0) replaces the backoff, a negative one stops retrying; the delay must fit in
    the time left. A RESOURCE_EXHAUSTED with a pushback is retried too (AIP-194)."""
    if not is_retryable(code, reason, retryable_codes) and not asks_to_retry_later(
        code, reason, pushback_s
    ):
        return RetryDecision(False, why=f"{code.name} is not retried")
    if attempt >= max_attempts:
        return RetryDecision(False, why=f"all {max_attempts} attempts used")
    if pushback_s is not None and pushback_s < 0:
        return RetryDecision(False, why="the server asked not to retry")
    if not throttle_allows:
        return RetryDecision(False, why="retry budget of the service exhausted", throttled=True)
    delay_s = backoff_s if pushback_s is None else pushback_s
    if delay_s >= time_left_s:
        return RetryDecision(False, why=f"no time left for a retry after {delay_s:.3f}s")
    return RetryDecision(True, delay_s=delay_s, pushed_back=pushback_s is not None)
