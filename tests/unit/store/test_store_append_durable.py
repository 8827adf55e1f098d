"""`append_durable`: the event commits like any append, and the future resolves only once
it is forced to disk (one fsync of the WAL on top of the commit with durability "normal"),
counted in `forced_syncs`."""

from __future__ import annotations

from pathlib import Path

import pytest

from aura.orchestrator.v1 import run_pb2
from orchestrator.runs import EVERY_TENANT
from orchestrator.store import SqliteRunStore

RUN = "workflowRuns/r1"


@pytest.mark.parametrize("durability", ["normal", "fsync"])
async def test_a_durable_append_commits_and_counts_one_forced_sync(
    tmp_path: Path, durability: str
) -> None:
    async with SqliteRunStore(tmp_path / "runs.db", durability=durability) as store:  # type: ignore[arg-type]
        await store.create_run(run_pb2.RunEvent(run=RUN, seq=1, run_created={}))
        store.append([run_pb2.RunEvent(run=RUN, seq=2, run_started={})])
        decided = run_pb2.TransactionDecided(
            transaction_id="r1/adopt", decision=run_pb2.TRANSACTION_DECISION_COMMIT
        )
        await store.append_durable([run_pb2.RunEvent(run=RUN, seq=3, transaction_decided=decided)])
        assert store.forced_syncs == 1
        events = await store.read_events(RUN, scope=EVERY_TENANT)
    assert [event.seq for event in events] == [1, 2, 3]
    assert events[-1].transaction_decided == decided


async def test_a_durable_append_that_conflicts_fails_like_an_append(tmp_path: Path) -> None:
    async with SqliteRunStore(tmp_path / "runs.db") as store:
        await store.create_run(run_pb2.RunEvent(run=RUN, seq=1, run_created={}))
        with pytest.raises(Exception, match="seq"):
            await store.append_durable([run_pb2.RunEvent(run=RUN, seq=5, run_started={})])
        assert store.forced_syncs == 0
