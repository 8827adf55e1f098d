"""The engine: starts, resumes, cancels and awaits runs; one executor task per active run."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import random
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import json_format, struct_pb2

from aura.orchestrator.v1 import run_pb2, workflow_pb2
from orchestrator.engine.adoption import RunFollower, read_histories, replicated
from orchestrator.engine.catalog import DefinitionCatalog
from orchestrator.engine.recorder import RunRecorder
from orchestrator.engine.resume_point import resume_failed_status, resume_point
from orchestrator.engine.run_executor import TERMINAL_STEP_STATES, RunExecutor, ShutdownInterrupt
from orchestrator.engine.step_runner import RunContext
from orchestrator.errors import (
    FailedPrecondition,
    InvalidArgument,
    ResourceExhausted,
    ViolationCollector,
    run_not_found,
    shutting_down,
)
from orchestrator.events import EventHub, watch_run
from orchestrator.mesh import BackendPool
from orchestrator.names import RUN_PREFIX, run_name
from orchestrator.resilience import ResponseCache
from orchestrator.runs import FINAL_RUN_STATES, RunFilter, RunFolder, fold_run
from orchestrator.store import Claim, RunRecord, RunStore, StoreUnavailable
from orchestrator.telemetry import traced_run
from orchestrator.workflows import CompiledWorkflow, run_input_as_json

log = logging.getLogger(__name__)

MAX_RUN_TIMEOUT_S = 24 * 3600.0
MAX_REQUEST_ID_LENGTH = 128
MAX_LABEL_LENGTH = 63
INVALID_RUN_REASON = "INVALID_RUN_REQUEST"
_RUN_IDS = random.Random()
# What a client refused for admission is told to wait before trying again.
ADMISSION_RETRY_AFTER_S = 1.0


@dataclass(frozen=True)
class RunSpec:
    """What a client asks to run (the fields shared by Start/Execute/StreamWorkflowRun)."""

    workflow_definition: str
    input: struct_pb2.Struct = field(default_factory=struct_pb2.Struct)
    labels: Mapping[str, str] = field(default_factory=dict)
    request_id: str = ""
    timeout_s: float | None = None
    # Caller's own deadline (ExecuteWorkflowRun): bounds the run, not part of its identity.
    caller_deadline_s: float | None = None

    def fingerprint(self) -> str:
        digest = hashlib.sha256()
        for part in (
            self.workflow_definition.encode(),
            self.input.SerializeToString(deterministic=True),
            repr(sorted(self.labels.items())).encode(),
            repr(self.timeout_s).encode(),
        ):
            digest.update(len(part).to_bytes(8, "big"))
            digest.update(part)
        return digest.hexdigest()


@dataclass
class ActiveRun:
    executor: RunExecutor
    task: asyncio.Task[None]
    done: asyncio.Future[int]
    # Another replica took the run over: it goes on there, not here.
    lost: bool = False


class Engine:
    """`max_active_runs` is the admission cap: beyond it start_run raises RESOURCE_EXHAUSTED
    with RetryInfo instead of piling up work (runs resumed after a restart are exempt)."""

    def __init__(
        self,
        store: RunStore,
        pool: BackendPool,
        catalog: DefinitionCatalog,
        *,
        max_active_runs: int | None = None,
        response_cache: ResponseCache | None = None,
    ) -> None:
        self.store = store
        self.pool = pool
        self.catalog = catalog
        self.max_active_runs = max_active_runs
        self.response_cache = response_cache if response_cache is not None else ResponseCache()
        # Good answers kept for steps whose fallback is the last good answer.
        self.last_good_answers = ResponseCache(self.response_cache.max_entries)
        self._active: dict[str, ActiveRun] = {}
        # Follows runs executing on other replicas (see `attach_hub`).
        self.follower = RunFollower(store)

    @property
    def active_run_count(self) -> int:
        return len(self._active)

    async def start_run(self, spec: RunSpec) -> tuple[run_pb2.WorkflowRun, bool]:
        """Creates and launches a run; idempotent on spec.request_id. Returns (run, created)."""
        workflow = self.catalog.get(spec.workflow_definition)
        timeout_s, run_input = self._validate(spec, workflow.required_inputs, workflow.timeout_s)
        self._admit()
        # 128 random bits from a urandom-seeded PRNG of our own: unique without a syscall per
        # run, and untouched by anything in the process that calls random.seed().
        run_id = f"{_RUN_IDS.getrandbits(128):032x}"
        name = RUN_PREFIX + run_id
        created = run_pb2.RunCreated(
            workflow_definition=workflow.name,
            input=spec.input,
            labels=dict(spec.labels),
            request_id=spec.request_id,
            steps=[
                run_pb2.StepRun(
                    step_id=step.id, method=step.method.full_name, optional=step.optional
                )
                for step in workflow.steps.values()
            ],
        )
        created.expire_time.FromNanoseconds(time.time_ns() + int(timeout_s * 1e9))
        event = run_pb2.RunEvent(run=name, seq=1, run_created=created)
        event.time.FromNanoseconds(time.time_ns())
        creation = self.store.create_run(
            event, request_id=spec.request_id, fingerprint=spec.fingerprint()
        )
        if spec.request_id:  # it may name an earlier run: launch only once that is known
            stored_name, is_new = await creation
            if not is_new:
                return await self.get_run(stored_name), False
            self._launch_new(name, workflow, spec, run_input, timeout_s, admitted=None)
        else:
            # A new random id is a new run: prepare it while its creation commits; its
            # steps call no backend before the creation is durable (`admitted`).
            admitted = asyncio.get_running_loop().create_future()
            self._launch_new(name, workflow, spec, run_input, timeout_s, admitted=admitted)
            creation.add_done_callback(lambda done: self._admit_or_abort(name, done, admitted))
            await creation
        folder = RunFolder()
        folder.apply(event)
        return folder.run, True

    def _admit_or_abort(
        self,
        name: str,
        creation: asyncio.Future[tuple[str, bool]],
        admitted: asyncio.Future[None],
    ) -> None:
        """Lets a launched run call its backends once its creation is durable, or stops it
        (recording nothing more) when the creation failed."""
        if not creation.cancelled() and creation.exception() is None:
            if not admitted.done():
                admitted.set_result(None)
            return
        active = self._active.get(name)
        if active is not None:
            active.executor.shutting_down = True
            active.task.cancel()

    def _launch_new(
        self,
        name: str,
        workflow: CompiledWorkflow,
        spec: RunSpec,
        run_input: dict[str, Any],
        timeout_s: float,
        *,
        admitted: asyncio.Future[None] | None,
    ) -> None:
        recorder = RunRecorder(self.store, name, next_seq=2)
        recorder.emit(run_started=run_pb2.RunStarted())
        ctx = RunContext(
            run_id=name.removeprefix(RUN_PREFIX),
            recorder=recorder,
            pool=self.pool,
            run_input=run_input,
            outputs={},
            deadline=time.monotonic() + timeout_s,
            caller_deadline=(
                None
                if spec.caller_deadline_s is None
                else time.monotonic() + spec.caller_deadline_s
            ),
            cache=self.response_cache,
            last_good=self.last_good_answers,
            admitted=admitted,
        )
        self._launch(name, RunExecutor(workflow, ctx))

    def _admit(self) -> None:
        if self.max_active_runs is not None and len(self._active) >= self.max_active_runs:
            raise ResourceExhausted(
                f"{len(self._active)} runs are active, the most this orchestrator takes; "
                f"retry in {ADMISSION_RETRY_AFTER_S:g}s",
                reason="TOO_MANY_ACTIVE_RUNS",
                metadata={"max_active_runs": str(self.max_active_runs)},
                retry_after_s=ADMISSION_RETRY_AFTER_S,
            )

    def _validate(
        self, spec: RunSpec, required_inputs: tuple[str, ...], default_timeout_s: float
    ) -> tuple[float, dict[str, Any]]:
        """Everything the run needs, checked before its creation commits: a run that
        passes can be stored, converted (json_format) and listed. Returns its timeout and
        its input as the steps read it (converted once, here)."""
        problems = ViolationCollector()
        if len(spec.request_id) > MAX_REQUEST_ID_LENGTH:
            problems.add("request_id", f"at most {MAX_REQUEST_ID_LENGTH} characters")
        for key, value in spec.labels.items():
            path = f"labels[{key[:MAX_LABEL_LENGTH]}]"
            if (
                not key
                or len(key) > MAX_LABEL_LENGTH
                or not key.replace("_", "a").replace("-", "a").isalnum()
            ):
                problems.add(path, "label keys are 1-63 letters, digits, '-' or '_'")
            if len(value) > MAX_LABEL_LENGTH:
                problems.add(path, "label values are at most 63 characters")
        run_input, input_problems = run_input_as_json(spec.input)
        problems.violations.extend(input_problems)
        if not input_problems:
            for key in required_inputs:
                given = spec.input.fields.get(key)
                if given is None or given.WhichOneof("kind") == "null_value":
                    problems.add(f"input.{key}", f"required input {key!r} is missing")
        timeout_s = default_timeout_s if spec.timeout_s is None else spec.timeout_s
        if spec.timeout_s is not None and not 0 < spec.timeout_s <= MAX_RUN_TIMEOUT_S:
            problems.add("timeout", "must be positive and at most 24h")
        if problems.violations:
            raise InvalidArgument(
                "invalid run request: "
                + "; ".join(f"{v.field}: {v.description}" for v in problems.violations[:3]),
                reason=INVALID_RUN_REASON,
                violations=problems.violations,
            )
        if spec.caller_deadline_s is not None:
            if spec.caller_deadline_s <= 0:
                raise InvalidArgument(
                    "the caller's deadline has already passed", reason="DEADLINE_TOO_SHORT"
                )
            timeout_s = min(timeout_s, spec.caller_deadline_s)
        assert run_input is not None  # no input problems: it converted
        return timeout_s, run_input

    def _launch(self, name: str, executor: RunExecutor) -> None:
        done: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        async def drive() -> None:
            try:
                state = await executor.run()
                await executor.ctx.recorder.flush()
                done.set_result(state)
            except (ShutdownInterrupt, asyncio.CancelledError):
                if not done.done():
                    done.cancel()
            except Exception as error:
                log.exception("run %s crashed", name)
                if not done.done():
                    done.set_exception(error)
                raise
            finally:
                self._active.pop(name, None)

        task = asyncio.create_task(
            traced_run(name, executor.workflow.name, drive()), name=f"run:{name}"
        )
        self._active[name] = ActiveRun(executor, task, done)

    async def wait_finished(self, name: str) -> run_pb2.WorkflowRun:
        """Waits for the run's final event to be committed, then returns the run."""
        name = run_name(name)
        active = self._active.get(name)
        if active is not None:
            try:
                await asyncio.shield(active.done)
            except asyncio.CancelledError:
                if not active.done.cancelled():
                    raise  # our caller went away
                if not active.lost:
                    raise shutting_down(
                        f"the orchestrator is shutting down; run {name} resumes when it restarts",
                        run=name,
                    ) from None
                await self.follower.wait_finished(name)  # it goes on on another replica
        elif replicated(self.store) is not None:
            await self.follower.wait_finished(name)  # executing elsewhere, or queued
        return await self.get_run(name)

    async def get_run(self, name: str, *, include_outputs: bool = True) -> run_pb2.WorkflowRun:
        name = run_name(name)
        events = await self.store.read_events(name)
        if not events:
            raise run_not_found(name)
        return fold_run(events, include_outputs=include_outputs)

    async def cancel_run(self, name: str, reason: str) -> run_pb2.WorkflowRun:
        name = run_name(name)
        active = self._active.get(name)
        if active is None:
            return await self._cancel_elsewhere(name, reason)
        active.executor.request_cancel(reason)
        active.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.shield(active.done)
        return await self.get_run(name)

    # Definitions and stored runs, for the API ------------------------------

    def definitions(self) -> list[CompiledWorkflow]:
        """Every definition, seeds included, sorted by name."""
        return self.catalog.list()

    def definition(self, name_or_id: str) -> CompiledWorkflow:
        """`NotFound` (reason DEFINITION_NOT_FOUND) for an unknown definition."""
        return self.catalog.get(name_or_id)

    async def create_definition(
        self, definition: workflow_pb2.WorkflowDefinition, *, validate_only: bool = False
    ) -> CompiledWorkflow:
        return await self.catalog.create(definition, validate_only=validate_only)

    async def delete_definition(self, name_or_id: str) -> None:
        await self.catalog.delete(name_or_id)

    async def list_runs(
        self, run_filter: RunFilter, page_size: int, page_token: str
    ) -> tuple[list[RunRecord], str]:
        """Runs matching the filter, newest first; the next token is "" on the last page."""
        return await self.store.list_runs(run_filter, page_size, page_token)

    async def delete_run(self, name: str) -> None:
        await self.store.delete_run(run_name(name))

    def watch_run(
        self, hub: EventHub, name: str, after_seq: int = 0
    ) -> AsyncIterator[run_pb2.RunEvent]:
        """The run's events after `after_seq`, history then live, gap-free (see events)."""
        return watch_run(self.store, hub, run_name(name), after_seq)

    async def resume_unfinished(
        self, on_history: Callable[[list[run_pb2.RunEvent]], None] | None = None
    ) -> list[str]:
        """After a restart: takes up every unfinished run where its history ends.

        `on_history` sees each history read, before the run goes on (metrics learn the
        runs they will see finish, without a second read of the store).
        A run that cannot be taken up (its definition is gone, its input or an output
        no longer converts, its history does not read) ends FAILED with reason
        RESUME_FAILED and the cause in its error; the others resume all the same.
        """
        names = await self.store.unfinished_runs()
        resumed, _ = await self._take_up([(name, "") for name in names], on_history)
        return resumed

    async def _take_up(
        self,
        runs: list[tuple[str, str]],
        on_history: Callable[[list[run_pb2.RunEvent]], None] | None,
        *,
        retry_unavailable: bool = False,
    ) -> tuple[list[str], list[str]]:
        """Resumes each (run, cancel reason) not active here from its history (see
        `resume_unfinished`); a reason cancels the run as it resumes. Returns the runs
        resumed and, with `retry_unavailable`, those left alone because the store could
        not be read just then (to try again; otherwise they end FAILED)."""
        runs = [(name, reason) for name, reason in runs if name not in self._active]
        histories = await read_histories(self.store, [name for name, _ in runs])
        resumed: list[str] = []
        unread: list[str] = []
        for (name, cancel_reason), history in zip(runs, histories, strict=True):
            if name in self._active:
                continue
            if retry_unavailable and isinstance(history, StoreUnavailable):
                log.warning("run %s: its history does not read now (%s); later", name, history)
                unread.append(name)
                continue
            events: list[run_pb2.RunEvent] | None = None
            try:
                if isinstance(history, BaseException):
                    raise history
                events = history
                if not events:
                    continue
                if on_history is not None:
                    on_history(events)
                self._resume(name, events, cancel_reason=cancel_reason)
            except Exception as error:
                log.exception("run %s cannot be resumed; it ends FAILED", name)
                await self._end_unresumable(name, events, error)
                continue
            resumed.append(name)
        return resumed, unread

    def _resume(
        self, name: str, events: list[run_pb2.RunEvent], *, cancel_reason: str = ""
    ) -> None:
        """Launches the run from where `events` leave it; raises, recording nothing, when
        the history cannot be taken up. A `cancel_reason` (a Cancel asked while nobody
        executed the run) cancels it at once, unless its history already ends it."""
        run = events[0].run_created
        workflow = self.catalog.get(run.workflow_definition)
        point = resume_point(events, workflow)
        run_input = json_format.MessageToDict(point.run.input)
        remaining_s = (point.run.expire_time.ToNanoseconds() - time.time_ns()) / 1e9
        recorder = RunRecorder(self.store, name, next_seq=events[-1].seq + 1)
        if point.run.state == run_pb2.RUN_STATE_PENDING:
            recorder.emit(run_started=run_pb2.RunStarted())
        recorder.emit(run_resumed=run_pb2.RunResumed(restarted_steps=point.restarted))
        ctx = RunContext(
            run_id=name.removeprefix(RUN_PREFIX),
            recorder=recorder,
            pool=self.pool,
            run_input=run_input,
            outputs=point.outputs,
            deadline=time.monotonic() + remaining_s,
            cache=self.response_cache,
            last_good=self.last_good_answers,
        )
        executor = RunExecutor(
            workflow,
            ctx,
            point.states,
            attempts=point.attempts,
            failure=point.failure,
            cancel_reason=(
                point.cancel_reason
                if point.cancel_reason is not None or not cancel_reason
                else cancel_reason
            ),
        )
        self._launch(name, executor)

    async def _end_unresumable(
        self, name: str, events: list[run_pb2.RunEvent] | None, cause: Exception
    ) -> None:
        """Finishes a run that cannot be resumed: FAILED, reason RESUME_FAILED, the cause in
        its error, its unfinished steps cancelled. Never raises: start-up goes on."""
        try:
            if events:
                next_seq = events[-1].seq + 1
                unfinished = [
                    step.step_id
                    for step in fold_run(events, include_outputs=False).steps
                    if step.state not in TERMINAL_STEP_STATES
                ]
            else:
                record = await self.store.get_run_record(name)
                if record is None:
                    return
                next_seq, unfinished = record.last_seq + 1, []
            recorder = RunRecorder(self.store, name, next_seq=next_seq)
            error = resume_failed_status(cause)
            for step_id in unfinished:
                recorder.emit(
                    step_cancelled=run_pb2.StepCancelled(
                        step_id=step_id, reason="the run could not be resumed"
                    )
                )
            await recorder.emit(
                run_finished=run_pb2.RunFinished(state=run_pb2.RUN_STATE_FAILED, error=error)
            )
        except Exception:
            log.exception("run %s could not be ended after a failed resume", name)

    # Several replicas sharing the store ------------------------------------

    def attach_hub(self, hub: EventHub) -> None:
        """Runs executing elsewhere are followed on `hub` (the remote feed brings them)."""
        self.follower.hub = hub

    def is_active(self, name: str) -> bool:
        """Whether `name` executes here now."""
        return name in self._active

    async def adopt(
        self,
        claims: Sequence[Claim],
        on_history: Callable[[list[run_pb2.RunEvent]], None] | None = None,
    ) -> list[Claim]:
        """Resumes runs this replica just claimed (from a dead replica, or one taken out
        of the queue) from their histories, exactly as a restart resumes them; a claim's
        cancel reason cancels its run as it resumes. Returns the claims whose histories
        could not be read just then (the store was unavailable): adopt them again later."""
        _, unread = await self._take_up(
            [(c.run, c.cancel_reason) for c in claims], on_history, retry_unavailable=True
        )
        return [claim for claim in claims if claim.run in set(unread)]

    def lose_ownership(self, name: str) -> None:
        """Another replica took `name` over: its executor stops here, writing nothing
        more (as for a shutdown); callers waiting on it follow it to its end there."""
        active = self._active.get(name)
        if active is not None:
            active.lost = True
            active.executor.shutting_down = True
            active.task.cancel()

    def cancel_here(self, name: str, reason: str) -> None:
        """A Cancel asked on another replica reaches `name`, executing here. Once only:
        a second one (asked again, or heard twice) must not interrupt the first's
        cleanup."""
        active = self._active.get(name)
        if active is not None and active.executor.cancel_reason is None:
            active.executor.request_cancel(reason)
            active.task.cancel()

    async def release_all(self) -> list[RunRecorder]:
        """Stops executing every run, writing nothing more: this replica lost its lease,
        so they will be taken over. Returns their recorders, whose events still queued
        the store commits or refuses once it can write again."""
        active = list(self._active.values())
        for run in active:
            run.lost = True
            run.executor.shutting_down = True
            run.task.cancel()
        for run in active:
            with contextlib.suppress(asyncio.CancelledError, ShutdownInterrupt, Exception):
                await run.task
        return [run.executor.ctx.recorder for run in active]

    async def _cancel_elsewhere(self, name: str, reason: str) -> run_pb2.WorkflowRun:
        """Cancels a run that does not execute here: a queued one is taken out of the
        queue and ends CANCELLED here; one executing on another replica is asked to
        (through the store), and followed until it ends there."""
        for _ in range(3):  # a queued run may leave the queue while we look
            record = await self.store.get_run_record(name)
            if record is None:
                raise run_not_found(name)
            if record.state in FINAL_RUN_STATES:
                raise FailedPrecondition(
                    f"workflow run {name} already finished as "
                    f"{run_pb2.RunState.Name(record.state)}",  # type: ignore[arg-type]
                    reason="RUN_ALREADY_FINISHED",
                    resource_type="aura.orchestrator.v1.WorkflowRun",
                    resource_name=name,
                )
            if record.state != run_pb2.RUN_STATE_QUEUED:
                break
            claim = await self.store.claim_queued_run(name)
            if claim is not None:
                await self.adopt([Claim(claim.run, claim.epoch, reason or "cancelled by request")])
                return await self.wait_finished(name)
        store = replicated(self.store)
        if store is None:
            raise FailedPrecondition(
                f"workflow run {name} is not active on this orchestrator",
                reason="RUN_NOT_ACTIVE",
                resource_name=name,
            )
        await store.request_cancel(name, reason)
        await self.follower.wait_finished(name)
        return await self.get_run(name)

    async def stop(self) -> None:
        """Stops every executor without finishing its run: runs resume on the next start."""
        active = list(self._active.values())
        for run in active:
            run.executor.shutting_down = True
            run.task.cancel()
        for run in active:
            with contextlib.suppress(asyncio.CancelledError, ShutdownInterrupt):
                await run.task
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await run.executor.ctx.recorder.flush()
