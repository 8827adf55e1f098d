"""What one finished run's stored history says, folded once into plain, immutable facts.

A finished run never changes, so its facts can be kept (keyed by run name) and reused
by every later GetAnalytics.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import any_pb2
from google.protobuf.message import Message

from aura.orchestrator.v1 import run_pb2
from orchestrator.analytics.critical_path import critical_path
from orchestrator.analytics.resilience import Record, code_name, reason_of, resilience_records
from orchestrator.errors import AuraError
from orchestrator.workflows import CompiledWorkflow, run_input_as_json


@dataclass(frozen=True, slots=True)
class StepFacts:
    step_id: str
    method: str
    state: int  # run_pb2.StepState value, PENDING if it never ended
    start: float | None  # unix seconds: the first attempt's dispatch
    end: float | None  # when it succeeded, failed or was cancelled
    attempts: int  # the highest attempt number (0: no backend call)
    retry_time_s: float  # first attempt's start to the last attempt's start
    cache_result: int  # run_pb2.CacheResult value
    answered_by_primary: bool
    errors: tuple[tuple[str, str], ...] = ()  # (code, reason) per failed attempt
    request_digest: bytes | None = None
    """Of the request, for a success the step's own method answered by calling its
    backend; None otherwise, or when the request could not be rebuilt."""
    duration_s: float = 0.0
    """First attempt's start to the step's end; 0 for a step that never started."""

    @property
    def finished(self) -> bool:
        return self.state in (run_pb2.STEP_STATE_SUCCEEDED, run_pb2.STEP_STATE_FAILED)

    @property
    def retries(self) -> int:
        return max(0, self.attempts - 1)


@dataclass(frozen=True, slots=True)
class RunFacts:
    name: str
    definition: str
    state: int  # run_pb2.RunState value
    last_seq: int
    created: float  # unix seconds
    started: float  # run_started, else created
    finished: float
    steps: tuple[StepFacts, ...]
    records: tuple[Record, ...] = field(repr=False)
    critical_path: tuple[str, ...] | None = None
    """None when the run's definition is unknown or has other steps than the run."""
    critical_length_s: float = 0.0
    step_time_s: float = 0.0
    """The steps' durations summed: the run's length had they run one after another."""

    @property
    def latency_s(self) -> float:
        """Creation to end, as clients wait for it."""
        return self.finished - self.created

    @property
    def duration_s(self) -> float:
        """Start of execution to end."""
        return max(0.0, self.finished - self.started)


@dataclass
class _Step:
    method: str
    state: int = run_pb2.STEP_STATE_PENDING
    start: float | None = None
    last_start: float | None = None
    end: float | None = None
    attempts: int = 0
    cache_result: int = run_pb2.CACHE_RESULT_UNSPECIFIED
    primary: bool = True
    errors: list[tuple[str, str]] = field(default_factory=list)
    output: any_pb2.Any | None = None


_ENDS = {
    "step_succeeded": run_pb2.STEP_STATE_SUCCEEDED,
    "step_failed": run_pb2.STEP_STATE_FAILED,
    "step_cancelled": run_pb2.STEP_STATE_CANCELLED,
}


def run_facts(
    events: Sequence[run_pb2.RunEvent], workflow: CompiledWorkflow | None
) -> RunFacts | None:
    """The facts of a finished run's history (seq order); None when it is not finished.

    `workflow` is the run's definition, for its DAG and to rebuild step requests;
    ignored unless it has exactly the steps (ids and methods) the run recorded.
    """
    if not events or events[0].WhichOneof("event") != "run_created":
        return None
    created = events[0].run_created
    steps = {s.step_id: _Step(sys.intern(s.method)) for s in created.steps}
    methods = {step_id: step.method for step_id, step in steps.items()}
    records: list[Record] = []
    started: float | None = None
    finished: tuple[float, int] | None = None
    for event in events[1:]:
        kind = event.WhichOneof("event")
        at = event.time.ToNanoseconds() / 1e9
        if kind == "run_started":
            started = at if started is None else started
        elif kind == "run_finished":
            finished = (at, event.run_finished.state)
        elif kind is not None and kind.startswith("step_"):
            records.extend(resilience_records(event, kind, methods))
            _apply(steps, event, kind, at)
    if finished is None:
        return None
    created_at = events[0].time.ToNanoseconds() / 1e9
    if (
        workflow is not None
        and {s: step.method.full_name for s, step in workflow.steps.items()} != methods
    ):
        workflow = None
    run_input = _run_input(created) if workflow is not None else None
    facts = tuple(
        _step_facts(step_id, step, steps, run_input, workflow) for step_id, step in steps.items()
    )
    path: tuple[str, ...] | None = None
    length = 0.0
    if workflow is not None:
        durations = {f.step_id: f.duration_s for f in facts}
        deps = {step_id: step.deps for step_id, step in workflow.steps.items()}
        path, length = critical_path(workflow.topological_order, deps, durations)
    return RunFacts(
        name=events[0].run,
        definition=created.workflow_definition,
        state=finished[1],
        last_seq=events[-1].seq,
        created=created_at,
        started=created_at if started is None else started,
        finished=finished[0],
        steps=facts,
        records=tuple(records),
        critical_path=path,
        critical_length_s=length,
        step_time_s=sum(f.duration_s for f in facts),
    )


def _apply(steps: dict[str, _Step], event: run_pb2.RunEvent, kind: str, at: float) -> None:
    detail = getattr(event, kind)
    step = steps.get(getattr(detail, "step_id", ""))
    if step is None:
        return
    step.attempts = max(step.attempts, getattr(detail, "attempt", 0))
    if kind == "step_started":
        step.start = at if step.start is None else step.start
        step.last_start = at
    elif kind == "step_skipped":
        step.state = run_pb2.STEP_STATE_SKIPPED
    elif kind in _ENDS:
        step.state = _ENDS[kind]
        step.end = at
    if kind in ("step_attempt_failed", "step_failed"):
        step.errors.append((code_name(detail.error), reason_of(detail.error)))
    if kind == "step_succeeded":
        step.cache_result = detail.cache_result
        step.primary = detail.answered_by in (
            run_pb2.ANSWERED_BY_UNSPECIFIED,
            run_pb2.ANSWERED_BY_PRIMARY,
        )
        step.output = detail.output


def _step_facts(
    step_id: str,
    step: _Step,
    steps: Mapping[str, _Step],
    run_input: dict[str, Any] | None,
    workflow: CompiledWorkflow | None,
) -> StepFacts:
    retry_time = 0.0
    if step.start is not None and step.last_start is not None:
        retry_time = step.last_start - step.start
    digest = None
    called = step.attempts > 0 and step.cache_result != run_pb2.CACHE_RESULT_HIT and step.primary
    succeeded = step.state == run_pb2.STEP_STATE_SUCCEEDED
    if workflow is not None and run_input is not None and succeeded and called:
        digest = _request_digest(workflow, step_id, steps, run_input)
    return StepFacts(
        step_id=sys.intern(step_id),
        method=step.method,
        state=step.state,
        start=step.start,
        end=step.end,
        attempts=step.attempts,
        retry_time_s=retry_time,
        cache_result=step.cache_result,
        answered_by_primary=step.primary,
        errors=tuple(step.errors),
        request_digest=digest,
        duration_s=_duration(step.start, step.end),
    )


def _duration(start: float | None, end: float | None) -> float:
    return 0.0 if start is None or end is None else max(0.0, end - start)


def _request_digest(
    workflow: CompiledWorkflow,
    step_id: str,
    steps: Mapping[str, _Step],
    run_input: dict[str, Any],
) -> bytes | None:
    """The step's request rebuilt as the engine built it (from the run input and the
    stored outputs of its dependencies), hashed with its method; None if it cannot be."""
    compiled = workflow.steps[step_id]
    outputs: dict[str, Message] = {}
    for dep in compiled.deps:
        output = steps[dep].output
        if output is None:
            continue
        message = workflow.steps[dep].method.response_class()
        if not _unpacks(output, message):
            return None
        outputs[dep] = message
    try:
        request = compiled.build_request(run_input, outputs)
    except AuraError:
        return None
    body = request.SerializeToString(deterministic=True)
    return hashlib.blake2b(compiled.method.path.encode() + b"\0" + body, digest_size=16).digest()


def _run_input(created: run_pb2.RunCreated) -> dict[str, Any] | None:
    run_input, problems = run_input_as_json(created.input)
    return None if problems else run_input


def _unpacks(output: any_pb2.Any, message: Any) -> bool:
    try:
        return bool(output.Unpack(message))
    except Exception:  # protobuf's DecodeError, or a type it cannot place
        return False
