"""Runs one step of a run: cache, deadline budget per attempt, retries, one event per attempt.

The backend is invoked in exactly one place, `_call_backend`; everything around
it is bookkeeping: the response cache before the first attempt, the deadline
budget before each attempt, and after a failure the retry decision (policy,
server pushback, the service's retry budget, time left).

A step with a fallback that fails UNAVAILABLE for good (its service down or
unreachable, its circuit open: after the retries its policy allows) records that
last failure as a `StepAttemptFailed` and falls back: on the last good answer to
the same request (no call; the `StepSucceeded` says LAST_GOOD_ANSWER and its age),
or on another method, called once as one more attempt. Any other error, such as
INVALID_ARGUMENT, fails the step as before, and so does a fallback that cannot
answer, with the step's own error.

Every attempt records one `StepStarted`, when its call is dispatched to a replica
(not while it waits for a bulkhead slot). An attempt the mesh refuses before
dispatch (open circuit, full bulkhead, no replica admitting it) is an attempt all
the same: it counts against `max_attempts`, and records its `StepStarted` when it
is refused, followed at once by its failure, whose reason says no call was made.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf.message import Message
from google.rpc import code_pb2, status_pb2

from aura.orchestrator.v1 import run_pb2
from orchestrator.engine.recorder import RunRecorder
from orchestrator.errors import AuraError
from orchestrator.mesh import Answer, BackendCallError, BackendPool, ServiceState, code_of
from orchestrator.proto_time import duration_of
from orchestrator.resilience import (
    DEADLINE_BUDGET_SPENT,
    AttemptBudget,
    DeadlineBudget,
    ResponseCache,
    RetryDecision,
    RetrySpec,
    backoff_delay_s,
    cache_key,
    decide_retry,
    error_reason,
    orchestrator_status,
)
from orchestrator.resilience.deadline import DEFAULT_MARGIN_S
from orchestrator.telemetry import record_attempt_failure, step_attempt_span, tracing_on
from orchestrator.telemetry.tracing import current_step
from orchestrator.workflows import (
    CompiledStep,
    FallbackMethod,
    LastGoodAnswer,
    MethodInfo,
)
from orchestrator.workflows.fallbacks import MAX_LAST_GOOD_AGE_S

IDEMPOTENCY_KEY_HEADER = "aura-idempotency-key"
CacheKey = tuple[str, bytes]  # a request's key in the response cache (`cache_key`)
# Left for the response to travel back before the run's deadline passes.
DEADLINE_MARGIN_S = DEFAULT_MARGIN_S


# What `Any.Pack` puts before a message type's full name.
ANY_TYPE_URL_PREFIX = "type.googleapis.com/"


@dataclass
class RunContext:
    """What every step of one run shares."""

    run_id: str
    recorder: RunRecorder
    pool: BackendPool
    run_input: Mapping[str, Any]
    outputs: dict[str, Message]
    deadline: float  # time.monotonic() value
    clock: Callable[[], float] = time.monotonic
    caller_deadline: float | None = None
    """The deadline of the client waiting for the run (ExecuteWorkflowRun), same clock."""
    cache: ResponseCache | None = None
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    admitted: asyncio.Future[None] | None = None
    """Resolves once the run's creation is committed; no backend is called before."""
    last_good: ResponseCache | None = None
    """The good answers of steps whose fallback is the last good answer, by request."""
    coordinator: str = ""
    """host:port of this orchestrator's API, for in-doubt transaction participants."""


@dataclass(frozen=True)
class PriorAttempts:
    """A step's attempts before a restart, folded from its history.

    Attempt numbers go on after `last_number`, so none repeats within a run. The
    retry limit counts the `failed` attempts, those whose failure was recorded: an
    attempt the restart cut off has no outcome, and is made again in its place
    (under the next number).
    """

    last_number: int = 0
    failed: int = 0
    backoff_left_s: float = 0.0
    """What is left of the backoff the last recorded failure asked for."""


NO_PRIOR_ATTEMPTS = PriorAttempts()


@dataclass(frozen=True)
class StepOutcome:
    state: int  # run_pb2.StepState
    error: status_pb2.Status | None = None


@dataclass(frozen=True)
class _AttemptFailure:
    status: status_pb2.Status
    pushback_s: float | None
    reached_backend: bool


def build_request(step: CompiledStep, ctx: RunContext) -> Message | AuraError:
    """The step's request from the run input and earlier outputs (copied in), or why not."""
    try:
        return step.build_request(ctx.run_input, ctx.outputs)
    except AuraError as error:
        return error


def build_fallback_request(step: CompiledStep, ctx: RunContext) -> Message | AuraError | None:
    """The request of the step's fallback method, built with the step's own (the outputs
    it reads may be let go once the step has started); None without a fallback method."""
    if not isinstance(step.fallback, FallbackMethod):
        return None
    try:
        return step.fallback.build_request(ctx.run_input, ctx.outputs)
    except AuraError as error:
        return error


async def run_step(
    step: CompiledStep,
    ctx: RunContext,
    request: Message | AuraError,
    prior: PriorAttempts = NO_PRIOR_ATTEMPTS,
    fallback_request: Message | AuraError | None = None,
) -> StepOutcome:
    """Calls the step's method with `request` (from `build_request`) until it succeeds,
    fails for good, or the deadline passes. `prior`: its attempts before a restart;
    `fallback_request`: from `build_fallback_request`.

    Runs as a task of its own, so the log context it sets is the step's alone.
    """
    current_step.set(step.id)
    try:
        if isinstance(request, AuraError):
            raise request
        service = ctx.pool.service(step.method.service)
    except AuraError as error:  # its reason, metadata and field violations are kept
        return _fail(step, ctx, error.to_status(), attempt=prior.last_number)
    key = _cache_key(step, ctx, request)
    cached = _cached_answer(step, ctx, key)
    if cached is not None:
        return cached
    return await _attempt_until_done(step, ctx, service, request, key, prior, fallback_request)


def _cache_key(step: CompiledStep, ctx: RunContext, request: Message) -> CacheKey | None:
    """The step's key in the response cache; None when its answers are not cached."""
    if ctx.cache is None or not step.cache_ttl_s:
        return None
    return cache_key(step.method.path, request)


def _cached_answer(step: CompiledStep, ctx: RunContext, key: CacheKey | None) -> StepOutcome | None:
    """The step's success from a cached answer, before any attempt; None on a miss."""
    if key is None or ctx.cache is None:
        return None
    cached = ctx.cache.get(key, step.method.response_class)
    if cached is None:
        return None
    return _succeed(step, ctx, cached, 0, 0.0, run_pb2.CACHE_RESULT_HIT)


async def _attempt_until_done(
    step: CompiledStep,
    ctx: RunContext,
    service: ServiceState,
    request: Message,
    key: CacheKey | None,
    prior: PriorAttempts,
    fallback_request: Message | AuraError | None,
) -> StepOutcome:
    """Attempt after attempt, each within the deadline budget, until one succeeds or the
    retry decision says no more; then the fallback, if the step has one and may use it."""
    policy = step.retry if step.retry_declared else service.policy.retry
    budget = DeadlineBudget(ctx.deadline, ctx.caller_deadline, clock=ctx.clock)
    attempt = prior.last_number
    counted = prior.failed  # attempts that count against max_attempts
    retry_number = prior.failed
    if prior.backoff_left_s > 0:
        await ctx.sleep(prior.backoff_left_s)
    while True:
        attempt += 1
        counted += 1
        slot = budget.for_attempt(step.timeout_s)
        if slot.spent:
            return _fail(step, ctx, _budget_spent(step, slot, attempt), attempt=attempt - 1)
        result, dispatched_at = await _one_attempt(step, ctx, request, attempt, slot)
        if not isinstance(result, _AttemptFailure):
            return _record_success(step, ctx, service, request, key, result, attempt, dispatched_at)
        decision = _retry_decision(result, policy, service, counted, retry_number, budget)
        if not decision.retry:
            if step.fallback is not None and code_of(result.status) is grpc.StatusCode.UNAVAILABLE:
                return await _fall_back(
                    step, ctx, request, fallback_request, result, attempt, budget
                )
            return _fail(step, ctx, result.status, attempt, retry_throttled=decision.throttled)
        ctx.recorder.emit(
            step_attempt_failed=run_pb2.StepAttemptFailed(
                step_id=step.id,
                attempt=attempt,
                error=result.status,
                backoff=duration_of(decision.delay_s),
            )
        )
        await ctx.sleep(decision.delay_s)
        # gRFC A6: after a server pushback the backoff sequence starts over.
        retry_number = 0 if decision.pushed_back else retry_number + 1


def _budget_spent(step: CompiledStep, slot: AttemptBudget, attempt: int) -> status_pb2.Status:
    return orchestrator_status(
        code_pb2.DEADLINE_EXCEEDED,
        f"the {slot.bound_by}'s deadline passed before attempt {attempt} of step {step.id}",
        reason=DEADLINE_BUDGET_SPENT,
        metadata={"bound_by": slot.bound_by},
    )


async def _one_attempt(
    step: CompiledStep, ctx: RunContext, request: Message, attempt: int, slot: AttemptBudget
) -> tuple[Answer | _AttemptFailure, float | None]:
    """One call of the step's method (in its attempt span when tracing): its answer or
    failure, and when it was dispatched (time.perf_counter(); None if refused before)."""
    if ctx.admitted is not None:
        await ctx.admitted
    start = _AttemptStart(step.id, ctx, attempt, slot.timeout_s)
    own_deadline = slot.bound_by == "step"
    if tracing_on():
        with step_attempt_span(ctx.run_id, step.id, attempt, step.method.full_name) as span:
            result = await _call_backend(
                step.method, step.id, ctx, request, slot.timeout_s, own_deadline, start
            )
            if isinstance(result, _AttemptFailure):
                record_attempt_failure(span, result.status)
    else:
        result = await _call_backend(
            step.method, step.id, ctx, request, slot.timeout_s, own_deadline, start
        )
    dispatched_at = start.recorded_at
    start()  # refused before dispatch: the attempt is recorded now, just before its failure
    return result, dispatched_at


def _record_success(
    step: CompiledStep,
    ctx: RunContext,
    service: ServiceState,
    request: Message,
    key: CacheKey | None,
    answer: Answer,
    attempt: int,
    dispatched_at: float | None,
) -> StepOutcome:
    """The step's success from its method's answer, kept for the cache and last-good."""
    response = answer.message
    service.retry_throttle.record_success()
    if key is not None and ctx.cache is not None and step.cache_ttl_s:
        ctx.cache.put(key, response, step.cache_ttl_s)
    if isinstance(step.fallback, LastGoodAnswer) and ctx.last_good is not None:
        good_key = key or cache_key(step.method.path, request)
        ctx.last_good.put(good_key, response, MAX_LAST_GOOD_AGE_S)
    cache_result = run_pb2.CACHE_RESULT_MISS if key else run_pb2.CACHE_RESULT_UNSPECIFIED
    latency_s = time.perf_counter() - (dispatched_at or time.perf_counter())
    return _succeed(step, ctx, response, attempt, latency_s, cache_result, wire=answer.wire)


def _retry_decision(
    failure: _AttemptFailure,
    policy: RetrySpec,
    service: ServiceState,
    counted: int,
    retry_number: int,
    budget: DeadlineBudget,
) -> RetryDecision:
    """Whether (and after what delay) a failed attempt is made again: policy, server
    pushback, the service's retry budget (which the failure feeds) and time left."""
    code = code_of(failure.status)
    if failure.reached_backend and code in policy.retryable_codes:
        service.retry_throttle.record_failure()
    return decide_retry(
        code=code,
        reason=error_reason(failure.status),
        retryable_codes=policy.retryable_codes,
        attempt=counted,
        max_attempts=policy.max_attempts,
        backoff_s=backoff_delay_s(policy, retry_number + 1),
        pushback_s=failure.pushback_s,
        throttle_allows=service.retry_throttle.allows_retry(),
        time_left_s=budget.time_left_s(),
    )


class _AttemptStart:
    """Records an attempt's `StepStarted` once: the mesh calls it as the RPC is dispatched
    (`on_dispatch`); for an attempt refused before dispatch the step runner calls it."""

    __slots__ = ("_attempt", "_began", "_ctx", "_step_id", "_timeout_s", "recorded_at")

    def __init__(self, step_id: str, ctx: RunContext, attempt: int, timeout_s: float) -> None:
        self._step_id = step_id
        self._ctx = ctx
        self._attempt = attempt
        self._timeout_s = timeout_s
        self._began = ctx.clock()
        self.recorded_at: float | None = None
        """time.perf_counter() when recorded."""

    def __call__(self) -> None:
        if self.recorded_at is not None:
            return
        self.recorded_at = time.perf_counter()
        # The deadline the call goes out with: the slot's, less the wait for a bulkhead slot.
        timeout_s = max(0.0, self._timeout_s - (self._ctx.clock() - self._began))
        self._ctx.recorder.emit(
            step_started=run_pb2.StepStarted(
                step_id=self._step_id, attempt=self._attempt, timeout=duration_of(timeout_s)
            )
        )


async def _fall_back(
    step: CompiledStep,
    ctx: RunContext,
    request: Message,
    fallback_request: Message | AuraError | None,
    failure: _AttemptFailure,
    attempt: int,
    budget: DeadlineBudget,
) -> StepOutcome:
    """After the step's last attempt failed UNAVAILABLE: its fallback's answer, or the
    step's failure with that attempt's error (the message says why nothing fell in)."""
    ctx.recorder.emit(
        step_attempt_failed=run_pb2.StepAttemptFailed(
            step_id=step.id, attempt=attempt, error=failure.status, backoff=duration_of(0.0)
        )
    )
    fallback = step.fallback
    if isinstance(fallback, LastGoodAnswer):
        found = None
        if ctx.last_good is not None:
            found = ctx.last_good.get_within(
                cache_key(step.method.path, request), step.method.response_class, fallback.max_age_s
            )
        if found is None:
            why = f"no answer to the same request within {fallback.max_age_s:g}s to fall back on"
            return _fail(step, ctx, _amended(failure.status, why), attempt)
        answer, age_s = found
        return _succeed(
            step,
            ctx,
            answer,
            attempt,
            0.0,
            run_pb2.CACHE_RESULT_UNSPECIFIED,
            answered_by=run_pb2.ANSWERED_BY_LAST_GOOD_ANSWER,
            answered_by_method=step.method.full_name,
            answer_age_s=age_s,
        )
    assert isinstance(fallback, FallbackMethod)
    name = fallback.method.full_name
    if not isinstance(fallback_request, Message):
        why = f"fallback {name} has no request: {fallback_request}"
        return _fail(step, ctx, _amended(failure.status, why), attempt)
    slot = budget.for_attempt(fallback.timeout_s)
    if slot.spent:
        why = f"no time left for fallback {name}"
        return _fail(step, ctx, _amended(failure.status, why), attempt)
    attempt += 1
    start = _AttemptStart(step.id, ctx, attempt, slot.timeout_s)
    result = await _call_backend(
        fallback.method,
        step.id,
        ctx,
        fallback_request,
        slot.timeout_s,
        slot.bound_by == "step",
        start,
    )
    dispatched_at = start.recorded_at
    start()
    if isinstance(result, _AttemptFailure):
        status = result.status
        why = f"fallback {name} failed too: {code_of(status).name}: {status.message}"
        return _fail(step, ctx, _amended(failure.status, why), attempt)
    latency_s = time.perf_counter() - (dispatched_at or time.perf_counter())
    return _succeed(
        step,
        ctx,
        fallback.as_step_response(result.message, step.method.response_class),
        attempt,
        latency_s,
        run_pb2.CACHE_RESULT_UNSPECIFIED,
        answered_by=run_pb2.ANSWERED_BY_FALLBACK_METHOD,
        answered_by_method=name,
    )


def _amended(status: status_pb2.Status, why: str) -> status_pb2.Status:
    """`status` (code and details kept) with `why` added to its message."""
    amended = status_pb2.Status()
    amended.CopyFrom(status)
    amended.message = f"{status.message}; {why}"
    return amended


async def _call_backend(
    method: MethodInfo,
    step_id: str,
    ctx: RunContext,
    request: Message,
    timeout_s: float,
    own_deadline: bool,
    on_dispatch: Callable[[], None],
) -> Answer | _AttemptFailure:
    """The one place a step reaches its backend (its method, or its fallback method): one
    attempt, its response or its failure."""
    try:
        return await ctx.pool.invoke(
            service=method.service,
            path=method.path,
            request=request,
            response_class=method.response_class,
            timeout_s=timeout_s,
            metadata=((IDEMPOTENCY_KEY_HEADER, f"{ctx.run_id}/{step_id}"),),
            deadline_was_own=own_deadline,
            on_dispatch=on_dispatch,
        )
    except BackendCallError as error:  # the backend's status, its own details kept
        return _AttemptFailure(
            error.to_status(), error.pushback_s, reached_backend=bool(error.endpoint)
        )
    except AuraError as error:
        return _AttemptFailure(error.to_status(), None, reached_backend=False)


def _succeed(
    step: CompiledStep,
    ctx: RunContext,
    response: Message,
    attempt: int,
    latency_s: float,
    cache_result: int,
    *,
    answered_by: int = run_pb2.ANSWERED_BY_PRIMARY,
    answered_by_method: str = "",
    answer_age_s: float | None = None,
    wire: bytes | None = None,
) -> StepOutcome:
    """`wire`: the bytes `response` arrived as, stored as they are (no second serialization)."""
    ctx.outputs[step.id] = response
    succeeded = run_pb2.StepSucceeded(
        step_id=step.id,
        attempt=attempt,
        latency=duration_of(latency_s),
        cache_result=cache_result,  # type: ignore[arg-type]
        answered_by=answered_by,  # type: ignore[arg-type]
        answered_by_method=answered_by_method,
    )
    if wire is None:
        succeeded.output.Pack(response)
    else:
        output = succeeded.output
        output.type_url = ANY_TYPE_URL_PREFIX + response.DESCRIPTOR.full_name
        output.value = wire
    if answer_age_s is not None:
        succeeded.answer_age.CopyFrom(duration_of(answer_age_s))
    ctx.recorder.emit(step_succeeded=succeeded)
    return StepOutcome(run_pb2.STEP_STATE_SUCCEEDED)


def _fail(
    step: CompiledStep,
    ctx: RunContext,
    status: status_pb2.Status,
    attempt: int,
    *,
    retry_throttled: bool = False,
) -> StepOutcome:
    ctx.recorder.emit(
        step_failed=run_pb2.StepFailed(
            step_id=step.id, attempt=attempt, error=status, retry_throttled=retry_throttled
        )
    )
    return StepOutcome(run_pb2.STEP_STATE_FAILED, status)
