"""PostgreSQL only: the schema is migrated at open, from an empty database or from an
older schema with data, by one replica at a time; a newer schema or an unreachable
server refuses to start with a one-line message."""

from __future__ import annotations

import asyncio

import pytest

from aura.orchestrator.v1 import run_pb2
from orchestrator.runs import EVERY_TENANT
from orchestrator.store import PostgresRunStore, StoreOpenError
from orchestrator.store.postgres_schema import migrations, schema_version
from tests.postgres_fixtures import PostgresSchema, with_params
from tests.unit.store.run_events import created, started

pytestmark = pytest.mark.integration


async def recorded(schema: PostgresSchema) -> list[tuple[int, str]]:
    connection = await schema.connect()
    try:
        rows = await connection.fetch(
            "SELECT version, name FROM aura_schema_migrations ORDER BY version"
        )
    finally:
        await connection.close()
    return [(row["version"], row["name"]) for row in rows]


async def test_an_empty_database_gets_every_migration(postgres_schema: PostgresSchema) -> None:
    async with PostgresRunStore(postgres_schema.url, replica_id="a") as store:
        await store.create_run(created("r1"))

    assert await recorded(postgres_schema) == [(m.version, m.name) for m in migrations()]
    assert schema_version() >= 2


async def test_replicas_opening_at_once_migrate_once(postgres_schema: PostgresSchema) -> None:
    stores = [PostgresRunStore(postgres_schema.url, replica_id=f"r{i}") for i in range(4)]

    await asyncio.gather(*(store.open() for store in stores))
    for store in stores:
        await store.close()

    assert await recorded(postgres_schema) == [(m.version, m.name) for m in migrations()]


async def test_a_schema_1_database_keeps_its_data_and_is_migrated(
    postgres_schema: PostgresSchema,
) -> None:
    first = migrations()[0]
    connection = await postgres_schema.connect()
    try:
        await connection.execute(first.sql)
        await connection.execute(
            "CREATE TABLE aura_schema_migrations (version INTEGER PRIMARY KEY, "
            "name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
        await connection.execute(
            "INSERT INTO aura_schema_migrations (version, name) VALUES (1, $1)", first.name
        )
        for run_id, state in (("old-running", 2), ("old-done", 3)):
            run_id_db = await connection.fetchval(
                "INSERT INTO runs (tenant, name, workflow_definition, state, create_time_us, "
                "end_time_us, labels, last_seq) VALUES ('default', $1, "
                "'workflowDefinitions/demo', $2, 1, $3, '{\"k\": \"v\"}', 2) RETURNING id",
                f"workflowRuns/{run_id}",
                state,
                None if state == 2 else 2,
            )
            for event in (created(run_id), started(run_id)):
                await connection.execute(
                    "INSERT INTO events (tenant, run_id, seq, body) VALUES ('default', $1, $2, $3)",
                    run_id_db,
                    event.seq,
                    event.SerializeToString(),
                )
    finally:
        await connection.close()

    async with PostgresRunStore(postgres_schema.url, replica_id="a") as store:
        assert await store.read_events("workflowRuns/old-running", scope=EVERY_TENANT) == [
            created("old-running"),
            started("old-running"),
        ]
        record = await store.get_run_record("workflowRuns/old-done", scope=EVERY_TENANT)
        assert record is not None and (record.state, record.labels) == (3, {"k": "v"})
        assert await store.unfinished_runs() == []  # owned by nobody before schema 2
        claims = await store.claim_orphans(10)  # ... so any live replica takes it over
        assert [(claim.run, claim.epoch) for claim in claims] == [("workflowRuns/old-running", 1)]
        await store.append(
            [run_pb2.RunEvent(run="workflowRuns/old-running", seq=3, run_resumed={})]
        )

    assert await recorded(postgres_schema) == [(m.version, m.name) for m in migrations()]


async def test_a_newer_schema_refuses_to_start(postgres_schema: PostgresSchema) -> None:
    async with PostgresRunStore(postgres_schema.url, replica_id="a"):
        pass
    connection = await postgres_schema.connect()
    try:
        await connection.execute(
            "INSERT INTO aura_schema_migrations (version, name) VALUES (99, 'from_the_future')"
        )
    finally:
        await connection.close()
    url = postgres_schema.url.replace("postgres@", "postgres:s3cret@")

    with pytest.raises(StoreOpenError) as refused:
        await PostgresRunStore(url, replica_id="a").open()

    message = str(refused.value)
    assert "\n" not in message and "s3cret" not in message
    assert "schema version 99" in message and f"orchestrator's {schema_version()}" in message
    assert postgres_schema.name in message  # the URL, with its search_path


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("postgresql://postgres:s3cret@127.0.0.1:1/test", "failed"),
        ("postgresql://postgres@127.0.0.1:5432/no_such_database_here", "does not exist"),
        ("postgresql://postgres:s3cret@127.0.0.1:notaport/test", "invalid"),
    ],
)
async def test_an_unreachable_server_or_a_bad_url_refuses_to_start(
    postgres_schema: PostgresSchema, url: str, problem: str
) -> None:
    with pytest.raises(StoreOpenError) as refused:
        await PostgresRunStore(
            with_params(url, search_path=postgres_schema.name), replica_id="a"
        ).open()

    message = str(refused.value)
    assert "\n" not in message and "s3cret" not in message
    assert problem in message and "postgresql://postgres@127.0.0.1:" in message
