"""Deleting runs from the SQLite run store: by hand, and by retention, reusing the space."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from aura.orchestrator.v1 import run_pb2, workflow_pb2
from orchestrator.errors import FailedPrecondition, NotFound
from orchestrator.runs import EVERY_TENANT
from orchestrator.store import SqliteRunStore
from tests.helpers import eventually
from tests.unit.store.run_events import T0, created, event, finished, started

DAY_S = 24 * 3600.0
NOW = time.time()


def step_output(run_id: str, seq: int, at: float) -> run_pb2.RunEvent:
    return event(run_id, seq, at=at, step_started={"step_id": "s" * 400})


async def finished_run(store: SqliteRunStore, run_id: str, *, ended_at: float) -> None:
    await store.create_run(created(run_id, at=ended_at))
    await store.append(
        [started(run_id), *(step_output(run_id, seq, ended_at) for seq in range(3, 7))]
    )
    await store.append([finished(run_id, 7, at=ended_at)])


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteRunStore]:
    async with SqliteRunStore(tmp_path / "runs.db") as opened:
        yield opened


async def test_a_deleted_run_is_gone_from_the_file_and_from_memory(store: SqliteRunStore) -> None:
    # Finished in this process: its history is also held in memory for quick reads.
    await finished_run(store, "r1", ended_at=NOW)
    assert len(await store.read_events("workflowRuns/r1", scope=EVERY_TENANT)) == 7

    await store.delete_run("workflowRuns/r1")

    assert await store.read_events("workflowRuns/r1", scope=EVERY_TENANT) == []
    assert await store.get_run_record("workflowRuns/r1", scope=EVERY_TENANT) is None
    with pytest.raises(NotFound):
        await store.delete_run("workflowRuns/r1")


async def test_an_unfinished_run_cannot_be_deleted(store: SqliteRunStore) -> None:
    await store.create_run(created("r1"))
    await store.append([started("r1")])

    with pytest.raises(FailedPrecondition) as refused:
        await store.delete_run("workflowRuns/r1")

    assert refused.value.reason == "RUN_NOT_FINISHED"
    assert [e.seq for e in await store.read_events("workflowRuns/r1", scope=EVERY_TENANT)] == [1, 2]


async def test_a_request_id_is_free_again_once_its_run_is_deleted(store: SqliteRunStore) -> None:
    await store.create_run(created("r1"), request_id="once", fingerprint="a")
    await store.append([finished("r1", 2)])
    await store.delete_run("workflowRuns/r1")

    assert await store.create_run(created("r2"), request_id="once", fingerprint="b") == (
        "workflowRuns/r2",
        True,
    )


async def test_a_definition_with_an_unfinished_run_cannot_be_deleted(
    store: SqliteRunStore,
) -> None:
    definition = workflow_pb2.WorkflowDefinition(name="workflowDefinitions/demo")
    await store.put_definition(definition)
    await store.create_run(created("r1"))  # a run of workflowDefinitions/demo

    with pytest.raises(FailedPrecondition) as refused:
        await store.delete_definition("workflowDefinitions/demo")
    assert refused.value.reason == "DEFINITION_IN_USE"

    await store.append([finished("r1", 2)])
    assert await store.delete_definition("workflowDefinitions/demo") is True
    assert await store.list_definitions() == []
    assert await store.delete_definition("workflowDefinitions/demo") is False


async def test_runs_that_ended_longer_ago_than_the_retention_are_deleted_in_small_batches(
    tmp_path: Path,
) -> None:
    async with SqliteRunStore(tmp_path / "runs.db") as writer:
        for index in range(250):
            await finished_run(writer, f"old{index}", ended_at=T0)
        await finished_run(writer, "recent", ended_at=NOW - 60)
        await writer.create_run(created("unfinished", at=T0))

    async with SqliteRunStore(
        tmp_path / "runs.db", retention_s=DAY_S, purge_interval_s=0.05
    ) as store:
        commits_before = store.commit_count

        async def old_ones_gone() -> bool:
            return await store.get_run_record("workflowRuns/old249", scope=EVERY_TENANT) is None

        await eventually(old_ones_gone, timeout_s=20, message="expired runs were not deleted")
        for index in (0, 99, 100, 249):
            assert await store.read_events(f"workflowRuns/old{index}", scope=EVERY_TENANT) == []
        assert await store.get_run_record("workflowRuns/recent", scope=EVERY_TENANT) is not None
        assert await store.get_run_record("workflowRuns/unfinished", scope=EVERY_TENANT) is not None
        assert store.commit_count - commits_before >= 3, "250 runs deleted in one transaction"


async def test_writes_go_on_while_expired_runs_are_deleted(tmp_path: Path) -> None:
    async with SqliteRunStore(tmp_path / "runs.db") as writer:
        for index in range(300):
            await finished_run(writer, f"old{index}", ended_at=T0)

    async with SqliteRunStore(
        tmp_path / "runs.db", retention_s=DAY_S, purge_interval_s=0.05
    ) as store:
        await store.create_run(created("live", at=NOW))
        for seq in range(2, 40):
            await asyncio.wait_for(store.append([step_output("live", seq, NOW)]), timeout=5)
        await eventually(
            lambda: _gone(store, "workflowRuns/old299"), timeout_s=20, message="purge stalled"
        )
        assert len(await store.read_events("workflowRuns/live", scope=EVERY_TENANT)) == 39


async def _gone(store: SqliteRunStore, run: str) -> bool:
    return await store.get_run_record(run, scope=EVERY_TENANT) is None


def page_count(path: Path) -> int:
    with sqlite3.connect(path) as db:
        return int(db.execute("PRAGMA page_count").fetchone()[0])


async def test_the_file_stays_the_same_size_under_a_churn_of_new_and_expired_runs(
    tmp_path: Path,
) -> None:
    path = tmp_path / "runs.db"
    sizes = []
    for round_ in range(6):
        async with SqliteRunStore(path) as writer:  # no retention: the round fills the file
            await asyncio.gather(
                *(finished_run(writer, f"r{round_}-{index}", ended_at=T0) for index in range(200))
            )
        full = page_count(path)
        async with SqliteRunStore(path, retention_s=DAY_S, purge_interval_s=0.05) as store:
            await eventually(
                lambda: _gone(store, f"workflowRuns/r{round_}-199"),  # noqa: B023
                timeout_s=20,
                message=f"round {round_} was not deleted",
            )
        sizes.append((full, page_count(path)))

    print("pages (full, after the purge) per round:", sizes)
    first_full = sizes[0][0]
    assert first_full > 100, "a round should fill a good many pages"
    assert all(full <= first_full * 1.05 for full, _ in sizes), f"the file grew: {sizes}"
