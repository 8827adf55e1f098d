"""Resilience building blocks, pure and clock-injectable: retry predicate and decision,
backoff, server pushback, retry budget (token bucket), circuit breaker, deadline budget,
response cache, bulkhead, latency window, and the per-service policy that configures them."""

from orchestrator.resilience.backoff import backoff_delay_s
from orchestrator.resilience.bulkhead import Bulkhead, BulkheadFull
from orchestrator.resilience.circuit_breaker import (
    BreakerSettings,
    CircuitBreaker,
    CircuitState,
    HealthSignal,
    Outcome,
    Permit,
)
from orchestrator.resilience.deadline import DEFAULT_MARGIN_S, AttemptBudget, DeadlineBudget
from orchestrator.resilience.latency_window import LatencyWindow
from orchestrator.resilience.policy import ServicePolicy
from orchestrator.resilience.pushback import STOP_RETRYING, parse_pushback
from orchestrator.resilience.response_cache import ResponseCache, cache_key
from orchestrator.resilience.retry import NEVER_RETRIED, RetryDecision, decide_retry, is_retryable
from orchestrator.resilience.retry_spec import DEFAULT_RETRY, RetrySpec
from orchestrator.resilience.retry_throttle import RetryThrottle, RetryThrottleSettings
from orchestrator.resilience.status_details import (
    BULKHEAD_FULL,
    CIRCUIT_OPEN,
    DEADLINE_BUDGET_SPENT,
    circuit_open_status,
    error_reason,
    orchestrator_status,
)

__all__ = [
    "BULKHEAD_FULL",
    "CIRCUIT_OPEN",
    "DEADLINE_BUDGET_SPENT",
    "DEFAULT_MARGIN_S",
    "DEFAULT_RETRY",
    "NEVER_RETRIED",
    "STOP_RETRYING",
    "AttemptBudget",
    "BreakerSettings",
    "Bulkhead",
    "BulkheadFull",
    "CircuitBreaker",
    "CircuitState",
    "DeadlineBudget",
    "HealthSignal",
    "LatencyWindow",
    "Outcome",
    "Permit",
    "ResponseCache",
    "RetryDecision",
    "RetrySpec",
    "RetryThrottle",
    "RetryThrottleSettings",
    "ServicePolicy",
    "backoff_delay_s",
    "cache_key",
    "circuit_open_status",
    "decide_retry",
    "error_reason",
    "is_retryable",
    "orchestrator_status",
    "parse_pushback",
]
