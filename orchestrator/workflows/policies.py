"""Timeouts and retry policies of a definition, checked and with defaults filled in."""

from __future__ import annotations

import math

import grpc
from google.protobuf import duration_pb2
from google.rpc import code_pb2

from aura.orchestrator.v1 import workflow_pb2
from orchestrator.errors import ViolationCollector, is_status_code, status_code_of
from orchestrator.resilience import DEFAULT_RETRY, RetrySpec
from orchestrator.workflows.compiled import MAX_TIMEOUT_S

MAX_ATTEMPTS_LIMIT = 10

NEVER_RETRYABLE = frozenset(
    {grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED}
)


# google.protobuf.Duration's own range: about +-10,000 years, nanos of the seconds' sign.
MAX_DURATION_SECONDS = 315_576_000_000
MAX_DURATION_NANOS = 999_999_999


def duration_s(duration: duration_pb2.Duration) -> float:
    return duration.seconds + duration.nanos / 1e9


def duration_problem(duration: duration_pb2.Duration) -> str | None:
    """Why `duration` is not a valid google.protobuf.Duration (which JSON cannot print)."""
    seconds, nanos = duration.seconds, duration.nanos
    if abs(seconds) > MAX_DURATION_SECONDS:
        return f"seconds must be within +-{MAX_DURATION_SECONDS}"
    if abs(nanos) > MAX_DURATION_NANOS:
        return f"nanos must be within +-{MAX_DURATION_NANOS}"
    if (seconds < 0 < nanos) or (nanos < 0 < seconds):
        return "seconds and nanos must have the same sign"
    return None


def check_timeout(
    duration: duration_pb2.Duration | None,
    default_s: float,
    path: str,
    label: str,
    collector: ViolationCollector,
) -> float:
    """The timeout in seconds (`default_s` when unset); positive and at most 1 h."""
    if duration is None:
        return default_s
    seconds = duration_s(duration)
    problem = duration_problem(duration)
    if problem:
        collector.add(path, f"{label}: timeout is not a valid Duration: {problem}")
    elif seconds <= 0:
        collector.add(path, f"{label}: timeout must be positive, got {seconds:g}s")
    elif seconds > MAX_TIMEOUT_S:
        collector.add(path, f"{label}: timeout must be at most 1h, got {seconds:g}s")
    return seconds


MAX_CACHE_TTL_S = 24 * 3600.0


def check_bounded_duration(
    duration: duration_pb2.Duration,
    max_s: float,
    path: str,
    what: str,
    collector: ViolationCollector,
) -> float | None:
    """The duration in seconds if it is valid, positive and at most `max_s` (a whole number
    of hours); else None, with the problem added to `collector`."""
    seconds = duration_s(duration)
    problem = duration_problem(duration)
    if problem:
        collector.add(path, f"{what} is not a valid Duration: {problem}")
    elif not 0 < seconds <= max_s:
        collector.add(
            path, f"{what} must be positive and at most {max_s / 3600:g}h, got {seconds:g}s"
        )
    else:
        return seconds
    return None


def check_cache(
    policy: workflow_pb2.CachePolicy, path: str, label: str, collector: ViolationCollector
) -> float:
    """The cache ttl in seconds; positive and at most 24 h (0 with a problem reported)."""
    ttl_s = check_bounded_duration(
        policy.ttl, MAX_CACHE_TTL_S, f"{path}.ttl", f"{label}: cache ttl", collector
    )
    return ttl_s or 0.0


def check_retry(
    policy: workflow_pb2.RetryPolicy, path: str, label: str, collector: ViolationCollector
) -> RetrySpec:
    """The policy with defaults filled in; every problem is added to `collector`."""
    max_attempts = policy.max_attempts or DEFAULT_RETRY.max_attempts
    if not 0 <= policy.max_attempts <= MAX_ATTEMPTS_LIMIT:
        collector.add(
            f"{path}.max_attempts",
            f"{label}: max_attempts must be 0..{MAX_ATTEMPTS_LIMIT} (0 means "
            f"{DEFAULT_RETRY.max_attempts}), got {policy.max_attempts}",
        )
    initial_s = DEFAULT_RETRY.initial_backoff_s
    if policy.HasField("initial_backoff"):
        initial_s = duration_s(policy.initial_backoff)
    max_s = DEFAULT_RETRY.max_backoff_s
    if policy.HasField("max_backoff"):
        max_s = duration_s(policy.max_backoff)
    for name in ("initial_backoff", "max_backoff"):
        problem = duration_problem(getattr(policy, name))
        if problem:
            collector.add(f"{path}.{name}", f"{label}: {name} is not a valid Duration: {problem}")
    for name, seconds in (("initial_backoff", initial_s), ("max_backoff", max_s)):
        if seconds < 0:
            collector.add(f"{path}.{name}", f"{label}: {name} must not be negative")
    if 0 <= max_s < initial_s:
        collector.add(
            f"{path}.max_backoff",
            f"{label}: max_backoff ({max_s:g}s) must be at least initial_backoff ({initial_s:g}s)",
        )
    multiplier = policy.backoff_multiplier or DEFAULT_RETRY.multiplier
    if not math.isfinite(multiplier) or multiplier < 1:
        collector.add(
            f"{path}.backoff_multiplier",
            f"{label}: backoff_multiplier must be >= 1 (0 means {DEFAULT_RETRY.multiplier:g}), "
            f"got {policy.backoff_multiplier:g}",
        )
    codes = set()
    for position, code in enumerate(policy.retryable_status_codes):
        code_path = f"{path}.retryable_status_codes[{position}]"
        status = status_code_of(code) if is_status_code(code) else None
        if status is None:
            collector.add(code_path, f"{label}: {code} is not a gRPC status code")
        elif status is grpc.StatusCode.OK:
            collector.add(code_path, f"{label}: OK is not an error and cannot be retried")
        elif status in NEVER_RETRYABLE:
            collector.add(code_path, f"{label}: {code_pb2.Code.Name(code)} is never retried")
        else:
            codes.add(status)
    return RetrySpec(
        max_attempts=max_attempts,
        initial_backoff_s=initial_s,
        max_backoff_s=max_s,
        multiplier=multiplier,
        retryable_codes=frozenset(codes) or DEFAULT_RETRY.retryable_codes,
    )
