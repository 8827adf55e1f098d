"""The two-phase-commit coordinator of one transaction group of one run (presumed abort).

Each step of the group is a branch. Its step task `join`s the coordinator with its built
request; once every branch has joined, the protocol runs once for all of them:

1. `transaction_started` and a `step_started` per branch, committed to the store before
   any Prepare goes out (so a restart finds the transaction and aborts it rather than
   preparing it anew), then every Prepare in parallel
   (`aura.transaction.v1.ParticipantService/Prepare` on the step's service, carrying the
   step's method and request, the run's idempotency key, and this orchestrator's address
   for in-doubt questions). Each answer is a `transaction_voted`; an error or a timeout is
   a vote never heard (UNSPECIFIED, with the error).
2. COMMIT when every branch voted YES (and the run is not being cancelled), else ABORT.
   The decision is a `transaction_decided` event; a COMMIT is forced to disk
   (`RunRecorder.emit_durable`) before any Commit goes out. An ABORT need not be forced:
   with no decision on record the answer is ABORT anyway.
3. Phase two: Commit (or Abort) to every branch that must hear it, each retried with
   backoff until it answers OK, whatever the run's deadline; each answer is a
   `transaction_acknowledged`. Then the branches succeed (COMMIT: the step's output is
   the response the participant prepared) or fail (ABORT: reason TRANSACTION_ABORTED, or
   a NO voter's refusal).

A restart resumes from the history (`TransactionRecord`): with a decision on record only
the unacknowledged branches are told; without one the transaction is aborted (presumed
abort), never prepared again. The coordinator's task is shielded from the step tasks'
cancellation: a failing or cancelled run still finishes phase two (a decided COMMIT is
never given up); only a shutdown stops it, to go on after the restart.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from google.protobuf import any_pb2
from google.protobuf.message import Message
from google.rpc import code_pb2, status_pb2

from aura.orchestrator.v1 import run_pb2
from aura.transaction.v1 import participant_pb2 as tx
from orchestrator.engine.step_runner import (
    IDEMPOTENCY_KEY_HEADER,
    RunContext,
    StepOutcome,
)
from orchestrator.engine.transaction_history import (
    BranchRecord,
    TransactionRecord,
    transaction_id,
)
from orchestrator.errors import AuraError
from orchestrator.mesh import BackendCallError
from orchestrator.proto_time import duration_of
from orchestrator.resilience import DeadlineBudget, orchestrator_status
from orchestrator.workflows import CompiledStep, CompiledTransaction, CompiledWorkflow

log = logging.getLogger(__name__)

PARTICIPANT_SERVICE = "aura.transaction.v1.ParticipantService"
TRANSACTION_ABORTED = "TRANSACTION_ABORTED"
PHASE_TWO_TIMEOUT_S = 2.0
PHASE_TWO_BACKOFF_S = (0.05, 2.0)
"""First and longest pause between phase-two calls to one branch (doubling, jittered)."""


@dataclass(frozen=True)
class Branch:
    step: CompiledStep
    request: Message | AuraError


class TransactionCoordinator:
    """Runs one transaction for the branches that join it (see the module docstring)."""

    def __init__(
        self,
        group: CompiledTransaction,
        steps: Mapping[str, CompiledStep],
        ctx: RunContext,
        *,
        record: TransactionRecord | None = None,
        finished: frozenset[str] = frozenset(),
        shutting_down: Callable[[], bool] = lambda: False,
    ) -> None:
        """`steps`: the workflow's; `finished`: the group's steps whose outcome is already
        recorded (after a restart), which do not join."""
        self.group = group
        self._steps = steps
        self._finished = finished
        self.ctx = ctx
        self.id = transaction_id(ctx.recorder.run, group.id)
        self._record = record
        self._shutting_down = shutting_down
        self._branches: dict[str, Branch] = {}
        self._protocol: asyncio.Future[dict[str, StepOutcome]] | None = None
        self._refusal: status_pb2.Status | None = None
        """Set when a branch was skipped: the transaction never runs."""
        self._all_joined = asyncio.Event()
        self.abort_requested: str | None = None
        """Set when the run is failing or cancelled: an undecided transaction aborts."""

    async def join(self, step: CompiledStep, request: Message | AuraError) -> StepOutcome:
        """The branch's outcome, once the whole transaction is over for it."""
        if self._refusal is not None:
            return self._fail(step.id, self._refusal)
        self._branches[step.id] = Branch(step, request)
        if self._protocol is None and set(self._branches) | self._finished >= set(self.group.steps):
            self._protocol = asyncio.create_task(self._run(), name=f"transaction:{self.id}")
            self._all_joined.set()
        try:
            await self._all_joined.wait()  # the other branches' steps start at once too
            assert self._protocol is not None
            outcomes = await asyncio.shield(self._protocol)
        except asyncio.CancelledError:
            if self._shutting_down() or self._protocol is None:
                if self._protocol is not None:
                    self._protocol.cancel()
                raise
            self.abort_requested = self.abort_requested or "the run stopped"
            outcomes = await asyncio.shield(self._protocol)  # phase two is never given up
        return outcomes[step.id]

    def withdraw(self, step_id: str, reason: str) -> None:
        """A branch's step was skipped (the compiler makes this rare: a dependency of it
        skipped in turn): the transaction cannot run. No Prepare has gone out; the
        branches waiting, and those still to come, fail."""
        if self._protocol is not None or self._refusal is not None:
            return
        self._refusal = orchestrator_status(
            code_pb2.FAILED_PRECONDITION,
            f"transaction {self.id} cannot run: branch {step_id} was skipped ({reason})",
            reason=TRANSACTION_ABORTED,
            metadata={"transaction_id": self.id},
        )
        outcomes = {s: self._fail(s, self._refusal) for s in self._branches}
        self._protocol = asyncio.get_running_loop().create_future()
        self._protocol.set_result(outcomes)
        self._all_joined.set()

    # -- the protocol -----------------------------------------------------------------------

    async def _run(self) -> dict[str, StepOutcome]:
        record = self._record
        if record is None:
            record = await self._prepare_phase()
        elif record.decision == run_pb2.TRANSACTION_DECISION_UNSPECIFIED:
            reason = orchestrator_status(
                code_pb2.ABORTED,
                f"transaction {self.id} was not decided when its coordinator restarted",
                reason=TRANSACTION_ABORTED,
                metadata={"transaction_id": self.id},
            )
            self._decide(record, run_pb2.TRANSACTION_DECISION_ABORT, reason)
        # Otherwise it was decided before the restart: only phase two is left.
        await self._phase_two(record)
        return self._outcomes(record)

    async def _prepare_phase(self) -> TransactionRecord:
        ctx = self.ctx
        record = TransactionRecord(self.id, self.group.id)
        ctx.recorder.emit(
            transaction_started=run_pb2.TransactionStarted(
                transaction_id=self.id, group_id=self.group.id, step_ids=self.group.steps
            )
        )
        if ctx.admitted is not None:
            await ctx.admitted
        budget = DeadlineBudget(ctx.deadline, ctx.caller_deadline, clock=ctx.clock)
        slot = budget.for_attempt(self.group.prepare_timeout_s)
        for step_id in self.group.steps:
            ctx.recorder.emit(
                step_started=run_pb2.StepStarted(
                    step_id=step_id, attempt=1, timeout=duration_of(slot.timeout_s)
                )
            )
        # On record before the first Prepare: a crash from here on is a restart that finds
        # the transaction undecided and aborts it, never one that prepares it again.
        await ctx.recorder.flush(urgent=True)
        votes = await asyncio.gather(
            *(self._prepare(self._branches[s], slot.timeout_s) for s in self.group.steps)
        )
        for step_id, (vote, result, refusal) in zip(self.group.steps, votes, strict=True):
            branch = record.branches.setdefault(step_id, BranchRecord())
            branch.vote, branch.result, branch.refusal = vote, result, refusal
            voted = run_pb2.TransactionVoted(transaction_id=self.id, step_id=step_id, vote=vote)  # type: ignore[arg-type]
            if result is not None:
                voted.result.CopyFrom(result)
            if refusal is not None:
                voted.refusal.CopyFrom(refusal)
            ctx.recorder.emit(transaction_voted=voted)
        all_yes = all(vote == tx.VOTE_YES for vote, _, _ in votes)
        if all_yes and self.abort_requested is None:
            await self._decide_durably(record)
        else:
            self._decide(record, run_pb2.TRANSACTION_DECISION_ABORT, self._abort_reason(record))
        return record

    async def _prepare(
        self, branch: Branch, timeout_s: float
    ) -> tuple[int, any_pb2.Any | None, status_pb2.Status | None]:
        """(vote, prepared response, refusal or error) of one branch."""
        if isinstance(branch.request, AuraError):
            return tx.VOTE_NO, None, branch.request.to_status()
        payload = any_pb2.Any()
        payload.Pack(branch.request)
        request = tx.PrepareRequest(
            transaction_id=self.id,
            branch_id=branch.step.id,
            method=branch.step.method.full_name,
            request=payload,
            coordinator=self.ctx.coordinator,
        )
        try:
            answer = await self._call(
                branch.step, "Prepare", request, tx.PrepareResponse, timeout_s
            )
        except (BackendCallError, AuraError) as error:
            return tx.VOTE_UNSPECIFIED, None, error.to_status()
        assert isinstance(answer, tx.PrepareResponse)
        if answer.vote == tx.VOTE_YES:
            return tx.VOTE_YES, answer.result, None
        refusal = answer.refusal if answer.HasField("refusal") else None
        return tx.VOTE_NO, None, refusal

    def _abort_reason(self, record: TransactionRecord) -> status_pb2.Status:
        refused = [s for s, b in record.branches.items() if b.vote != tx.VOTE_YES]
        if self.abort_requested is not None and not refused:
            why = self.abort_requested
        else:
            details = []
            for step_id in refused:
                branch = record.branches[step_id]
                what = "voted NO" if branch.vote == tx.VOTE_NO else "did not vote"
                message = branch.refusal.message if branch.refusal is not None else ""
                details.append(f"{step_id} {what}" + (f" ({message})" if message else ""))
            why = "; ".join(details)
        return orchestrator_status(
            code_pb2.ABORTED,
            f"transaction {self.id} aborted: {why}",
            reason=TRANSACTION_ABORTED,
            metadata={"transaction_id": self.id},
        )

    async def _decide_durably(self, record: TransactionRecord) -> None:
        record.decision = run_pb2.TRANSACTION_DECISION_COMMIT
        decided = run_pb2.TransactionDecided(
            transaction_id=self.id, decision=run_pb2.TRANSACTION_DECISION_COMMIT
        )
        await self.ctx.recorder.emit_durable(transaction_decided=decided)

    def _decide(self, record: TransactionRecord, decision: int, reason: status_pb2.Status) -> None:
        record.decision, record.reason = decision, reason
        self.ctx.recorder.emit(
            transaction_decided=run_pb2.TransactionDecided(
                transaction_id=self.id,
                decision=decision,  # type: ignore[arg-type]
                reason=reason,
            )
        )

    async def _phase_two(self, record: TransactionRecord) -> None:
        commit = record.decision == run_pb2.TRANSACTION_DECISION_COMMIT
        await asyncio.gather(*(self._tell(record, step_id, commit) for step_id in record.to_tell()))

    async def _tell(self, record: TransactionRecord, step_id: str, commit: bool) -> None:
        """Commit or Abort to one branch until it answers OK (backoff, never given up)."""
        step = self._step(step_id)
        branch = record.branches[step_id]
        pause_s, longest_s = PHASE_TWO_BACKOFF_S
        while True:
            branch.attempts += 1
            try:
                if commit:
                    request: Message = tx.CommitRequest(transaction_id=self.id, branch_id=step_id)
                    await self._call(step, "Commit", request, tx.CommitResponse)
                else:
                    request = tx.AbortRequest(transaction_id=self.id, branch_id=step_id)
                    await self._call(step, "Abort", request, tx.AbortResponse)
                break
            except (BackendCallError, AuraError) as error:
                log.info(
                    "transaction %s: %s of %s failed (%s); again in %.2fs",
                    self.id,
                    "Commit" if commit else "Abort",
                    step_id,
                    error,
                    pause_s,
                )
            await self.ctx.sleep(pause_s * random.uniform(0.8, 1.2))
            pause_s = min(2 * pause_s, longest_s)
        branch.acknowledged = True
        self.ctx.recorder.emit(
            transaction_acknowledged=run_pb2.TransactionAcknowledged(
                transaction_id=self.id,
                step_id=step_id,
                decision=record.decision,  # type: ignore[arg-type]
                attempts=branch.attempts,
            )
        )

    def _step(self, step_id: str) -> CompiledStep:
        return self._steps[step_id]

    async def _call(
        self,
        step: CompiledStep,
        rpc: str,
        request: Message,
        response_class: type[Message],
        timeout_s: float = PHASE_TWO_TIMEOUT_S,
    ) -> Message:
        answered = await self.ctx.pool.invoke(
            service=step.method.service,
            path=f"/{PARTICIPANT_SERVICE}/{rpc}",
            request=request,
            response_class=response_class,
            timeout_s=timeout_s,
            metadata=((IDEMPOTENCY_KEY_HEADER, f"{self.ctx.run_id}/{step.id}"),),
        )
        return answered.message

    # -- the branches' outcomes -------------------------------------------------------------

    def _outcomes(self, record: TransactionRecord) -> dict[str, StepOutcome]:
        outcomes = {}
        for step_id in self._branches:
            branch = record.branches.get(step_id) or BranchRecord()
            if record.decision == run_pb2.TRANSACTION_DECISION_COMMIT:
                outcomes[step_id] = self._succeed(self._step(step_id), branch.result)
            else:
                error = record.reason or self._abort_reason(record)
                if branch.vote == tx.VOTE_NO and branch.refusal is not None:
                    error = branch.refusal
                outcomes[step_id] = self._fail(step_id, error)
        return outcomes

    def _succeed(self, step: CompiledStep, result: any_pb2.Any | None) -> StepOutcome:
        response = step.method.response_class()
        if result is not None:
            result.Unpack(response)
        self.ctx.outputs[step.id] = response
        output = any_pb2.Any()
        output.Pack(response)
        self.ctx.recorder.emit(
            step_succeeded=run_pb2.StepSucceeded(
                step_id=step.id, attempt=1, output=output, answered_by=run_pb2.ANSWERED_BY_PRIMARY
            )
        )
        return StepOutcome(run_pb2.STEP_STATE_SUCCEEDED)

    def _fail(self, step_id: str, error: status_pb2.Status) -> StepOutcome:
        self.ctx.recorder.emit(
            step_failed=run_pb2.StepFailed(step_id=step_id, attempt=1, error=error)
        )
        return StepOutcome(run_pb2.STEP_STATE_FAILED, error)


class TransactionGroups:
    """The coordinators of one run, one per transaction group, made on first use."""

    def __init__(
        self,
        workflow: CompiledWorkflow,
        ctx: RunContext,
        records: Mapping[str, TransactionRecord] | None = None,
        finished: frozenset[str] = frozenset(),
        shutting_down: Callable[[], bool] = lambda: False,
    ) -> None:
        self._workflow = workflow
        self._finished = finished
        self._ctx = ctx
        self._records = dict(records or {})
        self._shutting_down = shutting_down
        self._coordinators: dict[str, TransactionCoordinator] = {}

    def coordinator(self, group_id: str) -> TransactionCoordinator:
        found = self._coordinators.get(group_id)
        if found is None:
            found = self._coordinators[group_id] = TransactionCoordinator(
                self._workflow.transactions[group_id],
                self._workflow.steps,
                self._ctx,
                record=self._records.get(group_id),
                finished=self._finished,
                shutting_down=self._shutting_down,
            )
        return found

    def request_abort(self, reason: str) -> None:
        """The run is failing or cancelled: undecided transactions abort."""
        for coordinator in self._coordinators.values():
            coordinator.abort_requested = coordinator.abort_requested or reason
