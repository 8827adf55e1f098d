"""Success rates and latency percentiles per definition and per step, from run facts."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from google.protobuf import duration_pb2

from aura.orchestrator.v1 import orchestrator_pb2, run_pb2
from orchestrator.analytics.facts import RunFacts, StepFacts
from orchestrator.resilience import LatencyWindow


def add_figures(response: orchestrator_pb2.GetAnalyticsResponse, runs: Sequence[RunFacts]) -> None:
    """Fills `definitions` and `steps` (both ordered by name) from the analysed runs."""
    by_definition: dict[str, list[RunFacts]] = {}
    steps: dict[tuple[str, str], list[StepFacts]] = {}
    for run in runs:
        by_definition.setdefault(run.definition, []).append(run)
        for step in run.steps:
            if step.finished:
                steps.setdefault((run.definition, step.step_id), []).append(step)
    for name in sorted(by_definition):
        outcomes = by_definition[name]
        entry = response.definitions.add(workflow_definition=name, run_count=len(outcomes))
        entry.success_rate = _share((r.state for r in outcomes), run_pb2.RUN_STATE_SUCCEEDED)
        entry.partial_rate = _share(
            (r.state for r in outcomes), run_pb2.RUN_STATE_PARTIALLY_SUCCEEDED
        )
        _percentiles(
            [r.latency_s for r in outcomes], entry.latency_p50, entry.latency_p90, entry.latency_p99
        )
    for name, step_id in sorted(steps):
        executions = steps[(name, step_id)]
        stats = response.steps.add(
            workflow_definition=name, step_id=step_id, execution_count=len(executions)
        )
        stats.success_rate = _share((s.state for s in executions), run_pb2.STEP_STATE_SUCCEEDED)
        stats.retry_count = sum(s.retries for s in executions)
        _percentiles(
            [s.duration_s for s in executions],
            stats.latency_p50,
            stats.latency_p90,
            stats.latency_p99,
        )


def _share(states: Iterable[int], state: int) -> float:
    values = list(states)
    return sum(1 for s in values if s == state) / len(values) if values else 0.0


def _percentiles(
    samples: list[float],
    p50: duration_pb2.Duration,
    p90: duration_pb2.Duration,
    p99: duration_pb2.Duration,
) -> None:
    window = LatencyWindow(size=max(1, len(samples)))
    for sample in samples:
        window.add(sample)
    p50.FromNanoseconds(int(window.percentile(50) * 1e9))
    p90.FromNanoseconds(int(window.percentile(90) * 1e9))
    p99.FromNanoseconds(int(window.percentile(99) * 1e9))
