"""Runs one step of a run: deadline per attempt, retries, one event per attempt."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.protobuf.message import Message
from google.rpc import status_pb2

from aura.orchestrator.v1 import run_pb2
from orchestrator.engine.backoff import backoff_delay_s
from orchestrator.engine.recorder import RunRecorder
from orchestrator.errors import AuraError
from orchestrator.mesh import BackendCallError, BackendPool, code_of, status_of
from orchestrator.workflows import CompiledStep

IDEMPOTENCY_KEY_HEADER = "aura-idempotency-key"
# Left for the response to travel back before the run's deadline passes.
DEADLINE_MARGIN_S = 0.005
NEVER_RETRIED = frozenset(
    {grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED}
)


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


@dataclass(frozen=True)
class StepOutcome:
    state: int  # run_pb2.StepState
    error: status_pb2.Status | None = None


def _duration(seconds: float) -> duration_pb2.Duration:
    value = duration_pb2.Duration()
    value.FromNanoseconds(int(seconds * 1e9))
    return value


async def run_step(step: CompiledStep, ctx: RunContext) -> StepOutcome:
    """Calls the step's method until it succeeds, fails for good, or the deadline passes."""
    recorder = ctx.recorder
    try:
        request = step.build_request(ctx.run_input, ctx.outputs)
    except AuraError as error:
        status = status_of(error.code, error.message)
        recorder.emit(step_failed=run_pb2.StepFailed(step_id=step.id, attempt=0, error=status))
        return StepOutcome(run_pb2.STEP_STATE_FAILED, status)

    metadata = ((IDEMPOTENCY_KEY_HEADER, f"{ctx.run_id}/{step.id}"),)
    attempt = 0
    while True:
        attempt += 1
        remaining = ctx.deadline - ctx.clock() - DEADLINE_MARGIN_S
        if remaining <= 0:
            status = status_of(
                grpc.StatusCode.DEADLINE_EXCEEDED,
                f"run deadline passed before attempt {attempt} of step {step.id}",
            )
            recorder.emit(
                step_failed=run_pb2.StepFailed(step_id=step.id, attempt=attempt - 1, error=status)
            )
            return StepOutcome(run_pb2.STEP_STATE_FAILED, status)
        timeout_s = min(step.timeout_s, remaining)
        recorder.emit(
            step_started=run_pb2.StepStarted(
                step_id=step.id, attempt=attempt, timeout=_duration(timeout_s)
            )
        )
        started = time.perf_counter()
        try:
            response = await ctx.pool.invoke(
                service=step.method.service,
                path=step.method.path,
                request=request,
                response_class=step.method.response_class,
                timeout_s=timeout_s,
                metadata=metadata,
            )
        except BackendCallError as error:
            status = error.status
        except AuraError as error:
            status = status_of(error.code, error.message)
        else:
            latency = time.perf_counter() - started
            ctx.outputs[step.id] = response
            output = any_pb2.Any()
            output.Pack(response)
            recorder.emit(
                step_succeeded=run_pb2.StepSucceeded(
                    step_id=step.id, attempt=attempt, output=output, latency=_duration(latency)
                )
            )
            return StepOutcome(run_pb2.STEP_STATE_SUCCEEDED)

        code = code_of(status)
        retryable = code in step.retry.retryable_codes and code not in NEVER_RETRIED
        if retryable and attempt < step.retry.max_attempts:
            delay_s = backoff_delay_s(step.retry, attempt)
            if ctx.clock() + delay_s < ctx.deadline - DEADLINE_MARGIN_S:
                recorder.emit(
                    step_attempt_failed=run_pb2.StepAttemptFailed(
                        step_id=step.id, attempt=attempt, error=status, backoff=_duration(delay_s)
                    )
                )
                await asyncio.sleep(delay_s)
                continue
        recorder.emit(
            step_failed=run_pb2.StepFailed(step_id=step.id, attempt=attempt, error=status)
        )
        return StepOutcome(run_pb2.STEP_STATE_FAILED, status)
