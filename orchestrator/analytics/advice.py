"""Advice per definition as `DefinitionAdvice` messages: the findings, each with its
recommendation sentence."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from google.protobuf import duration_pb2

from aura.orchestrator.v1 import orchestrator_pb2
from orchestrator.analytics import findings, wording
from orchestrator.analytics.facts import RunFacts
from orchestrator.analytics.resilience import service_of
from orchestrator.workflows import CompiledWorkflow


@dataclass(frozen=True)
class LiveBreakers:
    """What this replica's mesh knows now: trips per service within the window, and the
    services whose circuit is open."""

    trips: Mapping[str, int] = field(default_factory=dict)
    open_now: frozenset[str] = frozenset()


def add_advice(
    response: orchestrator_pb2.GetAnalyticsResponse,
    runs: Sequence[RunFacts],
    workflow_of: Callable[[str], CompiledWorkflow | None],
    live: LiveBreakers,
) -> None:
    """One `DefinitionAdvice` per definition among `runs`, ordered by name."""
    by_definition: dict[str, list[RunFacts]] = {}
    for run in runs:
        by_definition.setdefault(run.definition, []).append(run)
    for name in sorted(by_definition):
        response.advice.append(
            definition_advice(name, by_definition[name], workflow_of(name), live)
        )


def definition_advice(
    name: str,
    runs: Sequence[RunFacts],
    workflow: CompiledWorkflow | None,
    live: LiveBreakers,
) -> orchestrator_pb2.DefinitionAdvice:
    advice = orchestrator_pb2.DefinitionAdvice(
        workflow_definition=name, run_count=len(findings.measured(runs))
    )
    cached = frozenset(
        step.id for step in (workflow.steps.values() if workflow else ()) if step.cache_ttl_s
    )
    caches = findings.cache_findings(runs, cached)
    retries = findings.retry_findings(runs)
    path = findings.critical_path_finding(runs)
    if path is not None:
        target = advice.critical_path
        target.run_count = path.run_count
        _set(target.mean_length, path.mean_length_s)
        for step in path.steps:
            entry = target.steps.add(step_id=step.step_id, method=step.method, share=step.share)
            _set(entry.mean_duration, step.mean_s)
        top = max(path.steps, key=lambda step: step.share).step_id
        target.recommendation = wording.critical_path_text(
            path,
            next((c for c in caches if c.step_id == top), None),
            next((r for r in retries if r.step_id == top), None),
        )
    parallelism = findings.parallelism_finding(runs)
    if parallelism is not None:
        target_p = advice.parallelism
        _set(target_p.mean_step_time, parallelism.mean_step_time_s)
        _set(target_p.mean_critical_path, parallelism.mean_critical_path_s)
        _set(target_p.mean_run_duration, parallelism.mean_run_s)
        target_p.ideal_speedup = parallelism.ideal_speedup
        target_p.measured_speedup = parallelism.measured_speedup
        target_p.recommendation = wording.parallelism_text(parallelism)
    for cache in caches:
        candidate = advice.cache_candidates.add(
            step_id=cache.step_id,
            method=cache.method,
            call_count=cache.calls,
            distinct_request_count=cache.distinct,
            repeated_call_count=cache.repeated_calls,
            cached=cache.cached,
            recommendation=wording.cache_text(cache),
        )
        _set(candidate.repeated_call_time, cache.repeated_time_s)
    for retry in retries:
        hot = advice.retry_hot_spots.add(
            step_id=retry.step_id,
            method=retry.method,
            execution_count=retry.executions,
            retry_count=retry.retries,
            failed_count=retry.failed,
            recommendation=wording.retry_text(retry),
        )
        _set(hot.retry_time, retry.retry_time_s)
    services = sorted({service_of(step.method) for run in runs for step in run.steps})
    for breaker in findings.breaker_findings(runs, services, live.trips, live.open_now):
        advice.breaker_hot_spots.add(
            service=breaker.service,
            circuit_rejections=breaker.rejections,
            failed_steps=breaker.failed_steps,
            circuit_trips=breaker.trips,
            circuit_open=breaker.open_now,
            recommendation=wording.breaker_text(breaker),
        )
    return advice


def _set(target: duration_pb2.Duration, seconds: float) -> None:
    target.FromNanoseconds(int(seconds * 1e9))
