"""`aura analytics`: one definition's advice as tables, then its recommendations."""

from __future__ import annotations

from google.protobuf import duration_pb2
from rich.console import Console

from aura.orchestrator.v1 import orchestrator_pb2
from orchestrator.cli.tables import print_table
from orchestrator.names import DEFINITION_PREFIX


def print_advice(console: Console, advice: orchestrator_pb2.DefinitionAdvice) -> None:
    name = advice.workflow_definition.removeprefix(DEFINITION_PREFIX)
    console.print()
    console.print(
        f"advice for {name} ({advice.run_count} runs measured)",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )
    path = advice.critical_path
    if path.steps:
        print_table(
            console,
            ("step", "method", "mean", "share"),
            [
                (s.step_id, _method(s.method), _ms(s.mean_duration), _percent(s.share))
                for s in path.steps
            ],
            title=f"critical path (of {path.run_count} runs, {_ms(path.mean_length)} on average)",
        )
    if advice.HasField("parallelism"):
        p = advice.parallelism
        print_table(
            console,
            ("step time", "critical path", "run", "ideal speedup", "measured speedup"),
            [
                (
                    _ms(p.mean_step_time),
                    _ms(p.mean_critical_path),
                    _ms(p.mean_run_duration),
                    f"{p.ideal_speedup:.2f}x",
                    f"{p.measured_speedup:.2f}x",
                )
            ],
            title="parallelism (means per run)",
        )
    if advice.cache_candidates:
        print_table(
            console,
            ("step", "method", "calls", "distinct", "repeated", "repeats took", "cached"),
            [
                (
                    c.step_id,
                    _method(c.method),
                    str(c.call_count),
                    str(c.distinct_request_count),
                    str(c.repeated_call_count),
                    _ms(c.repeated_call_time),
                    "yes" if c.cached else "no",
                )
                for c in advice.cache_candidates
            ],
            title="cache candidates (identical requests repeated)",
        )
    if advice.retry_hot_spots:
        print_table(
            console,
            ("step", "method", "runs", "retries", "retrying took", "failed"),
            [
                (
                    r.step_id,
                    _method(r.method),
                    str(r.execution_count),
                    str(r.retry_count),
                    _ms(r.retry_time),
                    str(r.failed_count),
                )
                for r in advice.retry_hot_spots
            ],
            title="retry hot spots",
        )
    if advice.breaker_hot_spots:
        print_table(
            console,
            ("service", "refused (store)", "failed steps", "trips (live)", "open now (live)"),
            [
                (
                    b.service,
                    str(b.circuit_rejections),
                    str(b.failed_steps),
                    str(b.circuit_trips),
                    "yes" if b.circuit_open else "no",
                )
                for b in advice.breaker_hot_spots
            ],
            title="breaker hot spots",
        )
    texts = [
        path.recommendation,
        advice.parallelism.recommendation,
        *(c.recommendation for c in advice.cache_candidates),
        *(r.recommendation for r in advice.retry_hot_spots),
        *(b.recommendation for b in advice.breaker_hot_spots),
    ]
    recommendations = [text for text in texts if text]
    if recommendations:
        console.print("recommendations", highlight=False, markup=False)
        for text in recommendations:
            console.print(
                f"- {text}", highlight=False, markup=False, soft_wrap=not console.is_terminal
            )


def _method(full_name: str) -> str:
    return full_name.rpartition("/")[2]


def _percent(rate: float) -> str:
    return f"{rate * 100:.1f}%"


def _ms(duration: duration_pb2.Duration) -> str:
    return f"{duration.ToNanoseconds() / 1e6:.1f} ms"
