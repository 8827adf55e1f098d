"""`aura analytics` as tables: runs per definition, steps, failed attempts, services, then
the advice per definition (critical path, parallelism, cache candidates, retry and breaker
hot spots) with its recommendations."""

from __future__ import annotations

import argparse
import re

from google.protobuf import duration_pb2
from rich.console import Console

from aura.orchestrator.v1 import orchestrator_pb2
from orchestrator.cli.advice_view import print_advice
from orchestrator.cli.tables import print_table
from orchestrator.names import DEFINITION_PREFIX

_WINDOW = re.compile(r"(\d+(?:\.\d+)?)\s*(s|m|h|d)?")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_window(text: str) -> float:
    """`--window`: "90s", "15m", "1h", "7d" or plain seconds, to seconds."""
    match = _WINDOW.fullmatch(text.strip().lower())
    seconds = float(match.group(1)) * _UNIT_S[match.group(2) or "s"] if match else 0.0
    if seconds <= 0:
        raise argparse.ArgumentTypeError(
            f"invalid window {text!r}: a positive length such as 90s, 15m, 1h or 7d"
        )
    return seconds


def print_analytics(console: Console, response: orchestrator_pb2.GetAnalyticsResponse) -> None:
    if not response.definitions:
        console.print("no finished runs yet (in this window)")
    else:
        console.print(_coverage(response), highlight=False, markup=False, soft_wrap=True)
    print_table(
        console,
        ("definition", "runs", "succeeded", "partly", "p50", "p90", "p99"),
        [
            (
                d.workflow_definition.removeprefix(DEFINITION_PREFIX),
                str(d.run_count),
                _percent(d.success_rate),
                _percent(d.partial_rate),
                *_latencies(d),
            )
            for d in response.definitions
        ],
        title="runs per definition",
    )
    print_table(
        console,
        ("definition", "step", "runs", "succeeded", "retries", "p50", "p90", "p99"),
        [
            (
                s.workflow_definition.removeprefix(DEFINITION_PREFIX),
                s.step_id,
                str(s.execution_count),
                _percent(s.success_rate),
                str(s.retry_count),
                *_latencies(s),
            )
            for s in response.steps
        ],
        title="steps",
    )
    if response.failures:
        print_table(
            console,
            ("service", "method", "code", "reason", "count"),
            [
                (f.service, f.method.rpartition("/")[2], f.code, f.reason or "-", str(f.count))
                for f in response.failures
            ],
            title="failed attempts",
        )
    print_table(
        console,
        (
            "service",
            "attempts",
            "failed",
            "retries",
            "throttled",
            "trips",
            "rejected",
            "cache hits",
        ),
        [
            (
                s.service,
                str(s.attempt_count),
                str(s.failure_count),
                str(s.retry_count),
                str(s.retry_throttled_count),
                str(s.circuit_trips),
                str(s.circuit_rejections),
                f"{s.cache_hits} ({_percent(s.cache_hit_rate)})"
                if s.cache_hits + s.cache_misses
                else "-",
            )
            for s in response.services
        ],
        title="services",
    )
    for advice in response.advice:
        print_advice(console, advice)


def _coverage(response: orchestrator_pb2.GetAnalyticsResponse) -> str:
    matched = f"{response.runs_matched}"
    if response.max_counted_runs and response.runs_matched >= response.max_counted_runs:
        matched = f"at least {matched}"
    text = f"from the store: {response.runs_analyzed} of {matched} finished runs in the window"
    if response.runs_analyzed < response.runs_matched:
        text += f" (the newest {response.max_analyzed_runs})"
    return text


def _latencies(
    stats: orchestrator_pb2.DefinitionAnalytics | orchestrator_pb2.StepAnalytics,
) -> tuple[str, str, str]:
    """p50, p90 and p99 in milliseconds."""
    return _ms(stats.latency_p50), _ms(stats.latency_p90), _ms(stats.latency_p99)


def _percent(rate: float) -> str:
    return f"{rate * 100:.1f}%"


def _ms(duration: duration_pb2.Duration) -> str:
    return f"{duration.ToNanoseconds() / 1e6:.1f} ms"
