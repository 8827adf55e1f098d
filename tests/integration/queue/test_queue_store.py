"""The run queue of a store: queued creation, claims in order under concurrency limits,
one run's claim, the depth, and what a restart resumes (queued runs are not resumed)."""

from __future__ import annotations

import asyncio

import pytest

from aura.orchestrator.v1 import run_pb2
from orchestrator.runs import EVERY_TENANT
from orchestrator.store import EventSequenceConflict, RunStore
from tests.integration.queue.queue_helpers import StoreFactory

pytestmark = pytest.mark.integration

A = "workflowDefinitions/a"
B = "workflowDefinitions/b"
_clock = [1_767_225_600 * 10**9]


def created(run_id: str, definition: str = A, *, queued: bool = True) -> run_pb2.RunEvent:
    event = run_pb2.RunEvent(
        run=f"workflowRuns/{run_id}",
        seq=1,
        run_created={"workflow_definition": definition, "queued": queued},
    )
    _clock[0] += 1000  # distinct, increasing creation times
    event.time.FromNanoseconds(_clock[0])
    return event


def event(run_id: str, seq: int, **kind: object) -> run_pb2.RunEvent:
    built = run_pb2.RunEvent(run=f"workflowRuns/{run_id}", seq=seq, **kind)  # type: ignore[arg-type]
    built.time.FromNanoseconds(_clock[0])
    return built


async def enqueue(store: RunStore, run_id: str, definition: str = A, priority: int = 0) -> None:
    await store.create_run(created(run_id, definition), queued=True, priority=priority)


def names(*run_ids: str) -> list[str]:
    return [f"workflowRuns/{run_id}" for run_id in run_ids]


async def claimed(store: RunStore, limit: int, **limits: int) -> list[str]:
    concurrency = {f"workflowDefinitions/{d}": n for d, n in limits.items()}
    return [claim.run for claim in await store.claim_queued(limit, concurrency)]


async def test_a_queued_run_is_stored_queued_and_counted(queue_store: RunStore) -> None:
    await enqueue(queue_store, "q1")
    await queue_store.create_run(created("direct", queued=False))

    record = await queue_store.get_run_record("workflowRuns/q1", scope=EVERY_TENANT)
    assert record is not None and record.state == run_pb2.RUN_STATE_QUEUED
    assert await queue_store.queue_depth() == 1
    assert await queue_store.unfinished_runs() == names("direct"), "queued runs are not resumed"


async def test_claims_take_the_highest_priority_first_and_the_oldest_within_one(
    queue_store: RunStore,
) -> None:
    for run_id, priority in [("low1", -5), ("mid1", 0), ("high1", 9), ("mid2", 0), ("high2", 9)]:
        await enqueue(queue_store, run_id, priority=priority)

    first = await claimed(queue_store, 3)
    rest = await claimed(queue_store, 10)

    assert first == names("high1", "high2", "mid1")
    assert rest == names("mid2", "low1")
    assert await claimed(queue_store, 10) == []
    assert await queue_store.queue_depth() == 0


async def test_a_claimed_run_is_pending_and_resumable_and_takes_events(
    queue_store: RunStore,
) -> None:
    await enqueue(queue_store, "q1")

    [claim] = await queue_store.claim_queued(1, {})
    record = await queue_store.get_run_record(claim.run, scope=EVERY_TENANT)
    await queue_store.append([event("q1", 2, run_started={})])

    assert record is not None and record.state == run_pb2.RUN_STATE_PENDING
    assert await queue_store.unfinished_runs() == names("q1")
    after = await queue_store.get_run_record(claim.run, scope=EVERY_TENANT)
    assert after is not None and after.state == run_pb2.RUN_STATE_RUNNING


async def test_a_queued_run_takes_no_events_until_claimed(queue_store: RunStore) -> None:
    await enqueue(queue_store, "q1")

    with pytest.raises(EventSequenceConflict, match="queued"):
        await queue_store.append([event("q1", 2, run_started={})])


async def test_a_definition_at_its_limit_is_skipped_and_the_queue_goes_on_behind_it(
    queue_store: RunStore,
) -> None:
    for run_id in ("a1", "a2", "a3"):
        await enqueue(queue_store, run_id, A)
    await enqueue(queue_store, "b1", B)

    first = await claimed(queue_store, 10, a=2)
    second = await claimed(queue_store, 10, a=2)
    await queue_store.append([event("a1", 2, run_finished={"state": run_pb2.RUN_STATE_SUCCEEDED})])
    third = await claimed(queue_store, 10, a=2)

    assert first == names("a1", "a2", "b1")
    assert second == [], "a's two slots are taken by its PENDING runs"
    assert third == names("a3")


async def test_the_limit_counts_running_runs_not_only_claimed_ones(queue_store: RunStore) -> None:
    await queue_store.create_run(created("running", A, queued=False))
    await enqueue(queue_store, "a1", A)

    assert await claimed(queue_store, 10, a=1) == []
    assert await claimed(queue_store, 10, a=2) == names("a1")


async def test_claiming_one_run_by_name_takes_it_out_of_the_queue(queue_store: RunStore) -> None:
    await enqueue(queue_store, "q1")
    await enqueue(queue_store, "q2")

    claim = await queue_store.claim_queued_run("workflowRuns/q2")
    again = await queue_store.claim_queued_run("workflowRuns/q2")

    assert claim is not None and claim.run == "workflowRuns/q2"
    assert again is None
    assert await queue_store.claim_queued_run("workflowRuns/unknown") is None
    assert await queue_store.queue_depth() == 1
    assert await claimed(queue_store, 10) == names("q1")


async def test_a_reused_request_id_of_a_queued_run_names_it_and_is_not_counted_twice(
    queue_store: RunStore,
) -> None:
    first = await queue_store.create_run(
        created("q1"), request_id="r", fingerprint="f", queued=True
    )
    second = await queue_store.create_run(
        created("q2"), request_id="r", fingerprint="f", queued=True
    )

    assert first == ("workflowRuns/q1", True)
    assert second == ("workflowRuns/q1", False)
    assert await queue_store.queue_depth() == 1


async def test_concurrent_claims_never_hand_out_a_run_twice(queue_store: RunStore) -> None:
    for index in range(200):
        await enqueue(queue_store, f"q{index}", A if index % 2 else B)

    batches = await asyncio.gather(*(claimed(queue_store, 7, a=30) for _ in range(40)))

    taken = [name for batch in batches for name in batch]
    assert len(taken) == len(set(taken))
    assert sum(1 for name in taken if int(name.removeprefix("workflowRuns/q")) % 2) == 30
    assert len(taken) == 130  # b has no limit: its 100 runs, plus a's 30


async def test_the_queue_survives_a_restart(open_store: StoreFactory) -> None:
    store = await open_store()
    for run_id, priority in [("q1", 0), ("q2", 1), ("q3", 0)]:
        await enqueue(store, run_id, priority=priority)
    await store.claim_queued(1, {})  # q2: claimed, not started
    await store.close()

    reopened = await open_store()

    assert await reopened.queue_depth() == 2
    assert await reopened.unfinished_runs() == names("q2")
    assert await claimed(reopened, 10) == names("q1", "q3")
