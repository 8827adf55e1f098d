"""AURA_DURABILITY on PostgreSQL: "fsync" waits for the server's WAL flush on each commit,
"normal" does not (a commit still survives any replica being killed: the server has it)."""

from __future__ import annotations

import pytest

from aura.orchestrator.v1 import run_pb2
from orchestrator.runs import EVERY_TENANT
from orchestrator.store import PostgresRunStore
from tests.postgres_fixtures import PostgresSchema
from tests.unit.store.run_events import created, event

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(("durability", "flushes"), [("fsync", True), ("normal", False)])
async def test_the_writer_commits_as_durably_as_asked(
    postgres_schema: PostgresSchema, durability: str, flushes: bool
) -> None:
    store = PostgresRunStore(postgres_schema.url, replica_id="r", durability=durability)  # type: ignore[arg-type]
    async with store:
        # The writer's own session setting: only it can tell (the server keeps it per session).
        setting = await store._db.fetchval("SHOW synchronous_commit")  # type: ignore[union-attr]
    assert (setting == "on") is flushes


async def test_a_durable_append_under_normal_durability_waits_for_a_flushed_commit(
    postgres_schema: PostgresSchema,
) -> None:
    # "normal" commits without waiting for the flush; a decision must not: a transaction
    # with synchronous_commit on follows it, whose commit flushes the WAL past the decision.
    async with PostgresRunStore(postgres_schema.url, replica_id="r", durability="normal") as store:
        await store.create_run(created("r1"))
        decided = run_pb2.TransactionDecided(
            transaction_id="r1/adopt", decision=run_pb2.TRANSACTION_DECISION_COMMIT
        )
        await store.append_durable([event("r1", 2, transaction_decided=decided)])
        events = await store.read_events("workflowRuns/r1", scope=EVERY_TENANT)
    assert [e.seq for e in events] == [1, 2] and store.forced_syncs == 1
