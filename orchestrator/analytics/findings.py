"""The maths of the advice, over the analysed runs of one definition: critical path,
parallelism, cache candidates, retry and breaker hot spots. Plain values, no protobuf."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise

from aura.orchestrator.v1 import run_pb2
from orchestrator.analytics.facts import RunFacts, StepFacts
from orchestrator.analytics.resilience import service_of
from orchestrator.resilience import CIRCUIT_OPEN

MAX_HOT_SPOTS = 5


@dataclass(frozen=True)
class PathStep:
    step_id: str
    method: str
    mean_s: float
    share: float  # of the chain's length, 0..1


@dataclass(frozen=True)
class PathFinding:
    steps: tuple[PathStep, ...]
    run_count: int  # runs whose critical path this chain was
    runs_measured: int  # runs with a measured critical path
    mean_length_s: float


@dataclass(frozen=True)
class ParallelismFinding:
    mean_step_time_s: float
    mean_critical_path_s: float
    mean_run_s: float
    ideal_speedup: float
    measured_speedup: float


@dataclass(frozen=True)
class CacheFinding:
    step_id: str
    method: str
    calls: int
    distinct: int
    repeated_calls: int
    repeated_time_s: float
    median_gap_s: float  # between consecutive identical requests
    cached: bool


@dataclass(frozen=True)
class RetryFinding:
    step_id: str
    method: str
    service: str
    executions: int
    retries: int
    retry_time_s: float
    failed: int
    top_error: str  # "UNAVAILABLE (INJECTED_FAULT)", the most frequent failed attempt


@dataclass(frozen=True)
class BreakerFinding:
    service: str
    rejections: int
    failed_steps: int
    trips: int
    open_now: bool


def measured(runs: Sequence[RunFacts]) -> list[RunFacts]:
    """The runs with a measured critical path (some step took time)."""
    return [run for run in runs if run.critical_path]


def critical_path_finding(runs: Sequence[RunFacts]) -> PathFinding | None:
    """The chain that was the critical path of most runs (ties: the longer one), with each
    step's mean duration and share over those runs."""
    runs = measured(runs)
    chains: dict[tuple[str, ...], list[RunFacts]] = {}
    for run in runs:
        assert run.critical_path is not None
        chains.setdefault(run.critical_path, []).append(run)
    if not chains:
        return None
    chain, members = max(
        chains.items(),
        key=lambda item: (len(item[1]), sum(r.critical_length_s for r in item[1]), item[0]),
    )
    total = sum(run.critical_length_s for run in members)
    steps = []
    for step_id in chain:
        spent = [_step(run, step_id) for run in members]
        summed = sum(step.duration_s for step in spent)
        steps.append(
            PathStep(
                step_id=step_id,
                method=spent[0].method,
                mean_s=summed / len(members),
                share=summed / total if total else 0.0,
            )
        )
    return PathFinding(tuple(steps), len(members), len(runs), total / len(members))


def parallelism_finding(runs: Sequence[RunFacts]) -> ParallelismFinding | None:
    """Ratios of sums (long runs weigh more): step time / critical path is the ideal
    speedup, step time / run duration the measured one."""
    runs = measured(runs)
    if not runs:
        return None
    step_time = sum(run.step_time_s for run in runs)
    path = sum(run.critical_length_s for run in runs)
    duration = sum(run.duration_s for run in runs)
    count = len(runs)
    return ParallelismFinding(
        mean_step_time_s=step_time / count,
        mean_critical_path_s=path / count,
        mean_run_s=duration / count,
        ideal_speedup=step_time / path if path else 1.0,
        measured_speedup=step_time / duration if duration else 0.0,
    )


def cache_findings(
    runs: Sequence[RunFacts], cached_steps: frozenset[str] = frozenset()
) -> list[CacheFinding]:
    """Per step: backend calls that repeated an earlier call's request (same method and
    request bytes), with the time they took; most time first, at most MAX_HOT_SPOTS."""
    calls: dict[str, list[StepFacts]] = {}
    for run in runs:
        for step in run.steps:
            if step.request_digest is not None:
                calls.setdefault(step.step_id, []).append(step)
    found = []
    for step_id, steps in calls.items():
        by_request: dict[bytes, list[StepFacts]] = {}
        for step in sorted(steps, key=lambda s: s.start or 0.0):
            assert step.request_digest is not None
            by_request.setdefault(step.request_digest, []).append(step)
        repeats = [same[1:] for same in by_request.values()]
        repeated = sum(len(r) for r in repeats)
        if not repeated:
            continue
        gaps = [
            (later.start or 0.0) - (earlier.start or 0.0)
            for same in by_request.values()
            for earlier, later in pairwise(same)
        ]
        found.append(
            CacheFinding(
                step_id=step_id,
                method=steps[0].method,
                calls=len(steps),
                distinct=len(by_request),
                repeated_calls=repeated,
                repeated_time_s=sum(s.duration_s for r in repeats for s in r),
                median_gap_s=statistics.median(gaps),
                cached=step_id in cached_steps,
            )
        )
    found.sort(key=lambda f: (-f.repeated_time_s, -f.repeated_calls, f.step_id))
    return found[:MAX_HOT_SPOTS]


def retry_findings(runs: Sequence[RunFacts]) -> list[RetryFinding]:
    """Steps that retried, most time spent retrying first, at most MAX_HOT_SPOTS."""
    executions: dict[str, list[StepFacts]] = {}
    for run in runs:
        for step in run.steps:
            if step.finished:
                executions.setdefault(step.step_id, []).append(step)
    found = []
    for step_id, steps in executions.items():
        retries = sum(step.retries for step in steps)
        if not retries:
            continue
        errors = Counter(error for step in steps for error in step.errors)
        top = ""
        if errors:
            (code, reason), _ = min(errors.items(), key=lambda item: (-item[1], item[0]))
            top = f"{code} ({reason})" if reason else code
        method = steps[0].method
        found.append(
            RetryFinding(
                step_id=step_id,
                method=method,
                service=service_of(method),
                executions=len(steps),
                retries=retries,
                retry_time_s=sum(step.retry_time_s for step in steps),
                failed=sum(1 for step in steps if step.state == run_pb2.STEP_STATE_FAILED),
                top_error=top,
            )
        )
    found.sort(key=lambda f: (-f.retry_time_s, -f.retries, f.step_id))
    return found[:MAX_HOT_SPOTS]


def breaker_findings(
    runs: Sequence[RunFacts],
    services: Sequence[str],
    trips: Mapping[str, int],
    open_now: frozenset[str],
) -> list[BreakerFinding]:
    """Per service of the definition (`services`): attempts refused by an open circuit and
    steps that failed so (from the runs), trips and open state (live); most refusals first."""
    rejections: Counter[str] = Counter()
    failed: Counter[str] = Counter()
    for run in runs:
        for step in run.steps:
            refused = sum(1 for _, reason in step.errors if reason == CIRCUIT_OPEN)
            if not refused:
                continue
            service = service_of(step.method)
            rejections[service] += refused
            if step.state == run_pb2.STEP_STATE_FAILED and step.errors[-1][1] == CIRCUIT_OPEN:
                failed[service] += 1
    found = [
        BreakerFinding(
            service=service,
            rejections=rejections[service],
            failed_steps=failed[service],
            trips=trips.get(service, 0),
            open_now=service in open_now,
        )
        for service in sorted(set(services))
        if rejections[service] or trips.get(service, 0) or service in open_now
    ]
    found.sort(key=lambda f: (-f.rejections, -f.trips, f.service))
    return found[:MAX_HOT_SPOTS]


def _step(run: RunFacts, step_id: str) -> StepFacts:
    return next(step for step in run.steps if step.step_id == step_id)
