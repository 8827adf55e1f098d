"""Saga compensation: undoing a failing run's succeeded steps, newest first.

When a required step fails, every succeeded step that names a compensation is undone, in
reverse order of completion, before the run ends FAILED. Each compensating call carries
the step's own idempotency key (`<run id>/<step id>`), so a service that already undid
it (the call repeated after a restart) answers without undoing twice. A failed call is
retried with backoff until it succeeds: a compensation is never dropped (only a request
that cannot be built, a definition problem, is recorded as failed and left). Each step
records `compensation_started` per call, `compensation_attempt_failed` per failure and
`step_compensated` once; a restart goes on with the steps not yet compensated.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass, field

from google.protobuf import any_pb2

from aura.orchestrator.v1 import run_pb2
from orchestrator.engine.step_runner import IDEMPOTENCY_KEY_HEADER, RunContext
from orchestrator.errors import AuraError
from orchestrator.mesh import BackendCallError
from orchestrator.proto_time import duration_of
from orchestrator.workflows import CompiledStep, CompiledWorkflow

log = logging.getLogger(__name__)

COMPENSATION_BACKOFF_S = (0.1, 5.0)
"""First and longest pause between compensating calls of one step (doubling, jittered)."""


@dataclass
class CompensationRecord:
    """What a history says of compensation: the steps undone and calls made so far."""

    compensated: set[str] = field(default_factory=set)
    attempts: dict[str, int] = field(default_factory=dict)


def compensation_record(events: Sequence[run_pb2.RunEvent]) -> CompensationRecord:
    record = CompensationRecord()
    for event in events:
        kind = event.WhichOneof("event")
        if kind == "compensation_started":
            started = event.compensation_started
            record.attempts[started.step_id] = max(
                record.attempts.get(started.step_id, 0), started.attempt
            )
        elif kind == "step_compensated":
            record.compensated.add(event.step_compensated.step_id)
    return record


async def compensate(
    workflow: CompiledWorkflow,
    ctx: RunContext,
    completed: Sequence[str],
    record: CompensationRecord,
) -> list[str]:
    """Undoes the steps of `completed` (in completion order) that have a compensation,
    newest first; returns the ids undone (by now or before a restart), in that order."""
    undone = []
    for step_id in reversed(completed):
        step = workflow.steps.get(step_id)
        if step is None or step.compensation is None:
            continue
        if step_id not in record.compensated:
            if not await _undo(step, ctx, record):
                continue
            record.compensated.add(step_id)
        undone.append(step_id)
    return undone


async def _undo(step: CompiledStep, ctx: RunContext, record: CompensationRecord) -> bool:
    """Calls the step's compensation until it succeeds; False only when its request cannot
    be built."""
    compensation = step.compensation
    assert compensation is not None
    method = compensation.method
    try:
        request = compensation.build_request(ctx.run_input, ctx.outputs)
    except AuraError as error:
        ctx.recorder.emit(
            compensation_attempt_failed=run_pb2.CompensationAttemptFailed(
                step_id=step.id, attempt=0, error=error.to_status()
            )
        )
        log.error("step %s cannot be compensated: %s", step.id, error)
        return False
    pause_s, longest_s = COMPENSATION_BACKOFF_S
    while True:
        attempt = record.attempts.get(step.id, 0) + 1
        record.attempts[step.id] = attempt
        ctx.recorder.emit(
            compensation_started=run_pb2.CompensationStarted(
                step_id=step.id, attempt=attempt, method=method.full_name
            )
        )
        try:
            answered = await ctx.pool.invoke(
                service=method.service,
                path=method.path,
                request=request,
                response_class=method.response_class,
                timeout_s=compensation.timeout_s,
                metadata=((IDEMPOTENCY_KEY_HEADER, f"{ctx.run_id}/{step.id}"),),
            )
        except (BackendCallError, AuraError) as error:
            delay_s = pause_s * random.uniform(0.8, 1.2)
            ctx.recorder.emit(
                compensation_attempt_failed=run_pb2.CompensationAttemptFailed(
                    step_id=step.id,
                    attempt=attempt,
                    error=error.to_status(),
                    backoff=duration_of(delay_s),
                )
            )
            await ctx.sleep(delay_s)
            pause_s = min(2 * pause_s, longest_s)
            continue
        output = any_pb2.Any()
        output.Pack(answered.message)
        ctx.recorder.emit(
            step_compensated=run_pb2.StepCompensated(
                step_id=step.id, attempt=attempt, output=output
            )
        )
        return True


def compensated_error_suffix(undone: Sequence[str]) -> str:
    """What the run's error says of what was undone."""
    return f"; compensated (undone, newest first): {', '.join(undone)}" if undone else ""
