"""The fold of a run's events into its `WorkflowRun` state.

A run is its event history; this module is the one place that says what each event
means for the run's visible state. `RunFolder` folds incrementally (the engine keeps
one per live run); `fold_run` folds a whole history read from the store.
"""

from __future__ import annotations

from collections.abc import Iterable

from google.rpc import code_pb2, status_pb2

from aura.orchestrator.v1 import run_pb2


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
        elif kind == "run_resumed":
            run.state = run_pb2.RUN_STATE_RUNNING
        elif kind == "run_finished":
            run.state = event.run_finished.state
            if event.run_finished.HasField("error"):
                run.error.CopyFrom(event.run_finished.error)
            run.end_time.CopyFrom(event.time)
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
        run.state = run_pb2.RUN_STATE_PENDING
        for declared in created.steps:
            step = run.steps.add(
                step_id=declared.step_id,
                method=declared.method,
                optional=declared.optional,
                state=run_pb2.STEP_STATE_PENDING,
            )
            self._steps[step.step_id] = step

    def _apply_step_event(self, event: run_pb2.RunEvent, kind: str) -> None:
        if kind == "step_scheduled":
            step = self._steps.get(event.step_scheduled.step_id)
            if step is not None:
                step.state = run_pb2.STEP_STATE_SCHEDULED
        elif kind == "step_started":
            started = event.step_started
            step = self._steps.get(started.step_id)
            if step is not None:
                step.state = run_pb2.STEP_STATE_RUNNING
                # The highest attempt seen: older histories numbered attempts afresh on resume.
                step.attempts = max(step.attempts, started.attempt)
                if not step.HasField("start_time"):
                    step.start_time.CopyFrom(event.time)
        elif kind == "step_attempt_failed":
            attempt_failed = event.step_attempt_failed
            step = self._steps.get(attempt_failed.step_id)
            if step is not None:
                step.attempts = max(step.attempts, attempt_failed.attempt)
                step.error.CopyFrom(attempt_failed.error)
        elif kind == "step_succeeded":
            succeeded = event.step_succeeded
            step = self._steps.get(succeeded.step_id)
            if step is not None:
                step.state = run_pb2.STEP_STATE_SUCCEEDED
                step.attempts = max(step.attempts, succeeded.attempt)
                if self._include_outputs and succeeded.HasField("output"):
                    step.output.CopyFrom(succeeded.output)
                step.end_time.CopyFrom(event.time)
                step.ClearField("error")
                step.answered_by = succeeded.answered_by or run_pb2.ANSWERED_BY_PRIMARY
                step.answered_by_method = succeeded.answered_by_method or step.method
        elif kind == "step_failed":
            failed = event.step_failed
            step = self._steps.get(failed.step_id)
            if step is not None:
                step.state = run_pb2.STEP_STATE_FAILED
                step.attempts = max(step.attempts, failed.attempt)
                step.error.CopyFrom(failed.error)
                step.end_time.CopyFrom(event.time)
        elif kind == "step_skipped":
            step = self._steps.get(event.step_skipped.step_id)
            if step is not None:
                step.state = run_pb2.STEP_STATE_SKIPPED
                step.skip_reason = event.step_skipped.reason
        elif kind == "step_cancelled":
            cancelled = event.step_cancelled
            step = self._steps.get(cancelled.step_id)
            if step is not None:
                step.state = run_pb2.STEP_STATE_CANCELLED
                step.error.CopyFrom(
                    status_pb2.Status(code=code_pb2.CANCELLED, message=cancelled.reason)
                )
                step.end_time.CopyFrom(event.time)


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
