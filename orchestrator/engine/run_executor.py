"""Executes one run's compiled plan: every step whose dependencies are done starts at once."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping, Sequence

import grpc
from google.rpc import status_pb2

from aura.orchestrator.v1 import run_pb2
from orchestrator.engine.compensation import (
    CompensationRecord,
    compensate,
)
from orchestrator.engine.compensation import (
    compensated_error_suffix as compensated_suffix,
)
from orchestrator.engine.step_runner import (
    NO_PRIOR_ATTEMPTS,
    PriorAttempts,
    RunContext,
    StepOutcome,
    build_fallback_request,
    build_request,
    run_step,
)
from orchestrator.engine.transaction import TransactionGroups
from orchestrator.engine.transaction_history import TransactionRecord
from orchestrator.mesh import status_of
from orchestrator.workflows import CompiledWorkflow

TERMINAL_STEP_STATES = frozenset(
    {
        run_pb2.STEP_STATE_SUCCEEDED,
        run_pb2.STEP_STATE_FAILED,
        run_pb2.STEP_STATE_SKIPPED,
        run_pb2.STEP_STATE_CANCELLED,
    }
)


class ShutdownInterrupt(Exception):
    """The orchestrator is stopping: leave the run unfinished so it resumes later."""


class RunExecutor:
    """Drives one run from its current step states to a final state.

    For a new run `states` is empty. For a run resumed after a restart the history
    decides where it stands (see `resume_point`): `states` holds the steps already
    finished, `attempts` their attempts so far, and `failure` or `cancel_reason` say
    the run was already failing or being cancelled, which it then finishes doing.
    """

    def __init__(
        self,
        workflow: CompiledWorkflow,
        ctx: RunContext,
        states: Mapping[str, int] | None = None,
        *,
        attempts: Mapping[str, PriorAttempts] | None = None,
        failure: tuple[str, status_pb2.Status] | None = None,
        cancel_reason: str | None = None,
        completed: Sequence[str] = (),
        transactions: Mapping[str, TransactionRecord] | None = None,
        compensation: CompensationRecord | None = None,
    ) -> None:
        self.workflow = workflow
        self.ctx = ctx
        self.states: dict[str, int] = {
            step_id: run_pb2.STEP_STATE_PENDING for step_id in workflow.steps
        }
        self.states.update(states or {})
        self._attempts = attempts or {}
        self._recorded_failure = failure
        self._recorded_cancel = cancel_reason is not None
        self.cancel_reason: str | None = cancel_reason
        self.shutting_down = False
        self._running: dict[asyncio.Task[StepOutcome], str] = {}
        # Step id -> the steps not yet started that read its output.
        self._readers: dict[str, set[str]] = {}
        for step_id, step in workflow.steps.items():
            if self.states[step_id] == run_pb2.STEP_STATE_PENDING:
                for dep in step.deps:
                    self._readers.setdefault(dep, set()).add(step_id)
        self._settled: asyncio.Future[tuple[str, status_pb2.Status] | None] = (
            asyncio.get_running_loop().create_future()
        )
        self.completed: list[str] = list(completed)
        """Succeeded steps in order of completion: compensation undoes them newest first."""
        self._compensation = compensation or CompensationRecord()
        finished = frozenset(s for s, state in self.states.items() if state in TERMINAL_STEP_STATES)
        self.transactions = TransactionGroups(
            workflow, ctx, transactions, finished, shutting_down=lambda: self.shutting_down
        )

    def request_cancel(self, reason: str) -> None:
        self.cancel_reason = reason or "cancelled by request"

    async def run(self) -> int:
        """Returns the final RunState. Raises ShutdownInterrupt when stopped for shutdown."""
        if self._recorded_failure is not None:
            return self._fail_run(*self._recorded_failure, await self._compensate())
        if self._recorded_cancel:
            return self._cancel_run(self.cancel_reason or "cancelled")
        failure: tuple[str, status_pb2.Status] | None = None
        try:
            failure = await self._schedule_until_done()
        except asyncio.CancelledError:
            await self._stop_running_steps()
            if self.shutting_down:
                raise ShutdownInterrupt() from None
            failure = self._settled_failure()
            if failure is None:  # a required step that failed first still fails the run
                return self._cancel_run(self.cancel_reason or "cancelled")
        if failure is not None:
            await self._stop_running_steps()
            return self._fail_run(*failure, await self._compensate())
        optional_failed = any(
            state == run_pb2.STEP_STATE_FAILED and self.workflow.steps[step_id].optional
            for step_id, state in self.states.items()
        )
        final = (
            run_pb2.RUN_STATE_PARTIALLY_SUCCEEDED
            if optional_failed
            else run_pb2.RUN_STATE_SUCCEEDED
        )
        return self._finish(final, None)

    def _settled_failure(self) -> tuple[str, status_pb2.Status] | None:
        settled = self._settled
        if settled.done() and not settled.cancelled() and settled.exception() is None:
            return settled.result()
        return None

    def _fail_run(self, step_id: str, status: status_pb2.Status, undone: Sequence[str] = ()) -> int:
        self._cancel_unfinished(f"step {step_id} failed")
        error = status_pb2.Status()
        error.CopyFrom(status)
        error.message = f"step {step_id} failed: {status.message}" + compensated_suffix(undone)
        return self._finish(run_pb2.RUN_STATE_FAILED, error)

    async def _compensate(self) -> list[str]:
        """Undoes the succeeded steps that have a compensation (see compensation); a
        cancel request does not stop it, a shutdown does (it goes on after the restart)."""
        if not any(self.workflow.steps[s].compensation for s in self.completed):
            return []
        work = asyncio.ensure_future(
            compensate(self.workflow, self.ctx, self.completed, self._compensation)
        )
        while True:
            try:
                return await asyncio.shield(work)
            except asyncio.CancelledError:
                if self.shutting_down:
                    work.cancel()
                    raise ShutdownInterrupt() from None

    def _cancel_run(self, reason: str) -> int:
        self._cancel_unfinished(reason)
        return self._finish(
            run_pb2.RUN_STATE_CANCELLED, status_of(grpc.StatusCode.CANCELLED, reason)
        )

    async def _schedule_until_done(self) -> tuple[str, status_pb2.Status] | None:
        """Until no step can start: None, or the first failed required step and its error.

        Steps that become ready start from the finishing step's done callback, so a
        dependant's call goes out without waiting for this coroutine to be scheduled.
        """
        self._start_ready_steps()
        if not self._running:
            return None
        return await self._settled

    def _on_step_done(self, task: asyncio.Task[StepOutcome]) -> None:
        step_id = self._running.pop(task, None)
        settled = self._settled
        if step_id is None or task.cancelled():
            return
        if settled.done():  # stopping: keep what the step recorded, start nothing new
            if task.exception() is None:
                self.states[step_id] = task.result().state
            return
        try:
            outcome = task.result()
            self.states[step_id] = outcome.state
            if outcome.state == run_pb2.STEP_STATE_SUCCEEDED:
                self.completed.append(step_id)
            if (
                outcome.state == run_pb2.STEP_STATE_FAILED
                and not self.workflow.steps[step_id].optional
            ):
                assert outcome.error is not None
                settled.set_result((step_id, outcome.error))
                return
            self._start_ready_steps()
        except Exception as error:  # a bug, not a step failure: let the run crash loudly
            settled.set_exception(error)
            return
        if not self._running:
            settled.set_result(None)

    def _start_ready_steps(self) -> None:
        # One pass in topological order settles chains of skips at once.
        for step_id in self.workflow.topological_order:
            if self.states[step_id] != run_pb2.STEP_STATE_PENDING:
                continue
            step = self.workflow.steps[step_id]
            if any(self.states[dep] not in TERMINAL_STEP_STATES for dep in step.deps):
                continue
            # A dep read only through optional inputs (or by the fallback) may have
            # failed or been skipped: the step runs without what it would have given.
            blocked = sorted(
                dep
                for dep in step.required_deps
                if self.states[dep] != run_pb2.STEP_STATE_SUCCEEDED
            )
            if blocked:
                self._skip(step_id, f"dependency {', '.join(blocked)} did not succeed")
                continue
            if not step.should_run(self.ctx.run_input, self.ctx.outputs):
                self._skip(step_id, "condition is false")
                continue
            # No StepScheduled event: the attempt begins at once and says so (StepStarted).
            self.states[step_id] = run_pb2.STEP_STATE_SCHEDULED
            request = build_request(step, self.ctx)
            fallback_request = build_fallback_request(step, self.ctx)
            self._consumed(step_id)
            prior = self._attempts.get(step_id, NO_PRIOR_ATTEMPTS)
            group = self.workflow.transaction_of.get(step_id)
            work = (
                run_step(step, self.ctx, request, prior, fallback_request)
                if group is None
                else self.transactions.coordinator(group.id).join(step, request)
            )
            task = asyncio.create_task(work, name=f"step:{step_id}")
            self._running[task] = step_id
            task.add_done_callback(self._on_step_done)

    def _consumed(self, step_id: str) -> None:
        """`step_id` has taken what it needs from its dependencies' outputs (its request is
        built, or it is skipped): an output no pending step reads is let go, so a long run
        holds only what is still to be wired (10,000 runs in flight hold a lot of them)."""
        for dep in self.workflow.steps[step_id].deps:
            readers = self._readers.get(dep)
            if readers is not None:
                readers.discard(step_id)
                if not readers and self.workflow.steps[dep].compensation is None:
                    self.ctx.outputs.pop(dep, None)  # one to compensate keeps it

    def _skip(self, step_id: str, reason: str) -> None:
        self._consumed(step_id)
        self.states[step_id] = run_pb2.STEP_STATE_SKIPPED
        self.ctx.recorder.emit(step_skipped=run_pb2.StepSkipped(step_id=step_id, reason=reason))
        group = self.workflow.transaction_of.get(step_id)
        if group is not None:  # the other branches cannot commit without it
            self.transactions.coordinator(group.id).withdraw(step_id, reason)

    async def _stop_running_steps(self) -> None:
        # Cancelling the task cancels its in-flight gRPC call.
        tasks = dict(self._running)
        for task in tasks:
            task.cancel()
        for task, step_id in tasks.items():
            with contextlib.suppress(asyncio.CancelledError):
                outcome = await task
                self.states[step_id] = outcome.state
        self._running.clear()

    def _cancel_unfinished(self, reason: str) -> None:
        for step_id in self.workflow.topological_order:
            if self.states[step_id] not in TERMINAL_STEP_STATES:
                self.states[step_id] = run_pb2.STEP_STATE_CANCELLED
                self.ctx.recorder.emit(
                    step_cancelled=run_pb2.StepCancelled(step_id=step_id, reason=reason)
                )

    def _finish(self, state: int, error: status_pb2.Status | None) -> int:
        finished = run_pb2.RunFinished(state=state)  # type: ignore[arg-type]
        if error is not None:
            finished.error.CopyFrom(error)
        self.ctx.recorder.emit(run_finished=finished)
        return state
