"""The engine: starts, resumes, cancels and awaits runs; one executor task per active run."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from google.protobuf import json_format

from aura.orchestrator.v1 import run_pb2, workflow_pb2
from orchestrator.engine.adoption import RunFollower, read_histories, replicated
from orchestrator.engine.catalog import DefinitionCatalog
from orchestrator.engine.recorder import RunRecorder
from orchestrator.engine.resume_point import resume_failed_status, resume_point
from orchestrator.engine.run_executor import TERMINAL_STEP_STATES, RunExecutor, ShutdownInterrupt
from orchestrator.engine.run_queue import (
    MAX_CLAIM,
    QueueDrainer,
    queue_full,
    queued_run_start,
)
from orchestrator.engine.run_spec import RunSpec, created_event, validate_spec
from orchestrator.engine.step_runner import RunContext
from orchestrator.errors import (
    FailedPrecondition,
    run_not_found,
    shutting_down,
)
from orchestrator.events import EventHub, watch_run
from orchestrator.mesh import BackendPool
from orchestrator.names import RUN_PREFIX, run_name
from orchestrator.resilience import ResponseCache
from orchestrator.runs import (
    EVERY_TENANT,
    FINAL_RUN_STATES,
    RunFilter,
    RunFolder,
    TenantScope,
    fold_run,
)
from orchestrator.store import Claim, RunRecord, RunStore, StoreUnavailable
from orchestrator.telemetry import run_scope
from orchestrator.workflows import CompiledWorkflow

log = logging.getLogger(__name__)

DEFAULT_MAX_QUEUED_RUNS = 100_000
# How often a wait for a queued run looks at the store, for a run claimed elsewhere (a
# run this engine starts wakes it at once): from the first to the longest pause, doubling.
DEQUEUE_POLL_S = (0.5, 5.0)


@dataclass
class ActiveRun:
    executor: RunExecutor
    task: asyncio.Task[None]
    done: asyncio.Future[int]
    # Another replica took the run over: it goes on there, not here.
    lost: bool = False


class StartedRun:
    """What starting a run gave: its name, whether this call created it, whether it waits
    in the queue, and the run itself, folded only when asked for (ExecuteWorkflowRun
    answers with the finished run, never the new one)."""

    __slots__ = ("_first_event", "_run", "created", "name", "queued")

    def __init__(
        self,
        name: str,
        *,
        created: bool,
        queued: bool,
        first_event: run_pb2.RunEvent | None = None,
        run: run_pb2.WorkflowRun | None = None,
    ) -> None:
        self.name = name
        self.created = created
        self.queued = queued
        self._first_event = first_event
        self._run = run

    @classmethod
    def of(cls, run: run_pb2.WorkflowRun) -> StartedRun:
        """An earlier run its request id named."""
        return cls(run.name, created=False, queued=run.state == run_pb2.RUN_STATE_QUEUED, run=run)

    def run(self) -> run_pb2.WorkflowRun:
        if self._run is None:
            assert self._first_event is not None
            folder = RunFolder()
            folder.apply(self._first_event)
            self._run = folder.run
        return self._run


class Engine:
    """`max_active_runs` is the admission cap: beyond it new runs wait in the durable run
    queue (see run_queue), and only a queue holding `max_queued_runs` makes start_run
    raise RESOURCE_EXHAUSTED (reason QUEUE_FULL) with RetryInfo. Runs resumed after a
    restart are exempt from the cap. `start_queue()` starts claiming queued runs."""

    def __init__(
        self,
        store: RunStore,
        pool: BackendPool,
        catalog: DefinitionCatalog,
        *,
        max_active_runs: int | None = None,
        max_queued_runs: int = DEFAULT_MAX_QUEUED_RUNS,
        response_cache: ResponseCache | None = None,
    ) -> None:
        self.store = store
        self.pool = pool
        self.catalog = catalog
        self.max_active_runs = max_active_runs
        self.response_cache = response_cache if response_cache is not None else ResponseCache()
        # Good answers kept for steps whose fallback is the last good answer.
        self.last_good_answers = ResponseCache(self.response_cache.max_entries)
        self.coordinator_address = ""
        """host:port of this orchestrator's API: in-doubt transaction participants ask it."""
        self._active: dict[str, ActiveRun] = {}
        # Follows runs executing on other replicas (see `attach_hub`).
        self.follower = RunFollower(store)
        self.max_queued_runs = max_queued_runs
        self._queuing = 0  # creations of queued runs not yet committed
        self._dequeued: dict[str, asyncio.Event] = {}  # set once a queued run leaves the queue
        self._on_claimed_history: Callable[[list[run_pb2.RunEvent]], None] | None = None
        self.queue = QueueDrainer(
            store, free_slots=self._free_slots, limits=self._queue_limits, launch=self.start_queued
        )

    @property
    def active_run_count(self) -> int:
        return len(self._active)

    @property
    def queued_run_count(self) -> int:
        """Runs waiting in the queue, as this engine last counted them."""
        return self.queue.waiting

    async def start_queue(
        self, on_history: Callable[[list[run_pb2.RunEvent]], None] | None = None
    ) -> None:
        """Starts claiming queued runs (after `resume_unfinished`, at start-up).
        `on_history` sees each claimed run's history before it starts."""
        self._on_claimed_history = on_history
        await self.queue.start()

    async def start_run(self, spec: RunSpec) -> tuple[run_pb2.WorkflowRun, bool]:
        """Creates and launches a run; idempotent on spec.request_id. Returns (run, created)."""
        started = await self._start(spec)
        return started.run(), started.created

    async def execute_run(self, spec: RunSpec) -> run_pb2.WorkflowRun:
        """`start_run`, then the run once it has finished (after its wait in the queue)."""
        started = await self._start(spec)
        if started.queued:
            await self.wait_dequeued(started.name)
        return await self.wait_finished(started.name)

    async def _start(self, spec: RunSpec) -> StartedRun:
        await self.catalog.ensure([spec.workflow_definition])  # made on another replica?
        workflow = self.catalog.get(spec.workflow_definition, scope=spec.scope)
        timeout_s, run_input = validate_spec(spec, workflow.required_inputs, workflow.timeout_s)
        if self._must_queue(workflow):
            return await self._enqueue(spec, workflow, timeout_s)
        event = created_event(spec, workflow, timeout_s, queued=False, priority=spec.priority)
        name = event.run
        creation = self.store.create_run(
            event, request_id=spec.request_key, fingerprint=spec.request_fingerprint()
        )
        if spec.request_id:  # it may name an earlier run: launch only once that is known
            stored_name, is_new = await creation
            if not is_new:
                return StartedRun.of(await self.get_run(stored_name, scope=spec.scope))
            self._launch_new(name, workflow, spec, run_input, timeout_s, admitted=None)
        else:
            # A new random id is a new run: prepare it while its creation commits; its
            # steps call no backend before the creation is durable (`admitted`).
            admitted = asyncio.get_running_loop().create_future()
            self._launch_new(name, workflow, spec, run_input, timeout_s, admitted=admitted)
            creation.add_done_callback(lambda done: self._admit_or_abort(name, done, admitted))
            await creation
        return StartedRun(name, created=True, queued=False, first_event=event)

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
            coordinator=self.coordinator_address,
            admitted=admitted,
        )
        self._launch(name, RunExecutor(workflow, ctx))

    def _launch(self, name: str, executor: RunExecutor) -> None:
        done: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        async def drive() -> None:
            with run_scope(name, executor.workflow.name):
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

        task = asyncio.create_task(drive(), name=f"run:{name}")
        self._active[name] = ActiveRun(executor, task, done)
        limited = executor.workflow.definition.max_concurrent_runs > 0
        task.add_done_callback(lambda _: self.queue.slot_freed(limited=limited))

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
        return await self.get_run(name, scope=EVERY_TENANT)

    async def get_run(
        self, name: str, *, scope: TenantScope, include_outputs: bool = True
    ) -> run_pb2.WorkflowRun:
        """NOT_FOUND for a run that does not exist or is another tenant's than `scope`'s."""
        name = run_name(name)
        events = await self.store.read_events(name, scope=scope)
        if not events:
            raise run_not_found(name)
        return fold_run(events, include_outputs=include_outputs)

    async def cancel_run(
        self, name: str, reason: str, *, scope: TenantScope
    ) -> run_pb2.WorkflowRun:
        """Another tenant's run than `scope`'s answers NOT_FOUND, untouched."""
        name = run_name(name)
        if scope.tenant is not None and await self.store.get_run_record(name, scope=scope) is None:
            raise run_not_found(name)
        active = self._active.get(name)
        if active is None:
            cancelled = await self._cancel_if_queued(name, reason)
            if cancelled is not None:
                return cancelled
            return await self._cancel_elsewhere(name, reason)
        active.executor.request_cancel(reason)
        active.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.shield(active.done)
        return await self.get_run(name, scope=EVERY_TENANT)

    # The run queue (see run_queue) -----------------------------------------

    def _must_queue(self, workflow: CompiledWorkflow) -> bool:
        if workflow.definition.max_concurrent_runs > 0:
            return True  # the store counts its runs across replicas when it claims them
        if self.queue.waiting > 0 and not self.queue.held_by_limits:
            return True  # do not overtake runs that wait and could run
        cap = self.max_active_runs
        return cap is not None and len(self._active) + self.queue.reserved >= cap

    def _free_slots(self) -> int:
        if self.max_active_runs is None:
            return MAX_CLAIM
        return self.max_active_runs - len(self._active)

    def _queue_limits(self) -> dict[str, int]:
        return {
            compiled.name: compiled.definition.max_concurrent_runs
            for compiled in self.catalog.list(scope=EVERY_TENANT)
            if compiled.definition.max_concurrent_runs > 0
        }

    async def _enqueue(
        self, spec: RunSpec, workflow: CompiledWorkflow, timeout_s: float
    ) -> StartedRun:
        """Creates the run QUEUED and answers at once; QUEUE_FULL when the queue is full."""
        if self.queue.waiting + self._queuing >= self.max_queued_runs:
            waiting = await self.queue.depth()
            if waiting + self._queuing >= self.max_queued_runs:
                raise queue_full(waiting, self.max_queued_runs)
        event = created_event(spec, workflow, timeout_s, queued=True, priority=spec.priority)
        self._queuing += 1
        try:
            stored_name, is_new = await self.store.create_run(
                event,
                request_id=spec.request_key,
                fingerprint=spec.request_fingerprint(),
                queued=True,
                priority=spec.priority,
            )
        finally:
            self._queuing -= 1
        if not is_new:
            return StartedRun.of(await self.get_run(stored_name, scope=spec.scope))
        self.queue.queued()
        return StartedRun(event.run, created=True, queued=True, first_event=event)

    async def start_queued(self, claims: Sequence[Claim]) -> list[str]:
        """Starts runs this replica claimed from the queue (any store, any replica) from
        their stored history: a queued run's is its `run_created` alone, and it gets
        `run_started` with its deadline counted from now. A longer history is resumed as
        after a restart. A claim carrying a cancel reason ends CANCELLED at once. A run
        that cannot start ends FAILED (reason RESUME_FAILED). Returns the runs launched."""
        claims = [claim for claim in claims if claim.run not in self._active]
        histories = await asyncio.gather(
            *(self.store.read_events(claim.run, scope=EVERY_TENANT) for claim in claims),
            return_exceptions=True,
        )
        await self._learn_definitions(histories)
        launched = []
        for claim, history in zip(claims, histories, strict=True):
            events = None if isinstance(history, BaseException) else history
            try:
                if isinstance(history, BaseException):
                    raise history
                if history and claim.run not in self._active:  # not resumed meanwhile
                    if self._on_claimed_history is not None:
                        self._on_claimed_history(history)
                    self._launch_claimed(claim, history)
                    launched.append(claim.run)
            except Exception as error:
                log.exception("queued run %s cannot start; it ends FAILED", claim.run)
                await self._end_unresumable(claim.run, events, error)
            finally:
                waiting = self._dequeued.pop(claim.run, None)
                if waiting is not None:
                    waiting.set()
        return launched

    def _launch_claimed(self, claim: Claim, events: list[run_pb2.RunEvent]) -> None:
        name = claim.run
        if len(events) > 1:  # it went further than run_created: resume it where it stands
            # (a Cancel asked meanwhile with it: a task cancelled before its first step
            # would never run its executor, nor end the run)
            self._resume(name, events, cancel_reason=claim.cancel_reason)
            return
        created = events[0].run_created
        workflow = self.catalog.get(created.workflow_definition, scope=EVERY_TENANT)
        timeout_s, started = queued_run_start(events[0])
        recorder = RunRecorder(self.store, name, next_seq=2)
        if not claim.cancel_reason:
            recorder.emit(run_started=started)
        ctx = RunContext(
            run_id=name.removeprefix(RUN_PREFIX),
            recorder=recorder,
            pool=self.pool,
            run_input=json_format.MessageToDict(created.input),
            outputs={},
            deadline=time.monotonic() + timeout_s,
            cache=self.response_cache,
            last_good=self.last_good_answers,
            coordinator=self.coordinator_address,
        )
        self._launch(name, RunExecutor(workflow, ctx, cancel_reason=claim.cancel_reason or None))

    async def wait_dequeued(self, name: str) -> None:
        """Returns once the run no longer waits in the queue: launched here, running on
        another replica, or finished. SHUTTING_DOWN when the engine stops meanwhile."""
        name = run_name(name)
        pause_s, longest_s = DEQUEUE_POLL_S
        try:
            while name not in self._active:
                if self.queue.stopped:
                    raise shutting_down(
                        f"the orchestrator is shutting down; run {name} stays queued", run=name
                    )
                record = await self.store.get_run_record(name, scope=EVERY_TENANT)
                # PENDING: claimed (here or elsewhere) but not started yet.
                if record is None or record.state not in (
                    run_pb2.RUN_STATE_QUEUED,
                    run_pb2.RUN_STATE_PENDING,
                ):
                    return
                waiting = self._dequeued.setdefault(name, asyncio.Event())
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(pause_s):  # not wait_for: see run_queue
                        await waiting.wait()
                pause_s = min(2 * pause_s, longest_s)
        finally:
            self._dequeued.pop(name, None)  # another waiter of it makes a new one

    async def _cancel_if_queued(self, name: str, reason: str) -> run_pb2.WorkflowRun | None:
        """Cancels a run still in the queue (claims it, then ends it CANCELLED); None when
        it is not queued (any more), for the usual cancel path."""
        record = await self.store.get_run_record(name, scope=EVERY_TENANT)
        if record is None or record.state != run_pb2.RUN_STATE_QUEUED:
            return None
        claim = await self.store.claim_queued_run(name)
        if claim is None:  # claimed meanwhile: cancel it where it starts
            await self.wait_dequeued(name)
            return await self.cancel_run(name, reason, scope=EVERY_TENANT)
        cancel = Claim(name, claim.epoch, cancel_reason=reason or "cancelled by request")
        await self.start_queued([cancel])
        active = self._active.get(name)
        if active is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(active.done)
        return await self.get_run(name, scope=EVERY_TENANT)

    # Definitions and stored runs, for the API: each names its tenant scope --

    def definitions(self, *, scope: TenantScope) -> list[CompiledWorkflow]:
        """Every definition `scope` sees (seeds included), sorted by name."""
        return self.catalog.list(scope=scope)

    def definition(self, name_or_id: str, *, scope: TenantScope) -> CompiledWorkflow:
        """`NotFound` (reason DEFINITION_NOT_FOUND) for an unknown definition, or another
        tenant's."""
        return self.catalog.get(name_or_id, scope=scope)

    async def create_definition(
        self,
        definition: workflow_pb2.WorkflowDefinition,
        *,
        scope: TenantScope,
        validate_only: bool = False,
    ) -> CompiledWorkflow:
        return await self.catalog.create(definition, scope=scope, validate_only=validate_only)

    async def delete_definition(self, name_or_id: str, *, scope: TenantScope) -> None:
        await self.catalog.delete(name_or_id, scope=scope)

    async def list_runs(
        self, run_filter: RunFilter, page_size: int, page_token: str, *, scope: TenantScope
    ) -> tuple[list[RunRecord], str]:
        """Runs matching the filter, newest first; the next token is "" on the last page."""
        return await self.store.list_runs(run_filter, page_size, page_token, scope=scope)

    async def read_events(self, name: str, *, scope: TenantScope) -> list[run_pb2.RunEvent]:
        """The run's history; empty for an unknown run or another tenant's."""
        return await self.store.read_events(run_name(name), scope=scope)

    async def delete_run(self, name: str, *, scope: TenantScope) -> None:
        name = run_name(name)
        if scope.tenant is not None and await self.store.get_run_record(name, scope=scope) is None:
            raise run_not_found(name)
        await self.store.delete_run(name)

    def watch_run(
        self, hub: EventHub, name: str, after_seq: int = 0, *, scope: TenantScope
    ) -> AsyncIterator[run_pb2.RunEvent]:
        """The run's events after `after_seq`, history then live, gap-free (see events);
        NOT_FOUND for another tenant's run."""
        return watch_run(self.store, hub, run_name(name), after_seq, scope=scope)

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
        await self._learn_definitions(histories)
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
        workflow = self.catalog.get(run.workflow_definition, scope=EVERY_TENANT)
        point = resume_point(events, workflow)
        run_input = json_format.MessageToDict(point.run.input)
        remaining_s = (point.run.expire_time.ToNanoseconds() - time.time_ns()) / 1e9
        recorder = RunRecorder(self.store, name, next_seq=events[-1].seq + 1)
        if point.run.state == run_pb2.RUN_STATE_QUEUED:  # claimed, not started: a full timeout
            remaining_s, started = queued_run_start(events[0])
            recorder.emit(run_started=started)
        elif point.run.state == run_pb2.RUN_STATE_PENDING:
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
            coordinator=self.coordinator_address,
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
            completed=point.completed,
            transactions=point.transactions,
            compensation=point.compensation,
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
                record = await self.store.get_run_record(name, scope=EVERY_TENANT)
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

    async def _learn_definitions(
        self, histories: Sequence[list[run_pb2.RunEvent] | BaseException]
    ) -> None:
        """Definitions of runs about to be taken up that another replica created after
        this one started are read from the store first (a failure leaves them unknown:
        those runs then end as they would have)."""
        names = {
            history[0].run_created.workflow_definition
            for history in histories
            if isinstance(history, list) and history
        }
        with contextlib.suppress(Exception):
            await self.catalog.ensure(names)

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
        tasks = [run.task for run in active]
        if tasks:  # asyncio.wait: our own cancellation (a stop) still reaches us
            await asyncio.wait(tasks)
        for task in tasks:
            if not task.cancelled():
                task.exception()  # a crash was logged by the run itself
        return [run.executor.ctx.recorder for run in active]

    async def _cancel_elsewhere(self, name: str, reason: str) -> run_pb2.WorkflowRun:
        """Cancels a run that does not execute here: a queued one is taken out of the
        queue and ends CANCELLED here; one executing on another replica is asked to
        (through the store), and followed until it ends there."""
        for _ in range(3):  # a queued run may leave the queue while we look
            record = await self.store.get_run_record(name, scope=EVERY_TENANT)
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
        return await self.get_run(name, scope=EVERY_TENANT)

    async def stop(self) -> None:
        """Stops every executor without finishing its run: runs resume on the next start."""
        await self.queue.stop()
        for waiting in self._dequeued.values():
            waiting.set()  # their waits end with SHUTTING_DOWN
        active = list(self._active.values())
        for run in active:
            run.executor.shutting_down = True
            run.task.cancel()
        for run in active:
            with contextlib.suppress(asyncio.CancelledError, ShutdownInterrupt):
                await run.task
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await run.executor.ctx.recorder.flush()
