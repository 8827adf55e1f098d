"""Flags and environment of `python -m mock_services` and `python -m mock_services.<name>`."""

from __future__ import annotations

import grpc
import pytest

from mock_services.common.cli import build_parser, faults_from_args


def test_a_flag_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AURA_MOCK_ERROR_RATE", "0.1")
    monkeypatch.setenv("AURA_MOCK_LATENCY_MS", "30")
    args = build_parser("test", "test").parse_args(
        ["--error-rate", "0.7", "--error-code", "aborted"]
    )
    faults = faults_from_args(args, "nlu")
    assert faults.error_rate == 0.7
    assert faults.error_code is grpc.StatusCode.ABORTED
    assert faults.latency_ms == 30


def test_switch_flags_turn_faults_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AURA_MOCK_HANG", raising=False)
    args = build_parser("test", "test").parse_args(
        ["--hang", "--not-serving", "--slow-start-s", "2", "--health-flap-s", "5"]
    )
    faults = faults_from_args(args, "style")
    assert faults.hang
    assert faults.not_serving
    assert (faults.slow_start_s, faults.health_flap_s) == (2, 5)


def test_an_unknown_error_code_is_a_usage_error() -> None:
    with pytest.raises(SystemExit):
        build_parser("test", "test").parse_args(["--error-code", "EXPLODED"])
