"""A crash never changes a run's outcome.

For each seed workflow, a run with one step failing (each step in turn, required or
optional) runs to the end once, uncrashed. Then every prefix of its history, cut at
each event boundary, is put in a fresh SQLite store as a crashed orchestrator would
have left it, and a real engine resumes it against the real mock mesh: the resumed
run must end exactly as the uncrashed one did (state, error, every step's state,
error and skip reason).

Deterministic by construction: the failing step's backend fails at once with a code
that is never retried and every other call answers after a fixed latency; when the
failing step is required, the steps that are not its ancestors answer only after
the run has ended, so none of them finishes first on one side and not on the other
(a call made again after a restart starts its latency afresh).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from aura.orchestrator.v1 import run_pb2
from mock_services.mesh import MockMesh
from orchestrator.engine import DefinitionCatalog, Engine, RunSpec
from orchestrator.runs import EVERY_TENANT, fold_run
from orchestrator.store import SqliteRunStore
from orchestrator.workflows import seed_definitions
from tests.helpers import eventually
from tests.integration.engine.resume_helpers import (
    StepFaultPool,
    outcome,
    resume_prefix,
    uncrashed_history,
)
from tests.integration.orchestrator_helpers import STYLE_INPUT, struct

pytestmark = pytest.mark.integration

LATENCY_MS = 100
OUTLASTS_THE_RUN = "latency_ms=10000"
FAILS_AT_ONCE = "code=FAILED_PRECONDITION"  # never retried, not a breaker failure


@pytest.fixture
async def pool(mesh: MockMesh) -> AsyncIterator[StepFaultPool]:
    pool = StepFaultPool(mesh, {}, default=f"latency_ms={LATENCY_MS}")
    await pool.start()
    try:
        yield pool
    finally:
        await pool.stop()


def failure_cases() -> list[tuple[str, str, bool]]:
    """(definition, failing step, whether it is optional) for every step of every seed.

    Seeds with a transaction group are left out on purpose: a run crashed before its
    transaction's decision is aborted on resume (presumed abort), so it does not end as
    the uncrashed run; tests/integration/engine/test_transaction_faults.py covers them."""
    return [
        (definition.name.removeprefix("workflowDefinitions/"), step.id, step.optional)
        for definition in seed_definitions()
        if not definition.transactions
        for step in definition.steps
    ]


def case_id(case: tuple[str, str, bool]) -> str:
    definition, step_id, optional = case
    return f"{definition}-{step_id}-{'optional' if optional else 'required'}"


@pytest.mark.parametrize("case", failure_cases(), ids=case_id)
async def test_a_run_resumed_from_any_prefix_of_its_history_ends_as_the_uncrashed_run(
    pool: StepFaultPool, catalog: DefinitionCatalog, tmp_path: Path, case: tuple[str, str, bool]
) -> None:
    definition, failing_step, optional = case
    pool.faults = {failing_step: FAILS_AT_ONCE}
    if not optional:
        ancestors = _ancestors(catalog, definition, failing_step)
        for step_id in catalog.get(definition, scope=EVERY_TENANT).steps:
            if step_id != failing_step and step_id not in ancestors:
                pool.faults[step_id] = OUTLASTS_THE_RUN
    history = await uncrashed_history(pool, catalog, tmp_path / "uncrashed.db", definition)
    expected = outcome(fold_run(history))
    assert expected[0] == ("RUN_STATE_PARTIALLY_SUCCEEDED" if optional else "RUN_STATE_FAILED")

    resumed = await asyncio.gather(
        *(
            resume_prefix(pool, catalog, tmp_path / f"crashed-{k}.db", history[:k])
            for k in range(1, len(history))
        )
    )
    for k, (run, events) in enumerate(resumed, start=1):
        last = history[k - 1].WhichOneof("event")
        assert outcome(run) == expected, f"resumed after event {k} ({last})"
        assert [e.seq for e in events] == list(range(1, len(events) + 1))
        assert [e.HasField("run_finished") for e in events].count(True) == 1


async def test_a_run_cancelled_by_request_still_ends_cancelled_when_resumed_mid_cancel(
    pool: StepFaultPool, catalog: DefinitionCatalog, tmp_path: Path
) -> None:
    pool.faults = {"image": "latency_ms=30000"}
    async with SqliteRunStore(tmp_path / "uncrashed.db") as store:
        engine = Engine(store, pool, catalog)
        run, _ = await engine.start_run(RunSpec("complete_style_analysis", struct(STYLE_INPUT)))
        await _until(store, run.name, lambda e: e.HasField("step_succeeded"))
        await engine.cancel_run(run.name, "user changed their mind", scope=EVERY_TENANT)
        history = await store.read_events(run.name, scope=EVERY_TENANT)
    expected = outcome(fold_run(history))
    assert expected[0] == "RUN_STATE_CANCELLED"
    first_cancel = next(k for k, e in enumerate(history) if e.HasField("step_cancelled"))

    # Before the first StepCancelled the cancellation was not durable (and not
    # acknowledged): only prefixes holding some of it must end cancelled.
    for k in range(first_cancel + 1, len(history)):
        resumed, _ = await resume_prefix(pool, catalog, tmp_path / f"crashed-{k}.db", history[:k])
        assert outcome(resumed) == expected, f"resumed after event {k}"


def _ancestors(catalog: DefinitionCatalog, definition: str, step_id: str) -> set[str]:
    steps = catalog.get(definition, scope=EVERY_TENANT).steps
    found: set[str] = set()
    todo = list(steps[step_id].deps)
    while todo:
        dep = todo.pop()
        if dep not in found:
            found.add(dep)
            todo.extend(steps[dep].deps)
    return found


async def _until(
    store: SqliteRunStore, name: str, seen: Callable[[run_pb2.RunEvent], bool]
) -> None:
    async def present() -> bool:
        return any(seen(e) for e in await store.read_events(name, scope=EVERY_TENANT))

    await eventually(present, timeout_s=10)
