"""Contract, both stores: queued creation and claims from the queue, highest priority
first, then oldest, within per-definition concurrency limits.

The run queue on SQLite is built separately: until it exists SQLite refuses a queued
creation with NotImplementedError, and these tests skip there, saying so.
"""

from __future__ import annotations

import pytest

from aura.orchestrator.v1 import run_pb2
from orchestrator.runs import EVERY_TENANT
from orchestrator.store import RunStore
from tests.unit.store.run_events import T0, created, started

pytestmark = pytest.mark.integration


async def queue(
    store: RunStore, run_id: str, *, at: float = T0, priority: int = 0, definition: str = "demo"
) -> None:
    event = created(run_id, at=at)
    event.run_created.workflow_definition = f"workflowDefinitions/{definition}"
    try:
        future = store.create_run(event, queued=True, priority=priority)
    except NotImplementedError as error:
        pytest.skip(f"this store has no run queue yet ({error})")
    assert await future == (event.run, True)


async def test_a_queued_run_waits_unowned_and_is_counted(store: RunStore) -> None:
    await queue(store, "q1")
    await store.create_run(created("r1"))

    record = await store.get_run_record("workflowRuns/q1", scope=EVERY_TENANT)
    assert record is not None and record.state == run_pb2.RUN_STATE_QUEUED
    assert await store.queue_depth() == 1
    assert await store.unfinished_runs() == ["workflowRuns/r1"]  # not the queued one


async def test_claims_take_the_highest_priority_first_then_the_oldest(store: RunStore) -> None:
    await queue(store, "low-old", at=T0, priority=0)
    await queue(store, "high-old", at=T0 + 1, priority=5)
    await queue(store, "low-new", at=T0 + 2, priority=0)
    await queue(store, "high-new", at=T0 + 3, priority=5)

    claims = await store.claim_queued(3, {})

    assert [claim.run for claim in claims] == [
        "workflowRuns/high-old",
        "workflowRuns/high-new",
        "workflowRuns/low-old",
    ]
    assert await store.queue_depth() == 1
    record = await store.get_run_record("workflowRuns/high-old", scope=EVERY_TENANT)
    assert record is not None and record.state == run_pb2.RUN_STATE_PENDING
    assert set(await store.unfinished_runs()) == {claim.run for claim in claims}
    assert [claim.run for claim in await store.claim_queued(10, {})] == ["workflowRuns/low-new"]
    assert await store.claim_queued(10, {}) == []


async def test_a_claimed_run_takes_its_events(store: RunStore) -> None:
    await queue(store, "q1")
    [claim] = await store.claim_queued(1, {})

    await store.append([started("q1")])

    record = await store.get_run_record(claim.run, scope=EVERY_TENANT)
    assert record is not None and (record.state, record.last_seq) == (run_pb2.RUN_STATE_RUNNING, 2)


async def test_a_concurrency_limit_leaves_runs_of_a_busy_definition_queued(store: RunStore) -> None:
    await store.create_run(created("running"))  # one unfinished run of demo already
    for index in range(3):
        await queue(store, f"demo{index}", at=T0 + index)
    await queue(store, "other", at=T0 + 5, definition="other")

    claims = await store.claim_queued(10, {"workflowDefinitions/demo": 2})

    assert [claim.run for claim in claims] == ["workflowRuns/demo0", "workflowRuns/other"]
    assert await store.queue_depth() == 2
    assert await store.claim_queued(10, {"workflowDefinitions/demo": 2}) == []
    await store.append([started("running")])
    await store.append([started("demo0")])
    assert await store.claim_queued(10, {"workflowDefinitions/demo": 3}) != []


async def test_one_queued_run_is_claimed_by_name_once(store: RunStore) -> None:
    await queue(store, "q1")
    await queue(store, "q2")

    claim = await store.claim_queued_run("workflowRuns/q2")

    assert claim is not None and claim.run == "workflowRuns/q2"
    assert await store.claim_queued_run("workflowRuns/q2") is None
    assert await store.claim_queued_run("workflowRuns/unknown") is None
    assert await store.queue_depth() == 1
