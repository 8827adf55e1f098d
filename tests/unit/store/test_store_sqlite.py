"""The SQLite run store: durable, group-committed, event-sourced runs (a real file per test)."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import sys
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from aura.orchestrator.v1 import run_pb2, workflow_pb2
from orchestrator.errors import AlreadyExists, NotFound
from orchestrator.runs import EVERY_TENANT
from orchestrator.store import EventSequenceConflict, SqliteRunStore, StoreClosed
from tests.unit.store.run_events import T0, created, event, finished, scheduled, started


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteRunStore]:
    async with SqliteRunStore(tmp_path / "runs.db") as opened:
        yield opened


async def test_created_run_reads_back_with_its_first_event(store: SqliteRunStore) -> None:
    first = created("r1", labels={"team": "ml"})

    assert await store.create_run(first) == ("workflowRuns/r1", True)

    assert await store.read_events("workflowRuns/r1", scope=EVERY_TENANT) == [first]
    record = await store.get_run_record("workflowRuns/r1", scope=EVERY_TENANT)
    assert record is not None
    assert record.name == "workflowRuns/r1"
    assert record.workflow_definition == "workflowDefinitions/demo"
    assert record.state == run_pb2.RUN_STATE_PENDING
    assert record.create_time == T0
    assert record.end_time is None
    assert record.labels == {"team": "ml"}
    assert record.request_id == ""
    assert record.last_seq == 1


async def test_appended_events_read_back_in_order_and_after_a_seq(store: SqliteRunStore) -> None:
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


async def test_appends_are_group_committed(store: SqliteRunStore) -> None:
    names = [f"r{i}" for i in range(200)]
    await asyncio.gather(*(store.create_run(created(name)) for name in names))
    commits_before = store.commit_count

    # 1000 appends in flight at once, 5 per run, each its own call (as the engine does).
    futures = [
        store.append([event(name, seq, step_scheduled={})]) for seq in range(2, 7) for name in names
    ]
    await asyncio.gather(*futures)

    commits = store.commit_count - commits_before
    assert 1 <= commits <= 10, f"1000 appends took {commits} transactions"
    for name in names:
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


async def test_concurrent_creates_are_group_committed_too(store: SqliteRunStore) -> None:
    commits_before = store.commit_count

    results = await asyncio.gather(*(store.create_run(created(f"r{i}")) for i in range(300)))

    assert all(is_new for _, is_new in results)
    assert store.commit_count - commits_before <= 5


async def test_batches_are_capped_by_max_batch(tmp_path: Path) -> None:
    async with SqliteRunStore(tmp_path / "runs.db", max_batch=10) as store:
        await store.create_run(created("r1"))
        commits_before = store.commit_count

        await asyncio.gather(*(store.append([scheduled("r1", seq)]) for seq in range(2, 102)))

        assert store.commit_count - commits_before >= 10
        assert len(await store.read_events("workflowRuns/r1", scope=EVERY_TENANT)) == 101


async def test_commit_listener_sees_only_committed_events_in_order(
    store: SqliteRunStore,
) -> None:
    observer = sqlite3.connect(store.path)  # an independent reader of the same file
    seen: list[tuple[str, int]] = []

    def listener(events: Sequence[run_pb2.RunEvent]) -> None:
        for committed in events:
            row = observer.execute(
                "SELECT 1 FROM events JOIN runs ON runs.id = events.run_id "
                "WHERE runs.name = ? AND events.seq = ?",
                (committed.run, committed.seq),
            ).fetchone()
            assert row is not None, f"{committed.run}#{committed.seq} was published uncommitted"
            seen.append((committed.run, committed.seq))

    store.add_commit_listener(listener)
    await asyncio.gather(store.create_run(created("a")), store.create_run(created("b")))
    futures = [
        store.append([event(run, seq, step_scheduled={})]) for seq in range(2, 30) for run in "ab"
    ]
    await asyncio.gather(*futures)
    observer.close()

    for run in "ab":
        seqs = [seq for name, seq in seen if name == f"workflowRuns/{run}"]
        assert seqs == list(range(1, 30))


async def test_listener_has_the_events_before_the_append_future_resolves(
    store: SqliteRunStore,
) -> None:
    seen: list[int] = []
    store.add_commit_listener(lambda events: seen.extend(e.seq for e in events))
    await store.create_run(created("r1"))

    await store.append([started("r1")])

    assert seen == [1, 2]


async def test_a_failing_listener_does_not_break_the_store(store: SqliteRunStore) -> None:
    def broken(events: Sequence[run_pb2.RunEvent]) -> None:
        raise RuntimeError("listener bug")

    seen: list[int] = []
    store.add_commit_listener(broken)
    store.add_commit_listener(lambda events: seen.extend(e.seq for e in events))

    await store.create_run(created("r1"))
    await store.append([started("r1")])

    assert seen == [1, 2]


async def test_duplicate_seq_fails_loudly_and_keeps_the_original(store: SqliteRunStore) -> None:
    await store.create_run(created("r1"))
    original = started("r1")
    await store.append([original])

    with pytest.raises(EventSequenceConflict, match="last seq is 2"):
        await store.append([scheduled("r1", 2)])

    assert (await store.read_events("workflowRuns/r1", scope=EVERY_TENANT))[1] == original


async def test_a_bad_append_fails_alone_within_its_batch(store: SqliteRunStore) -> None:
    await asyncio.gather(store.create_run(created("a")), store.create_run(created("b")))

    good_before = store.append([started("a")])
    duplicate = store.append([scheduled("b", 1)])  # seq 1 is the run_created event
    good_after = store.append([started("b"), scheduled("b", 3)])
    gap = store.append([scheduled("a", 9)])
    results = await asyncio.gather(good_before, duplicate, good_after, gap, return_exceptions=True)

    assert results[0] is None and results[2] is None
    assert isinstance(results[1], EventSequenceConflict)
    assert isinstance(results[3], EventSequenceConflict)
    assert [e.seq for e in await store.read_events("workflowRuns/a", scope=EVERY_TENANT)] == [1, 2]
    assert [e.seq for e in await store.read_events("workflowRuns/b", scope=EVERY_TENANT)] == [
        1,
        2,
        3,
    ]


async def test_gaps_unknown_runs_and_events_after_the_end_are_rejected(
    store: SqliteRunStore,
) -> None:
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
    assert [e.seq for e in await store.read_events("workflowRuns/r1", scope=EVERY_TENANT)] == [
        1,
        2,
        3,
    ]


async def test_run_finished_needs_a_final_state(store: SqliteRunStore) -> None:
    await store.create_run(created("r1"))

    with pytest.raises(EventSequenceConflict, match="not final"):
        await store.append([finished("r1", 2, run_pb2.RUN_STATE_RUNNING)])


async def test_empty_append_resolves(store: SqliteRunStore) -> None:
    assert await store.append([]) is None


async def test_create_run_is_idempotent_on_request_id(store: SqliteRunStore) -> None:
    first = await store.create_run(created("r1"), request_id="req-1", fingerprint="fp-a")
    again = await store.create_run(created("r2"), request_id="req-1", fingerprint="fp-a")

    assert first == ("workflowRuns/r1", True)
    assert again == ("workflowRuns/r1", False)
    assert await store.get_run_record("workflowRuns/r2", scope=EVERY_TENANT) is None
    record = await store.get_run_record("workflowRuns/r1", scope=EVERY_TENANT)
    assert record is not None and record.request_id == "req-1"


async def test_request_id_reused_for_a_different_request_is_already_exists(
    store: SqliteRunStore,
) -> None:
    await store.create_run(created("r1"), request_id="req-1", fingerprint="fp-a")

    with pytest.raises(AlreadyExists) as raised:
        await store.create_run(created("r2"), request_id="req-1", fingerprint="fp-b")

    assert raised.value.reason == "REQUEST_ID_REUSED"
    assert raised.value.resource_name == "workflowRuns/r1"
    assert await store.get_run_record("workflowRuns/r2", scope=EVERY_TENANT) is None


async def test_concurrent_creates_with_one_request_id_make_one_run(store: SqliteRunStore) -> None:
    results = await asyncio.gather(
        *(
            store.create_run(created(f"r{i}"), request_id="req-1", fingerprint="fp")
            for i in range(20)
        )
    )

    assert {name for name, _ in results} == {"workflowRuns/r0"}
    assert [is_new for _, is_new in results].count(True) == 1
    assert await store.unfinished_runs() == ["workflowRuns/r0"]


async def test_runs_without_request_id_never_collide(store: SqliteRunStore) -> None:
    await store.create_run(created("r1"))
    await store.create_run(created("r2"))

    assert sorted(await store.unfinished_runs()) == ["workflowRuns/r1", "workflowRuns/r2"]


async def test_creating_an_existing_run_name_is_already_exists(store: SqliteRunStore) -> None:
    await store.create_run(created("r1"))

    with pytest.raises(AlreadyExists) as raised:
        await store.create_run(created("r1"))
    assert raised.value.reason == "RUN_EXISTS"


async def test_two_creates_of_one_name_in_one_batch_make_one_run(store: SqliteRunStore) -> None:
    results = await asyncio.gather(
        store.create_run(created("r1")), store.create_run(created("r1")), return_exceptions=True
    )

    assert results[0] == ("workflowRuns/r1", True)
    assert isinstance(results[1], AlreadyExists)
    assert len(await store.read_events("workflowRuns/r1", scope=EVERY_TENANT)) == 1


async def test_create_run_takes_only_a_run_created_event_with_seq_1(store: SqliteRunStore) -> None:
    with pytest.raises(ValueError):
        await store.create_run(started("r1", seq=1))
    with pytest.raises(ValueError):
        await store.create_run(run_pb2.RunEvent(run="workflowRuns/r1", seq=2, run_created={}))


@pytest.mark.parametrize(
    "final_state",
    [
        run_pb2.RUN_STATE_SUCCEEDED,
        run_pb2.RUN_STATE_PARTIALLY_SUCCEEDED,
        run_pb2.RUN_STATE_FAILED,
        run_pb2.RUN_STATE_CANCELLED,
    ],
)
async def test_projection_follows_the_run_lifecycle(
    store: SqliteRunStore, final_state: int
) -> None:
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


async def test_a_run_created_and_advanced_in_one_batch_has_the_projection_of_both(
    store: SqliteRunStore,
) -> None:
    # Queued together, so one commit holds them: the run's row is written as they leave it.
    creation = store.create_run(created("r1"))
    appended = store.append([started("r1"), scheduled("r1", 3)])
    finished_too = store.create_run(created("r2"))
    to_the_end = store.append([started("r2"), finished("r2", 3, run_pb2.RUN_STATE_FAILED)])
    await asyncio.gather(creation, appended, finished_too, to_the_end)

    one = await store.get_run_record("workflowRuns/r1", scope=EVERY_TENANT)
    two = await store.get_run_record("workflowRuns/r2", scope=EVERY_TENANT)
    assert one is not None and (one.state, one.end_time, one.last_seq) == (
        run_pb2.RUN_STATE_RUNNING,
        None,
        3,
    )
    assert two is not None and (two.state, two.last_seq) == (run_pb2.RUN_STATE_FAILED, 3)
    assert two.end_time is not None
    assert await store.unfinished_runs() == ["workflowRuns/r1"]


async def test_a_gap_after_a_creation_in_the_same_batch_fails_alone(store: SqliteRunStore) -> None:
    creation = store.create_run(created("r1"))
    gap = store.append([scheduled("r1", 3)])
    other = store.create_run(created("r2"))
    follows = store.append([started("r2")])
    results = await asyncio.gather(creation, gap, other, follows, return_exceptions=True)

    assert isinstance(results[1], EventSequenceConflict)
    assert results[3] is None
    assert [e.seq for e in await store.read_events("workflowRuns/r1", scope=EVERY_TENANT)] == [1]
    record = await store.get_run_record("workflowRuns/r2", scope=EVERY_TENANT)
    assert record is not None and (record.state, record.last_seq) == (run_pb2.RUN_STATE_RUNNING, 2)


async def test_unfinished_runs_lists_pending_and_running_oldest_first(
    store: SqliteRunStore,
) -> None:
    for index, run_id in enumerate(["pending", "running", "done", "failed"]):
        await store.create_run(created(run_id, at=T0 + index))
    await store.append([started("running"), started("done"), started("failed")])
    await store.append([finished("done", 3), finished("failed", 3, run_pb2.RUN_STATE_FAILED)])

    assert await store.unfinished_runs() == ["workflowRuns/pending", "workflowRuns/running"]


async def test_a_new_store_on_the_same_file_reads_what_the_first_wrote(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dir" / "runs.db"  # directories are created
    async with SqliteRunStore(path, durability="fsync") as first:
        await first.create_run(created("r1"), request_id="req-1", fingerprint="fp")
        await first.append([started("r1"), finished("r1", 3)])
        await first.put_definition(workflow_pb2.WorkflowDefinition(name="workflowDefinitions/a"))
        written = await first.read_events("workflowRuns/r1", scope=EVERY_TENANT)

    async with SqliteRunStore(path) as second:
        assert await second.read_events("workflowRuns/r1", scope=EVERY_TENANT) == written
        record = await second.get_run_record("workflowRuns/r1", scope=EVERY_TENANT)
        assert record is not None and record.state == run_pb2.RUN_STATE_SUCCEEDED
        assert await second.create_run(created("r9"), request_id="req-1", fingerprint="fp") == (
            "workflowRuns/r1",
            False,
        )
        assert [d.name for d in await second.list_definitions()] == ["workflowDefinitions/a"]


KILLED_WRITER = """
import asyncio, os, signal, sys
from aura.orchestrator.v1 import run_pb2
from orchestrator.store import SqliteRunStore
from orchestrator.runs import EVERY_TENANT

async def main():
    store = SqliteRunStore(sys.argv[1])
    await store.open()
    run = "workflowRuns/r1"
    await store.create_run(run_pb2.RunEvent(run=run, seq=1, run_created={}))
    await store.append([run_pb2.RunEvent(run=run, seq=2, run_started={})])
    os.kill(os.getpid(), signal.SIGKILL)  # no close(), no flush: only the commit counts

asyncio.run(main())
"""


async def test_a_committed_append_survives_the_process_being_killed(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    process = await asyncio.create_subprocess_exec(sys.executable, "-c", KILLED_WRITER, str(path))
    assert await asyncio.wait_for(process.wait(), 30) == -signal.SIGKILL

    async with SqliteRunStore(path) as reopened:
        assert [
            e.seq for e in await reopened.read_events("workflowRuns/r1", scope=EVERY_TENANT)
        ] == [1, 2]
        record = await reopened.get_run_record("workflowRuns/r1", scope=EVERY_TENANT)
        assert record is not None and record.state == run_pb2.RUN_STATE_RUNNING


async def test_close_commits_appends_still_queued(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    store = SqliteRunStore(path)
    await store.open()
    await store.create_run(created("r1"))
    pending = [store.append([scheduled("r1", seq)]) for seq in range(2, 52)]

    await store.close()
    await store.close()  # idempotent

    assert all(future.done() and future.exception() is None for future in pending)
    async with SqliteRunStore(path) as reopened:
        assert len(await reopened.read_events("workflowRuns/r1", scope=EVERY_TENANT)) == 51


async def test_a_closed_store_refuses_work(tmp_path: Path) -> None:
    store = SqliteRunStore(tmp_path / "runs.db")
    await store.open()
    await store.close()

    with pytest.raises(StoreClosed):
        await store.append([started("r1")])
    with pytest.raises(StoreClosed):
        await store.read_events("workflowRuns/r1", scope=EVERY_TENANT)
    with pytest.raises(StoreClosed):
        await store.create_run(created("r1"))


async def test_definitions_are_stored_once_and_listed_by_name(store: SqliteRunStore) -> None:
    def definition(name: str, description: str = "") -> workflow_pb2.WorkflowDefinition:
        return workflow_pb2.WorkflowDefinition(
            name=f"workflowDefinitions/{name}",
            description=description,
            steps=[
                {
                    "id": "parse",
                    "method": "aura.nlu.v1.NluService/AnalyzeText",
                    "inputs": {"text": {"ref": "input.text"}, "lang": {"ref": "input.lang"}},
                }
            ],
        )

    assert await store.put_definition(definition("zeta")) is True
    assert await store.put_definition(definition("alpha")) is True
    assert await store.put_definition(definition("zeta")) is False

    with pytest.raises(AlreadyExists):
        await store.put_definition(definition("zeta", description="changed"))

    listed = await store.list_definitions()
    assert [d.name for d in listed] == ["workflowDefinitions/alpha", "workflowDefinitions/zeta"]
    assert listed[1] == definition("zeta")


async def test_a_lone_progress_event_waits_for_company_but_a_final_one_commits_at_once(
    tmp_path: Path,
) -> None:
    async with SqliteRunStore(tmp_path / "runs.db", linger_s=0.5) as store:
        await store.create_run(created("a"))  # a creation is never held back
        loop = asyncio.get_running_loop()

        begin = loop.time()
        await store.append([started("a")])
        lingered = loop.time() - begin

        begin = loop.time()
        await store.append([finished("a", 3)])
        final = loop.time() - begin

    assert lingered >= 0.4
    assert final < 0.2


async def test_a_final_event_takes_the_lingering_ones_along_in_one_commit(
    tmp_path: Path,
) -> None:
    async with SqliteRunStore(tmp_path / "runs.db", linger_s=5.0) as store:
        await store.create_run(created("a"))
        commits = store.commit_count
        progress = store.append([started("a")])
        await store.append([finished("a", 3)])
        assert progress.done()
        assert store.commit_count == commits + 1
        assert [e.seq for e in await store.read_events("workflowRuns/a", scope=EVERY_TENANT)] == [
            1,
            2,
            3,
        ]


async def test_the_write_ahead_log_is_checkpointed_as_events_accumulate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("orchestrator.store.sqlite.CHECKPOINT_BYTES", 64 * 1024)
    big = "x" * 4000
    async with SqliteRunStore(tmp_path / "runs.db", linger_s=0) as store:
        for index in range(250):  # about 1 MB of events
            run = f"r{index}"
            await store.create_run(created(run, labels={"note": big[:60]}))
            await store.append(
                [event(run, 2, step_skipped={"step_id": "parse", "reason": big}), finished(run, 3)]
            )
        wal = tmp_path / "runs.db-wal"
        # Checkpointed WAL frames are reused. Unchecked, 500 small commits of 1 MB of
        # events grow the WAL to about 14 MB; checkpointed every 64 KB, to about 1 MB.
        assert wal.stat().st_size < 3 * 1024 * 1024
