"""`aura analytics` as tables: runs per definition, steps, failed attempts, services."""

from __future__ import annotations

from google.protobuf import duration_pb2
from rich.console import Console

from aura.orchestrator.v1 import orchestrator_pb2
from orchestrator.cli.tables import print_table
from orchestrator.names import DEFINITION_PREFIX


def print_analytics(console: Console, response: orchestrator_pb2.GetAnalyticsResponse) -> None:
    if not response.definitions:
        console.print("no finished runs yet (in this window)")
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


def _latencies(
    stats: orchestrator_pb2.DefinitionAnalytics | orchestrator_pb2.StepAnalytics,
) -> tuple[str, str, str]:
    """p50, p90 and p99 in milliseconds."""
    return _ms(stats.latency_p50), _ms(stats.latency_p90), _ms(stats.latency_p99)


def _percent(rate: float) -> str:
    return f"{rate * 100:.1f}%"


def _ms(duration: duration_pb2.Duration) -> str:
    return f"{duration.ToNanoseconds() / 1e6:.1f} ms"
