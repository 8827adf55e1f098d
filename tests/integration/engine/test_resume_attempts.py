"""Attempts survive a restart, and an attempt starts when its call goes out.

Attempt numbers never repeat within a run; the retry limit counts the attempts
whose failure was recorded before the crash (an attempt the crash cut off has no
outcome and is made again, under the next number). StepStarted is recorded when
the call is dispatched to a replica, not while it waits for a bulkhead slot.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from aura.orchestrator.v1 import run_pb2
from mock_services.mesh import MockMesh
from orchestrator.engine import DefinitionCatalog, Engine, RunSpec
from orchestrator.resilience import ServicePolicy
from orchestrator.runs import EVERY_TENANT, fold_run
from orchestrator.store import SqliteRunStore
from tests.helpers import eventually
from tests.integration.engine.resume_helpers import StepFaultPool, resume_prefix, uncrashed_history
from tests.integration.orchestrator_helpers import STYLE_INPUT, struct

pytestmark = pytest.mark.integration

STYLE = "aura.style.v1.StyleProfileService"


@pytest.fixture
async def pool(mesh: MockMesh) -> AsyncIterator[StepFaultPool]:
    # profile (3 attempts, ABORTED retried, not a breaker failure) always fails.
    pool = StepFaultPool(mesh, {"profile": "code=ABORTED"})
    await pool.start()
    try:
        yield pool
    finally:
        await pool.stop()


def _cut_after(history: list[run_pb2.RunEvent], wanted: Callable[[run_pb2.RunEvent], bool]) -> int:
    return next(k for k, event in enumerate(history, start=1) if wanted(event))


def _profile_attempts(events: list[run_pb2.RunEvent]) -> list[int]:
    return [
        e.step_started.attempt
        for e in events
        if e.HasField("step_started") and e.step_started.step_id == "profile"
    ]


@pytest.mark.parametrize(
    ("cut", "calls_after_resume", "last_attempt"),
    [
        # Attempt 1 failed, attempt 2 was in flight: 2 was cut off, so two more go out
        # (3 and 4), which makes three attempts with an outcome, the limit.
        ("step_started", 2, 4),
        # Attempts 1 and 2 failed, the backoff was running: one attempt is left.
        ("step_attempt_failed", 1, 3),
    ],
)
async def test_attempt_numbers_go_on_and_the_retry_limit_counts_attempts_before_the_crash(
    pool: StepFaultPool,
    catalog: DefinitionCatalog,
    mesh: MockMesh,
    tmp_path: Path,
    cut: str,
    calls_after_resume: int,
    last_attempt: int,
) -> None:
    history = await uncrashed_history(
        pool, catalog, tmp_path / "uncrashed.db", "complete_style_analysis"
    )
    assert _profile_attempts(history) == [1, 2, 3]
    k = _cut_after(
        history,
        lambda e: (
            getattr(getattr(e, cut), "step_id", "") == "profile" and getattr(e, cut).attempt == 2
        ),
    )
    calls_before = mesh["style"].calls["BuildStyleProfile"]

    run, events = await resume_prefix(pool, catalog, tmp_path / "crashed.db", history[:k])

    attempts = _profile_attempts(events)
    assert attempts == list(range(1, last_attempt + 1)), "attempt numbers never repeat"
    assert mesh["style"].calls["BuildStyleProfile"] - calls_before == calls_after_resume
    failed = next(e.step_failed for e in events if e.HasField("step_failed"))
    assert (failed.step_id, failed.attempt) == ("profile", last_attempt)
    assert run.state == run_pb2.RUN_STATE_FAILED
    profile = next(s for s in fold_run(events).steps if s.step_id == "profile")
    assert profile.attempts == last_attempt


async def test_step_started_is_recorded_when_the_call_is_dispatched_not_while_it_waits_for_a_slot(
    mesh: MockMesh, catalog: DefinitionCatalog, tmp_path: Path
) -> None:
    one_call_at_a_time = ServicePolicy(max_in_flight=1)
    pool = StepFaultPool(
        mesh,
        {"profile": "latency_ms=400"},
        policy_for=lambda service: one_call_at_a_time if service == STYLE else ServicePolicy(),
    )
    await pool.start()
    try:
        async with SqliteRunStore(tmp_path / "runs.db") as store:
            engine = Engine(store, pool, catalog)
            first, _ = await engine.start_run(RunSpec("outfit_recommendation", struct(STYLE_INPUT)))
            await eventually(lambda: mesh["style"].in_flight == 1, timeout_s=10)
            second, _ = await engine.start_run(
                RunSpec("outfit_recommendation", struct(STYLE_INPUT))
            )

            async def second_run_waits_for_the_slot() -> bool:
                events = await store.read_events(second.name, scope=EVERY_TENANT)
                # Its other steps went out; its profile call waits for the slot.
                return sum(e.HasField("step_succeeded") for e in events) >= 2

            await eventually(second_run_waits_for_the_slot, timeout_s=10)
            assert mesh["style"].in_flight == 1
            assert "profile" not in _started(
                await store.read_events(second.name, scope=EVERY_TENANT)
            )

            finished = await asyncio.gather(
                engine.wait_finished(first.name), engine.wait_finished(second.name)
            )
            assert [run.state for run in finished] == [run_pb2.RUN_STATE_SUCCEEDED] * 2
            first_events = await store.read_events(first.name, scope=EVERY_TENANT)
            second_events = await store.read_events(second.name, scope=EVERY_TENANT)
    finally:
        await pool.stop()

    first_done = next(
        e
        for e in first_events
        if e.HasField("step_succeeded") and e.step_succeeded.step_id == "profile"
    )
    second_started = _started(second_events)["profile"]
    assert second_started.time.ToNanoseconds() >= first_done.time.ToNanoseconds()
    # Its deadline is what was left after the wait (the step's timeout is 2 s).
    assert second_started.step_started.timeout.ToNanoseconds() < 1.8e9


def _started(events: list[run_pb2.RunEvent]) -> dict[str, run_pb2.RunEvent]:
    return {e.step_started.step_id: e for e in events if e.HasField("step_started")}
