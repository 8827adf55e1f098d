"""AURA_DURABILITY on PostgreSQL: "fsync" waits for the server's WAL flush on each commit,
"normal" does not (a commit still survives any replica being killed: the server has it)."""

from __future__ import annotations

import pytest

from orchestrator.store import PostgresRunStore
from tests.postgres_fixtures import PostgresSchema

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
