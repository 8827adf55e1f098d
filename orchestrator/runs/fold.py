"""The fold of a run's events into its `WorkflowRun` state.

A run is its event history; this module is the one place that says what each event
means for the run's visible state. `RunFolder` folds incrementally (the engine keeps
one per live run); `fold_run` folds a whole history read from the store.
"""

from __future__ import annotations

from collections.abc import Iterable

from google.rpc import code_pb2, status_pb2

from aura.orchestrator.v1 import run_pb2
from orchestrator.names import DEFAULT_TENANT
from orchestrator.runs.transaction_fold import (
    COMPENSATION_EVENTS,
    TRANSACTION_EVENTS,
    apply_compensation_event,
    apply_transaction_event,
)

# What each step event does to its step: the state it moves to, whether it carries an
# attempt number, whether it ends the step.
_STEP_STATES = {
    "step_scheduled": run_pb2.STEP_STATE_SCHEDULED,
    "step_started": run_pb2.STEP_STATE_RUNNING,
    "step_succeeded": run_pb2.STEP_STATE_SUCCEEDED,
    "step_failed": run_pb2.STEP_STATE_FAILED,
    "step_skipped": run_pb2.STEP_STATE_SKIPPED,
    "step_cancelled": run_pb2.STEP_STATE_CANCELLED,
}
_CARRY_ATTEMPT = frozenset({"step_started", "step_attempt_failed", "step_succeeded", "step_failed"})
_END_STEP = frozenset({"step_succeeded", "step_failed", "step_cancelled"})


class RunFolder:
    """Applies events one by one to a `WorkflowRun`.

    Events must come in seq order. Events naming a step the run does not have are
    recorded in `last_event_seq` but otherwise ignored, so a fold never crashes on
    history written by an older or newer definition.
    """

    def __init__(self, *, include_outputs: bool = True) -> None:
        self._run = run_pb2.WorkflowRun()
        self._steps: dict[str, run_pb2.StepRun] = {}
        self._include_outputs = include_outputs

    @property
    def run(self) -> run_pb2.WorkflowRun:
        """The folded state so far (owned by the folder: copy it before mutating)."""
        return self._run

    def apply(self, event: run_pb2.RunEvent) -> None:
        run = self._run
        kind = event.WhichOneof("event")
        if kind == "run_created":
            self._on_created(event)
        elif kind == "run_started":
            run.state = run_pb2.RUN_STATE_RUNNING
            if not run.HasField("start_time"):
                run.start_time.CopyFrom(event.time)
            if event.run_started.HasField("expire_time"):  # a queued run's own deadline
                run.expire_time.CopyFrom(event.run_started.expire_time)
        elif kind == "run_resumed":
            run.state = run_pb2.RUN_STATE_RUNNING
        elif kind == "run_finished":
            run.state = event.run_finished.state
            if event.run_finished.HasField("error"):
                run.error.CopyFrom(event.run_finished.error)
            run.end_time.CopyFrom(event.time)
        elif kind in TRANSACTION_EVENTS:
            apply_transaction_event(run, self._steps, event, kind)
        elif kind in COMPENSATION_EVENTS:
            step = self._steps.get(getattr(event, kind).step_id)
            if step is not None:
                apply_compensation_event(step, event, kind)
        elif kind is not None:
            self._apply_step_event(event, kind)
        run.last_event_seq = event.seq

    def _on_created(self, event: run_pb2.RunEvent) -> None:
        created = event.run_created
        run = self._run
        run.name = event.run
        run.workflow_definition = created.workflow_definition
        if created.HasField("input"):
            run.input.CopyFrom(created.input)
        run.labels.update(created.labels)
        run.request_id = created.request_id
        run.create_time.CopyFrom(event.time)
        if created.HasField("expire_time"):
            run.expire_time.CopyFrom(created.expire_time)
        run.priority = created.priority
        run.tenant = created.tenant or DEFAULT_TENANT
        # A queued run stays QUEUED until its run_started (claimed by a replica with room).
        run.state = run_pb2.RUN_STATE_QUEUED if created.queued else run_pb2.RUN_STATE_PENDING
        for declared in created.steps:
            step = run.steps.add(
                step_id=declared.step_id,
                method=declared.method,
                optional=declared.optional,
                state=run_pb2.STEP_STATE_PENDING,
            )
            self._steps[step.step_id] = step

    def _apply_step_event(self, event: run_pb2.RunEvent, kind: str) -> None:
        detail = getattr(event, kind)
        step = self._steps.get(getattr(detail, "step_id", ""))
        if step is None:
            return
        if kind in _STEP_STATES:
            step.state = _STEP_STATES[kind]
        if kind in _CARRY_ATTEMPT:
            # The highest attempt seen: older histories numbered attempts afresh on resume.
            step.attempts = max(step.attempts, detail.attempt)
        if kind in _END_STEP:
            step.end_time.CopyFrom(event.time)
        if kind == "step_started":
            if not step.HasField("start_time"):
                step.start_time.CopyFrom(event.time)
        elif kind in ("step_attempt_failed", "step_failed"):
            step.error.CopyFrom(detail.error)
        elif kind == "step_succeeded":
            if self._include_outputs and detail.HasField("output"):
                step.output.CopyFrom(detail.output)
            step.ClearField("error")
            step.answered_by = detail.answered_by or run_pb2.ANSWERED_BY_PRIMARY
            step.answered_by_method = detail.answered_by_method or step.method
        elif kind == "step_skipped":
            step.skip_reason = detail.reason
        elif kind == "step_cancelled":
            step.error.CopyFrom(status_pb2.Status(code=code_pb2.CANCELLED, message=detail.reason))


def fold_run(
    events: Iterable[run_pb2.RunEvent], *, include_outputs: bool = True
) -> run_pb2.WorkflowRun:
    """The state of a run after `events` (its history in seq order).

    With `include_outputs=False` step outputs are left out, as listings want.
    """
    folder = RunFolder(include_outputs=include_outputs)
    for event in events:
        folder.apply(event)
    return folder.run
