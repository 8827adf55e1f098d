"""The fault vocabulary of the mock services: the `aura-fault` header, FaultConfig, fault plans."""

from __future__ import annotations

import random

import grpc
import pytest

from mock_services.common.faults import (
    FaultConfig,
    FaultSyntaxError,
    RequestFaults,
    parse_fault_header,
    plan_faults,
)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("code=UNAVAILABLE", RequestFaults(error_code=grpc.StatusCode.UNAVAILABLE)),
        ("code=deadline_exceeded", RequestFaults(error_code=grpc.StatusCode.DEADLINE_EXCEEDED)),
        ("latency_ms=200; jitter_ms=50", RequestFaults(latency_ms=200.0, jitter_ms=50.0)),
        ("hang", RequestFaults(hang=True)),
        ("hang=false", RequestFaults(hang=False)),
        (
            " Error_Rate = 0.5 , code=INTERNAL ",
            RequestFaults(error_rate=0.5, error_code=grpc.StatusCode.INTERNAL),
        ),
        (
            "code=UNAVAILABLE;pushback_ms=300",
            RequestFaults(error_code=grpc.StatusCode.UNAVAILABLE, pushback_ms=300),
        ),
    ],
)
def test_a_well_formed_header_names_the_overrides(header: str, expected: RequestFaults) -> None:
    assert parse_fault_header(header) == expected


@pytest.mark.parametrize(
    "header",
    [
        "",
        " ; ",
        "code=OK",
        "code=NOT_A_CODE",
        "code",
        "error_rate=2",
        "error_rate=half",
        "latency_ms=-1",
        "latency_ms=abc",
        "pushback_ms=-5",
        "hang=maybe",
        "explode=1",
        "code=UNAVAILABLE; code=INTERNAL",
    ],
)
def test_a_malformed_header_is_rejected(header: str) -> None:
    with pytest.raises(FaultSyntaxError):
        parse_fault_header(header)


def test_no_faults_means_an_immediate_successful_answer() -> None:
    plan = plan_faults(FaultConfig(), None, random.Random(1))
    assert plan.delay_s == 0
    assert not plan.hang
    assert plan.error_code is None


def test_a_header_code_without_a_rate_fails_every_call() -> None:
    request = parse_fault_header("code=RESOURCE_EXHAUSTED")
    rng = random.Random(1)
    codes = {plan_faults(FaultConfig(), request, rng).error_code for _ in range(50)}
    assert codes == {grpc.StatusCode.RESOURCE_EXHAUSTED}


def test_the_header_overrides_the_server_settings_for_one_call() -> None:
    config = FaultConfig(latency_ms=500, error_rate=1.0)
    plan = plan_faults(config, parse_fault_header("latency_ms=10; error_rate=0"), random.Random(1))
    assert plan.delay_s == pytest.approx(0.010)
    assert plan.error_code is None


def test_the_error_rate_is_a_share_of_calls() -> None:
    rng = random.Random(42)
    config = FaultConfig(error_rate=0.3, error_code=grpc.StatusCode.INTERNAL)
    failures = sum(plan_faults(config, None, rng).error_code is not None for _ in range(2000))
    assert 500 < failures < 700


def test_jitter_adds_up_to_its_value_on_top_of_the_latency() -> None:
    rng = random.Random(3)
    config = FaultConfig(latency_ms=100, jitter_ms=50)
    delays = [plan_faults(config, None, rng).delay_s for _ in range(200)]
    assert all(0.100 <= delay <= 0.150 for delay in delays)
    assert max(delays) - min(delays) > 0.03


def test_fail_next_fails_exactly_that_many_calls_then_recovers() -> None:
    config = FaultConfig(fail_next=2, error_code=grpc.StatusCode.ABORTED)
    rng = random.Random(1)
    outcomes = [plan_faults(config, None, rng).error_code for _ in range(4)]
    assert outcomes == [grpc.StatusCode.ABORTED, grpc.StatusCode.ABORTED, None, None]
    assert config.fail_next == 0


def test_a_pushback_is_only_sent_with_an_injected_error() -> None:
    rng = random.Random(1)
    failing = plan_faults(FaultConfig(error_rate=1.0, retry_pushback_ms=250), None, rng)
    passing = plan_faults(FaultConfig(retry_pushback_ms=250), None, rng)
    assert failing.pushback_ms == 250
    assert passing.pushback_ms is None


def test_environment_settings_apply_and_a_service_specific_one_wins() -> None:
    env = {
        "AURA_MOCK_LATENCY_MS": "20",
        "AURA_MOCK_ERROR_RATE": "0.1",
        "AURA_MOCK_NLU_ERROR_RATE": "0.9",
        "AURA_MOCK_NLU_ERROR_CODE": "internal",
        "AURA_MOCK_HANG": "false",
        "AURA_MOCK_SLOW_START_S": "1.5",
    }
    nlu = FaultConfig.from_env(env, "nlu")
    image = FaultConfig.from_env(env, "image")
    assert (nlu.latency_ms, nlu.error_rate, nlu.error_code) == (20, 0.9, grpc.StatusCode.INTERNAL)
    assert (image.latency_ms, image.error_rate, image.error_code) == (
        20,
        0.1,
        grpc.StatusCode.UNAVAILABLE,
    )
    assert nlu.slow_start_s == 1.5
    assert not nlu.hang


@pytest.mark.parametrize(
    "env",
    [
        {"AURA_MOCK_ERROR_RATE": "lots"},
        {"AURA_MOCK_ERROR_RATE": "1.5"},
        {"AURA_MOCK_ERROR_CODE": "OK"},
        {"AURA_MOCK_HANG": "perhaps"},
    ],
)
def test_a_bad_environment_setting_is_reported(env: dict[str, str]) -> None:
    with pytest.raises(FaultSyntaxError):
        FaultConfig.from_env(env, "nlu")


def test_an_impossible_config_cannot_be_built() -> None:
    with pytest.raises(FaultSyntaxError):
        FaultConfig(error_rate=-0.1)
    with pytest.raises(FaultSyntaxError):
        FaultConfig(error_code=grpc.StatusCode.OK)
