"""The SQLite run store when its file cannot grow: a real SQLITE_FULL, no mock of SQLite.

`PRAGMA max_page_count` on the writer connection caps the file at its current size, so
the next commit that needs a page fails with "database or disk is full", as on a full
disk; raising the cap frees the space again.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from aura.orchestrator.v1 import run_pb2
from orchestrator.runs import EVERY_TENANT
from orchestrator.store import EventSequenceConflict, SqliteRunStore, StoreUnavailable
from tests.helpers import eventually
from tests.unit.store.run_events import created, event, finished, started

BIG_OUTPUT = "x" * 5000  # more than a page: every such event needs new pages
UNLIMITED_PAGES = 1_073_741_823


def fill(store: SqliteRunStore) -> None:
    """No page may be added from now on (the writer connection's own limit)."""
    db = store._writer._db  # type: ignore[union-attr]
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    assert db.execute(f"PRAGMA max_page_count = {pages}").fetchone()[0] == pages


def free(store: SqliteRunStore) -> None:
    store._writer._db.execute(f"PRAGMA max_page_count = {UNLIMITED_PAGES}")  # type: ignore[union-attr]


def progress(run_id: str, seq: int) -> run_pb2.RunEvent:
    return event(run_id, seq, step_started={"step_id": BIG_OUTPUT})


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteRunStore]:
    async with SqliteRunStore(tmp_path / "runs.db", linger_s=0) as opened:
        yield opened


async def test_events_of_acknowledged_runs_wait_while_the_store_is_full_then_commit_in_order(
    store: SqliteRunStore,
) -> None:
    await store.create_run(created("r1"))
    await store.append([started("r1")])

    fill(store)
    waiting = [store.append([progress("r1", seq)]) for seq in range(3, 9)]
    final = store.append([finished("r1", 9)])
    await asyncio.sleep(0.5)  # several commits are tried and fail meanwhile
    assert not any(future.done() for future in [*waiting, final]), "an event was given up"

    free(store)
    await asyncio.wait_for(asyncio.gather(*waiting, final), timeout=10)

    events = await store.read_events("workflowRuns/r1", scope=EVERY_TENANT)
    assert [e.seq for e in events] == list(range(1, 10))
    assert events[-1].run_finished.state == run_pb2.RUN_STATE_SUCCEEDED


async def test_writable_goes_false_on_the_fault_and_true_once_a_commit_succeeds(
    store: SqliteRunStore,
) -> None:
    changes: list[bool] = []
    store.add_writable_listener(changes.append)
    await store.create_run(created("r1"))
    assert store.writable

    fill(store)
    pending = store.append([progress("r1", 2)])
    await eventually(lambda: not store.writable, message="the store never noticed it was full")
    free(store)
    await asyncio.wait_for(pending, timeout=10)

    assert store.writable
    assert changes == [False, True]


async def test_new_runs_are_refused_as_unavailable_while_the_store_cannot_write(
    store: SqliteRunStore,
) -> None:
    await store.create_run(created("r1"))
    fill(store)
    pending = store.append([progress("r1", 2)])
    await eventually(lambda: not store.writable)

    with pytest.raises(StoreUnavailable) as refused:
        await store.create_run(created("r2"))
    assert refused.value.reason == "STORE_UNAVAILABLE"
    assert refused.value.retry_after_s is not None and refused.value.retry_after_s > 0

    free(store)
    await asyncio.wait_for(pending, timeout=10)
    assert await store.create_run(created("r2")) == ("workflowRuns/r2", True)


async def test_a_creation_in_the_batch_that_hits_the_fault_fails_alone_and_unavailable(
    store: SqliteRunStore,
) -> None:
    await store.create_run(created("r1"))
    fill(store)
    creation = store.create_run(created("r2", labels={"pad": BIG_OUTPUT}))
    its_start = store.append([started("r2")])  # queued behind its creation, as the engine does
    acknowledged = store.append([progress("r1", 2)])

    with pytest.raises(StoreUnavailable):
        await asyncio.wait_for(creation, timeout=10)
    with pytest.raises(StoreUnavailable):
        await asyncio.wait_for(its_start, timeout=10)
    assert not acknowledged.done()

    free(store)
    await asyncio.wait_for(acknowledged, timeout=10)
    assert await store.get_run_record("workflowRuns/r2", scope=EVERY_TENANT) is None


async def test_the_store_notices_it_can_write_again_with_no_write_waiting(
    store: SqliteRunStore,
) -> None:
    fill(store)
    with pytest.raises(StoreUnavailable):  # the only write, and it is refused
        await store.create_run(created("big", labels={"pad": BIG_OUTPUT}))
    assert not store.writable

    free(store)

    await eventually(lambda: store.writable, timeout_s=10, message="the probe never succeeded")


async def test_a_bad_append_still_fails_alone_when_it_meets_a_full_store(
    store: SqliteRunStore,
) -> None:
    await store.create_run(created("r1"))
    fill(store)
    good = store.append([progress("r1", 2)])
    bad = store.append([progress("r1", 7)])  # a gap: no retry can make it right
    await eventually(lambda: not store.writable)

    free(store)

    await asyncio.wait_for(good, timeout=10)
    with pytest.raises(EventSequenceConflict):
        await asyncio.wait_for(bad, timeout=10)
    assert [e.seq for e in await store.read_events("workflowRuns/r1", scope=EVERY_TENANT)] == [1, 2]


async def test_a_shutdown_stops_the_store_holding_writes_while_it_is_full(
    store: SqliteRunStore,
) -> None:
    await store.create_run(created("r1"))
    await store.create_run(created("r2"))
    fill(store)
    held = store.append([progress("r1", 2)])
    await eventually(lambda: not store.writable)

    store.stop_holding_writes()
    later = store.append([progress("r2", 2)])  # the engine may still say something

    for write in (held, later):
        with pytest.raises(StoreUnavailable):
            await asyncio.wait_for(write, timeout=5)
    await asyncio.wait_for(store.close(), timeout=10)
