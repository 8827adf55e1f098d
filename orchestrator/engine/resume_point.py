"""Where an unfinished run's history leaves it: what a resumed executor starts from.

A resumed run must end exactly as it would have without the restart, so the
history decides more than which steps are done:

- a required step's `StepFailed` means the run was already failing: nothing runs
  again, the unfinished steps are cancelled and the run fails with that error;
- `StepCancelled` with no required failure means the run was being cancelled:
  the rest is cancelled with the same reason;
- otherwise finished steps keep their outputs, steps cut off mid-attempt run
  again, and attempt numbers go on from the highest one recorded;
- a transaction goes on where it stood (see transaction_history): phase two of a
  recorded decision, or ABORT when none was recorded (presumed abort); compensation
  goes on with the steps not yet compensated, in the same order.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from google.protobuf.message import Message
from google.rpc import code_pb2, status_pb2

from aura.orchestrator.v1 import run_pb2
from orchestrator.engine.compensation import CompensationRecord, compensation_record
from orchestrator.engine.run_executor import TERMINAL_STEP_STATES
from orchestrator.engine.step_runner import PriorAttempts
from orchestrator.engine.transaction_history import TransactionRecord, transaction_records
from orchestrator.errors import AuraError, FailedPrecondition
from orchestrator.resilience import orchestrator_status
from orchestrator.runs import fold_run
from orchestrator.workflows import CompiledWorkflow

RESUME_FAILED = "RESUME_FAILED"
_STARTED_STEP_STATES = frozenset({run_pb2.STEP_STATE_SCHEDULED, run_pb2.STEP_STATE_RUNNING})


@dataclass
class ResumePoint:
    run: run_pb2.WorkflowRun
    """The folded history."""
    states: dict[str, int] = field(default_factory=dict)
    """Steps that already finished (succeeded, failed, skipped or cancelled)."""
    outputs: dict[str, Message] = field(default_factory=dict)
    attempts: dict[str, PriorAttempts] = field(default_factory=dict)
    restarted: list[str] = field(default_factory=list)
    """Steps that had started but not finished; they run again."""
    failure: tuple[str, status_pb2.Status] | None = None
    """The first required step that failed, and its error: the run fails with it."""
    cancel_reason: str | None = None
    """Set when the run was being cancelled (and no required step had failed)."""
    completed: list[str] = field(default_factory=list)
    """Succeeded steps in order of completion (what compensation undoes, newest first)."""
    transactions: dict[str, TransactionRecord] = field(default_factory=dict)
    """Group id -> where its transaction stands (its coordinator goes on from there)."""
    compensation: CompensationRecord = field(default_factory=CompensationRecord)
    """The steps already compensated, and the compensating calls made."""


def resume_point(
    events: Sequence[run_pb2.RunEvent], workflow: CompiledWorkflow, *, now_ns: int | None = None
) -> ResumePoint:
    """Folds `events` (a run's history, in seq order) for `workflow`.

    Raises FailedPrecondition when a recorded output is not the step's response type
    (or does not parse): the run cannot go on from that history.
    """
    point = ResumePoint(run=fold_run(events))
    now_ns = time.time_ns() if now_ns is None else now_ns
    failed: dict[str, int] = {}
    backoff_until_ns: dict[str, tuple[int, int]] = {}  # step id -> (end, length)
    for event in events:
        kind = event.WhichOneof("event")
        if kind == "step_attempt_failed":
            attempt_failed = event.step_attempt_failed
            failed[attempt_failed.step_id] = failed.get(attempt_failed.step_id, 0) + 1
            length_ns = attempt_failed.backoff.ToNanoseconds()
            backoff_until_ns[attempt_failed.step_id] = (
                event.time.ToNanoseconds() + length_ns,
                length_ns,
            )
        elif kind == "step_started":
            backoff_until_ns.pop(event.step_started.step_id, None)
        elif kind == "step_failed" and point.failure is None:
            step = workflow.steps.get(event.step_failed.step_id)
            if step is not None and not step.optional:
                point.failure = (step.id, event.step_failed.error)
        elif kind == "step_cancelled" and point.cancel_reason is None:
            point.cancel_reason = event.step_cancelled.reason
        elif kind == "step_succeeded":
            point.completed.append(event.step_succeeded.step_id)
    if point.failure is not None:
        point.cancel_reason = None  # the cancellations were the failure's
    point.transactions = transaction_records(events)
    point.compensation = compensation_record(events)

    for step_run in point.run.steps:
        step = workflow.steps.get(step_run.step_id)
        if step is None:
            continue
        if step_run.state == run_pb2.STEP_STATE_SUCCEEDED:
            message = step.method.response_class()
            if not _unpacks(step_run, message):
                raise FailedPrecondition(
                    f"the recorded output of step {step.id} is not a readable "
                    f"{message.DESCRIPTOR.full_name} (it is {step_run.output.type_url or 'empty'})",
                    reason="OUTPUT_UNREADABLE",
                    metadata={"step_id": step.id},
                )
            point.outputs[step.id] = message
        if step_run.state in TERMINAL_STEP_STATES:
            point.states[step.id] = step_run.state
            continue
        ending = point.failure is not None or point.cancel_reason is not None
        if step_run.state in _STARTED_STEP_STATES and not ending:
            point.restarted.append(step.id)
        if step_run.attempts:
            until_ns, length_ns = backoff_until_ns.get(step.id, (now_ns, 0))
            left_ns = min(until_ns - now_ns, length_ns)  # a clock set back waits no longer
            point.attempts[step.id] = PriorAttempts(
                last_number=step_run.attempts,
                failed=failed.get(step.id, 0),
                backoff_left_s=max(0.0, left_ns / 1e9),
            )
    return point


def _unpacks(step_run: run_pb2.StepRun, message: Message) -> bool:
    try:
        return bool(step_run.output.Unpack(message))
    except Exception:  # protobuf's DecodeError, or a type it cannot place
        return False


def resume_failed_status(cause: Exception) -> status_pb2.Status:
    """The error of a run that could not be resumed: reason RESUME_FAILED, the cause's
    code when it is one of ours (INTERNAL otherwise) and its message."""
    metadata = {"cause": type(cause).__name__}
    if isinstance(cause, AuraError):
        code = cause.code.value[0]
        metadata["cause_reason"] = cause.reason
    else:
        code = code_pb2.INTERNAL
    return orchestrator_status(
        code,
        f"the run could not be resumed after a restart: {cause}",
        reason=RESUME_FAILED,
        metadata=metadata,
    )
