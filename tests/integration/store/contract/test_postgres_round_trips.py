"""PostgreSQL only: what a run costs in round trips to the server. At one run at a time
every awaited round trip is latency the caller sees (a run's creation and its end)."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from orchestrator.runs import EVERY_TENANT
from orchestrator.store import PostgresRunStore
from tests.helpers import eventually
from tests.postgres_fixtures import PostgresSchema
from tests.unit.store.run_events import created, scheduled, started

pytestmark = pytest.mark.integration


def statements_on(db: asyncpg.Connection) -> list[str]:
    """Every statement the connection sends from now on (asyncpg's query logger)."""
    sent: list[str] = []
    db.add_query_logger(lambda record: sent.append(" ".join(record.query.split())[:40]))
    return sent


async def test_a_new_run_and_the_events_queued_behind_its_creation_are_one_round_trip(
    postgres_schema: PostgresSchema,
) -> None:
    async with (
        PostgresRunStore(postgres_schema.url, replica_id="replica-a") as a,
        PostgresRunStore(postgres_schema.url, replica_id="replica-b") as b,
    ):
        heard_by_b: list[tuple[str, int]] = []
        b.add_remote_commit_listener(lambda run, seq: heard_by_b.append((run, seq)))
        # A first run: asyncpg learns the statement and its types (one-off round trips).
        await a.create_run(created("r0"))
        await a.append([started("r0")])
        assert a._db is not None
        sent = statements_on(a._db)

        creation = a.create_run(created("r1"))
        progress = a.append([started("r1"), scheduled("r1", 3)])
        assert await creation == ("workflowRuns/r1", True)
        await progress
        await asyncio.sleep(0)  # the logger is called soon after the statement

        assert len(sent) == 1, sent
        # The other replicas hear the commit up to its last event (the NOTIFY went with it).
        await eventually(lambda: ("workflowRuns/r1", 3) in heard_by_b, message="b heard nothing")
        assert [e.seq for e in await b.read_events("workflowRuns/r1", scope=EVERY_TENANT)] == [
            1,
            2,
            3,
        ]
