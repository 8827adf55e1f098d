"""Retry predicate, retry decision, server pushback, backoff sequence and the retry budget."""

from __future__ import annotations

import random

import grpc
import pytest
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2

from orchestrator.resilience import (
    CIRCUIT_OPEN,
    STOP_RETRYING,
    RetryDecision,
    RetrySpec,
    RetryThrottle,
    RetryThrottleSettings,
    backoff_delay_s,
    circuit_open_status,
    decide_retry,
    error_reason,
    is_retryable,
    parse_pushback,
)

U = grpc.StatusCode.UNAVAILABLE
SPEC = RetrySpec(max_attempts=4, initial_backoff_s=0.1, max_backoff_s=0.5, multiplier=2.0)


def decide(**overrides: object) -> object:
    arguments: dict[str, object] = dict(
        code=U,
        reason="",
        retryable_codes={U},
        attempt=1,
        max_attempts=3,
        backoff_s=0.1,
        pushback_s=None,
        throttle_allows=True,
        time_left_s=10.0,
    )
    arguments.update(overrides)
    return decide_retry(**arguments)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "code",
    [
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.CANCELLED,
    ],
)
def test_never_retried_codes_stay_unretried_even_if_a_policy_lists_them(
    code: grpc.StatusCode,
) -> None:
    assert not is_retryable(code, "", {code, U})


def test_only_listed_codes_are_retried_and_unavailable_is_the_default() -> None:
    assert is_retryable(U, "", RetrySpec().retryable_codes)
    assert not is_retryable(grpc.StatusCode.INTERNAL, "", RetrySpec().retryable_codes)
    assert is_retryable(grpc.StatusCode.ABORTED, "", {grpc.StatusCode.ABORTED})


def test_a_circuit_open_rejection_is_not_retried_within_the_step() -> None:
    assert not is_retryable(U, CIRCUIT_OPEN, {U})
    status = circuit_open_status("svc", 0.25)
    assert error_reason(status) == CIRCUIT_OPEN
    assert parse_pushback(None, status) == pytest.approx(0.25)


def test_the_decision_retries_with_the_backoff_while_attempts_last() -> None:
    decision = decide(attempt=2, max_attempts=3, backoff_s=0.2)
    assert decision.retry and decision.delay_s == 0.2 and not decision.pushed_back
    assert not decide(attempt=3, max_attempts=3).retry


def test_server_pushback_replaces_the_backoff_and_a_negative_one_stops_retries() -> None:
    pushed = decide(pushback_s=0.3, backoff_s=0.1)
    assert pushed.retry and pushed.delay_s == 0.3 and pushed.pushed_back
    assert not decide(pushback_s=STOP_RETRYING).retry


def test_an_exhausted_retry_budget_stops_retries_and_says_so() -> None:
    decision = decide(throttle_allows=False)
    assert not decision.retry and decision.throttled


def test_a_retry_whose_delay_does_not_fit_in_the_time_left_is_not_made() -> None:
    assert not decide(backoff_s=0.5, time_left_s=0.4).retry
    assert not decide(pushback_s=2.0, time_left_s=1.0).retry


def test_pushback_trailer_wins_over_retry_info_and_garbage_means_stop() -> None:
    info = error_details_pb2.RetryInfo()
    info.retry_delay.FromMilliseconds(700)
    packed = any_pb2.Any()
    packed.Pack(info)
    status = status_pb2.Status(code=code_pb2.UNAVAILABLE, details=[packed])
    assert parse_pushback([("grpc-retry-pushback-ms", "250")], status) == 0.25
    assert parse_pushback([("other", "1")], status) == 0.7
    assert parse_pushback([("grpc-retry-pushback-ms", "soon")], status) == STOP_RETRYING
    assert parse_pushback([("grpc-retry-pushback-ms", "-5")], status) == STOP_RETRYING
    assert parse_pushback((), status_pb2.Status()) is None


def test_backoff_sequence_grows_is_capped_and_jitter_stays_within_bounds() -> None:
    rng = random.Random(7)
    for n, base in enumerate([0.1, 0.2, 0.4, 0.5, 0.5], start=1):
        for _ in range(200):
            delay = backoff_delay_s(SPEC, n, uniform=rng.uniform)
            assert base * 0.8 <= delay <= base * 1.2


def test_retry_budget_refuses_retries_below_half_and_recovers_with_successes() -> None:
    throttle = RetryThrottle(RetryThrottleSettings(max_tokens=10, token_ratio=0.5))
    assert throttle.allows_retry()
    for _ in range(5):
        throttle.record_failure()
    assert throttle.tokens == 5 and not throttle.allows_retry()  # must be strictly above half
    throttle.record_success()
    assert throttle.tokens == 5.5 and throttle.allows_retry()
    for _ in range(100):
        throttle.record_success()
    assert throttle.tokens == 10  # never above the maximum
    for _ in range(100):
        throttle.record_failure()
    assert throttle.tokens == 0


R = grpc.StatusCode.RESOURCE_EXHAUSTED


def test_resource_exhausted_with_a_pushback_is_retried_after_the_asked_delay() -> None:
    decision = decide(code=R, pushback_s=0.25)
    assert decision == RetryDecision(True, delay_s=0.25, pushed_back=True)


def test_resource_exhausted_without_a_pushback_is_not_retried_unless_the_policy_lists_it() -> None:
    assert not decide(code=R).retry
    assert decide(code=R, retryable_codes={U, R}).retry


def test_a_pushed_back_resource_exhausted_still_respects_attempts_budget_and_time() -> None:
    assert not decide(code=R, pushback_s=STOP_RETRYING).retry
    assert not decide(code=R, pushback_s=0.2, attempt=3).retry
    assert not decide(code=R, pushback_s=0.2, throttle_allows=False).retry
    assert not decide(code=R, pushback_s=2.0, time_left_s=1.0).retry
