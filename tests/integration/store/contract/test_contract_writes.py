"""Contract, both stores: creating runs (idempotent on request_id) and appending events
(in order, fenced on seq, never after the end), group-committed."""

from __future__ import annotations

import asyncio

import pytest

from aura.orchestrator.v1 import run_pb2
from orchestrator.errors import AlreadyExists, NotFound
from orchestrator.runs import EVERY_TENANT
from orchestrator.store import EventSequenceConflict, RunStore, StoreClosed
from tests.integration.store.contract.store_opener import StoreOpener
from tests.unit.store.run_events import T0, created, event, finished, scheduled, started

pytestmark = pytest.mark.integration


async def test_a_created_run_reads_back_with_its_projection(store: RunStore) -> None:
    first = created("r1", labels={"team": "ml"})

    assert await store.create_run(first) == ("workflowRuns/r1", True)

    assert await store.read_events("workflowRuns/r1", scope=EVERY_TENANT) == [first]
    record = await store.get_run_record("workflowRuns/r1", scope=EVERY_TENANT)
    assert record is not None
    assert (record.name, record.workflow_definition) == (
        "workflowRuns/r1",
        "workflowDefinitions/demo",
    )
    assert (record.state, record.create_time, record.end_time) == (
        run_pb2.RUN_STATE_PENDING,
        T0,
        None,
    )
    assert (record.labels, record.request_id, record.last_seq) == ({"team": "ml"}, "", 1)


async def test_creation_is_idempotent_on_request_id(store: RunStore) -> None:
    first = await store.create_run(created("r1"), request_id="req-1", fingerprint="fp-a")
    again = await store.create_run(created("r2"), request_id="req-1", fingerprint="fp-a")

    assert first == ("workflowRuns/r1", True)
    assert again == ("workflowRuns/r1", False)
    assert await store.get_run_record("workflowRuns/r2", scope=EVERY_TENANT) is None
    with pytest.raises(AlreadyExists) as raised:
        await store.create_run(created("r3"), request_id="req-1", fingerprint="fp-b")
    assert raised.value.reason == "REQUEST_ID_REUSED"
    assert raised.value.resource_name == "workflowRuns/r1"
    assert await store.get_run_record("workflowRuns/r3", scope=EVERY_TENANT) is None


async def test_concurrent_creations_with_one_request_id_make_one_run(store: RunStore) -> None:
    results = await asyncio.gather(
        *(store.create_run(created(f"r{i}"), request_id="req", fingerprint="fp") for i in range(20))
    )

    assert {name for name, _ in results} == {"workflowRuns/r0"}
    assert [is_new for _, is_new in results].count(True) == 1
    assert await store.unfinished_runs() == ["workflowRuns/r0"]


async def test_an_existing_run_name_is_already_exists_even_within_one_batch(
    store: RunStore,
) -> None:
    results = await asyncio.gather(
        store.create_run(created("r1")), store.create_run(created("r1")), return_exceptions=True
    )
    assert results[0] == ("workflowRuns/r1", True)
    assert isinstance(results[1], AlreadyExists) and results[1].reason == "RUN_EXISTS"

    with pytest.raises(AlreadyExists) as raised:
        await store.create_run(created("r1"))
    assert raised.value.reason == "RUN_EXISTS"
    assert len(await store.read_events("workflowRuns/r1", scope=EVERY_TENANT)) == 1


async def test_create_run_takes_only_a_run_created_event_with_seq_1(store: RunStore) -> None:
    with pytest.raises(ValueError):
        await store.create_run(started("r1", seq=1))
    with pytest.raises(ValueError):
        await store.create_run(run_pb2.RunEvent(run="workflowRuns/r1", seq=2, run_created={}))


async def test_appended_events_read_back_in_order_and_after_a_seq(store: RunStore) -> None:
    await store.create_run(created("r1"))
    later = [started("r1"), scheduled("r1", 3), scheduled("r1", 4)]

    await store.append(later[:1])
    await store.append(later[1:])

    events = await store.read_events("workflowRuns/r1", scope=EVERY_TENANT)
    assert [e.seq for e in events] == [1, 2, 3, 4]
    assert events[1:] == later
    assert await store.read_events("workflowRuns/r1", after_seq=2, scope=EVERY_TENANT) == later[1:]
    assert await store.read_events("workflowRuns/r1", after_seq=4, scope=EVERY_TENANT) == []
    assert await store.read_events("workflowRuns/unknown", scope=EVERY_TENANT) == []
    assert await store.get_run_record("workflowRuns/unknown", scope=EVERY_TENANT) is None


async def test_events_appended_with_the_creation_commit_with_it(store: RunStore) -> None:
    creation = store.create_run(created("r1"))
    progress = [store.append([started("r1")]), store.append([scheduled("r1", 3)])]

    assert await creation == ("workflowRuns/r1", True)
    await asyncio.gather(*progress)

    assert [e.seq for e in await store.read_events("workflowRuns/r1", scope=EVERY_TENANT)] == [
        1,
        2,
        3,
    ]
    record = await store.get_run_record("workflowRuns/r1", scope=EVERY_TENANT)
    assert record is not None and (record.state, record.last_seq) == (run_pb2.RUN_STATE_RUNNING, 3)


async def test_a_creation_and_the_events_queued_behind_it_are_one_commit(store: RunStore) -> None:
    commits_before = store.commit_count  # type: ignore[attr-defined]

    creation = store.create_run(created("r1"))
    progress = store.append([started("r1"), scheduled("r1", 3)])
    assert await creation == ("workflowRuns/r1", True)
    await progress

    assert store.commit_count - commits_before == 1  # type: ignore[attr-defined]
    assert [e.seq for e in await store.read_events("workflowRuns/r1", scope=EVERY_TENANT)] == [
        1,
        2,
        3,
    ]
    record = await store.get_run_record("workflowRuns/r1", scope=EVERY_TENANT)
    assert record is not None and (record.state, record.last_seq) == (run_pb2.RUN_STATE_RUNNING, 3)


async def test_a_creation_meeting_a_taken_name_fails_with_its_events_and_not_the_others(
    store: RunStore,
) -> None:
    await store.create_run(created("r1"))
    await store.append([started("r1"), scheduled("r1", 3)])

    results = await asyncio.gather(
        store.create_run(created("r1")),
        store.append([started("r1")]),
        store.create_run(created("r2")),
        store.append([started("r2")]),
        return_exceptions=True,
    )

    assert isinstance(results[0], AlreadyExists) and results[0].reason == "RUN_EXISTS"
    assert isinstance(results[1], EventSequenceConflict)
    assert results[2:] == [("workflowRuns/r2", True), None]
    assert [e.seq for e in await store.read_events("workflowRuns/r1", scope=EVERY_TENANT)] == [
        1,
        2,
        3,
    ]
    assert [e.seq for e in await store.read_events("workflowRuns/r2", scope=EVERY_TENANT)] == [1, 2]


async def test_gaps_unknown_runs_and_events_after_the_end_are_rejected(store: RunStore) -> None:
    await store.create_run(created("r1"))

    with pytest.raises(EventSequenceConflict, match="next must be 2"):
        await store.append([scheduled("r1", 3)])
    with pytest.raises(EventSequenceConflict, match="does not follow"):
        await store.append([started("r1"), scheduled("r1", 4)])
    with pytest.raises(NotFound) as raised:
        await store.append([started("nobody")])
    assert raised.value.reason == "RUN_NOT_FOUND"

    await store.append([started("r1"), finished("r1", 3)])
    with pytest.raises(EventSequenceConflict, match="finished"):
        await store.append([scheduled("r1", 4)])
    with pytest.raises(EventSequenceConflict, match="follows run_finished"):
        await store.append([finished("r1", 4), scheduled("r1", 5)])
    with pytest.raises(EventSequenceConflict, match="not final"):
        await store.create_run(created("r2"))
        await store.append([finished("r2", 2, run_pb2.RUN_STATE_RUNNING)])
    assert [e.seq for e in await store.read_events("workflowRuns/r1", scope=EVERY_TENANT)] == [
        1,
        2,
        3,
    ]


async def test_a_duplicate_seq_fails_and_keeps_the_original(store: RunStore) -> None:
    await store.create_run(created("r1"))
    original = started("r1")
    await store.append([original])

    with pytest.raises(EventSequenceConflict, match="last seq is 2"):
        await store.append([scheduled("r1", 2)])

    assert (await store.read_events("workflowRuns/r1", scope=EVERY_TENANT))[1] == original


async def test_a_bad_append_fails_alone_within_its_batch(store: RunStore) -> None:
    await asyncio.gather(store.create_run(created("a")), store.create_run(created("b")))

    results = await asyncio.gather(
        store.append([started("a")]),
        store.append([scheduled("b", 1)]),  # seq 1 is the run_created event
        store.append([started("b"), scheduled("b", 3)]),
        store.append([scheduled("a", 9)]),
        return_exceptions=True,
    )

    assert results[0] is None and results[2] is None
    assert isinstance(results[1], EventSequenceConflict)
    assert isinstance(results[3], EventSequenceConflict)
    assert [e.seq for e in await store.read_events("workflowRuns/a", scope=EVERY_TENANT)] == [1, 2]
    assert [e.seq for e in await store.read_events("workflowRuns/b", scope=EVERY_TENANT)] == [
        1,
        2,
        3,
    ]


async def test_an_empty_append_resolves(store: RunStore) -> None:
    assert await store.append([]) is None


@pytest.mark.parametrize(
    "final_state",
    [run_pb2.RUN_STATE_SUCCEEDED, run_pb2.RUN_STATE_FAILED, run_pb2.RUN_STATE_CANCELLED],
)
async def test_the_projection_follows_the_run_lifecycle(store: RunStore, final_state: int) -> None:
    async def record_of() -> tuple[int, float | None, int]:
        record = await store.get_run_record("workflowRuns/r1", scope=EVERY_TENANT)
        assert record is not None
        return record.state, record.end_time, record.last_seq

    await store.create_run(created("r1"))
    assert await record_of() == (run_pb2.RUN_STATE_PENDING, None, 1)
    await store.append([started("r1"), scheduled("r1", 3)])
    assert await record_of() == (run_pb2.RUN_STATE_RUNNING, None, 3)
    await store.append([event("r1", 4, run_resumed={})])
    assert await record_of() == (run_pb2.RUN_STATE_RUNNING, None, 4)
    await store.append([finished("r1", 5, final_state, at=T0 + 2.5)])
    assert await record_of() == (final_state, T0 + 2.5, 5)


async def test_appends_are_group_committed(store: RunStore) -> None:
    names = [f"r{i}" for i in range(200)]
    await asyncio.gather(*(store.create_run(created(name)) for name in names))
    commits_before = store.commit_count  # type: ignore[attr-defined]

    futures = [
        store.append([event(name, seq, step_scheduled={})]) for seq in range(2, 7) for name in names
    ]
    await asyncio.gather(*futures)

    commits = store.commit_count - commits_before  # type: ignore[attr-defined]
    assert 1 <= commits <= 10, f"1000 appends took {commits} transactions"
    for name in names[::37]:
        assert [
            e.seq for e in await store.read_events(f"workflowRuns/{name}", scope=EVERY_TENANT)
        ] == [
            1,
            2,
            3,
            4,
            5,
            6,
        ]


async def test_a_reopened_store_reads_what_the_first_wrote(open_store: StoreOpener) -> None:
    first = await open_store()
    await first.create_run(created("r1", labels={"k": "v"}))
    await first.append([started("r1"), finished("r1", 3)])
    await first.close()

    reopened = await open_store()

    assert [e.seq for e in await reopened.read_events("workflowRuns/r1", scope=EVERY_TENANT)] == [
        1,
        2,
        3,
    ]
    record = await reopened.get_run_record("workflowRuns/r1", scope=EVERY_TENANT)
    assert record is not None and record.state == run_pb2.RUN_STATE_SUCCEEDED


async def test_close_commits_appends_still_queued(open_store: StoreOpener) -> None:
    store = await open_store()
    await store.create_run(created("r1"))
    pending = [store.append([scheduled("r1", seq)]) for seq in range(2, 52)]

    await store.close()
    await store.close()  # idempotent

    assert all(future.done() and future.exception() is None for future in pending)
    reopened = await open_store()
    assert len(await reopened.read_events("workflowRuns/r1", scope=EVERY_TENANT)) == 51


async def test_a_closed_store_refuses_work(open_store: StoreOpener) -> None:
    store = await open_store()
    await store.close()

    with pytest.raises(StoreClosed):
        await store.append([started("r1")])
    with pytest.raises(StoreClosed):
        await store.read_events("workflowRuns/r1", scope=EVERY_TENANT)
    with pytest.raises(StoreClosed):
        await store.create_run(created("r1"))
