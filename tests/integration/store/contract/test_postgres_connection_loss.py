"""PostgreSQL only: the store's connections cut (pg_terminate_backend) or the server
refusing it for a while. Writes of acknowledged runs wait and resume in order;
creations are refused with UNAVAILABLE meanwhile; readiness follows `writable`."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator

import grpc
import pytest

from orchestrator.runs import EVERY_TENANT
from orchestrator.store import PostgresRunStore, StoreUnavailable, postgres_writes
from orchestrator.store.postgres_doubt import resolve_in_doubt
from orchestrator.store.postgres_requests import AppendRequest, CreateRequest, Queued
from tests.helpers import eventually
from tests.postgres_fixtures import PostgresSchema, admin_connect
from tests.unit.store.run_events import created, scheduled, started

pytestmark = pytest.mark.integration


class LockableRole:
    """A login role of this test only, which the test can lock out of the server."""

    def __init__(self, schema: PostgresSchema) -> None:
        self.name = f"aura_t_role_{secrets.token_hex(4)}"
        self.url = schema.url.replace("postgres@", f"{self.name}@", 1)
        self._schema = schema.name

    async def _admin(self, *statements: str) -> None:
        admin = await admin_connect()
        try:
            for statement in statements:
                await admin.execute(statement)
        finally:
            await admin.close()

    async def create(self) -> None:
        await self._admin(
            f"CREATE ROLE {self.name} LOGIN", f"GRANT ALL ON SCHEMA {self._schema} TO {self.name}"
        )

    async def lock_out(self) -> None:
        """No new connection is let in, and the open ones are terminated."""
        await self._admin(
            f"ALTER ROLE {self.name} CONNECTION LIMIT 0",
            f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{self.name}'",
        )

    async def let_in(self) -> None:
        await self._admin(f"ALTER ROLE {self.name} CONNECTION LIMIT -1")

    async def drop(self) -> None:
        await self.lock_out()
        await self._admin(f"DROP OWNED BY {self.name} CASCADE", f"DROP ROLE {self.name}")


@pytest.fixture
async def role(postgres_schema: PostgresSchema) -> AsyncIterator[LockableRole]:
    made = LockableRole(postgres_schema)
    await made.create()
    yield made
    await made.drop()


async def test_cut_connections_are_replaced_without_a_fault(
    postgres_schema: PostgresSchema,
) -> None:
    async with PostgresRunStore(postgres_schema.url, replica_id="a") as store:
        changes: list[bool] = []
        store.add_writable_listener(changes.append)
        await store.create_run(created("r1"))

        assert await postgres_schema.terminate_backends() >= 2  # writer, pool, LISTEN
        await asyncio.sleep(0.1)
        await store.append([started("r1")])
        await store.create_run(created("r2"))

        assert [e.seq for e in await store.read_events("workflowRuns/r1", scope=EVERY_TENANT)] == [
            1,
            2,
        ]
        assert changes == []


async def test_writes_wait_while_the_server_refuses_and_creations_are_unavailable(
    role: LockableRole,
) -> None:
    async with PostgresRunStore(role.url, replica_id="a") as store:
        changes: list[bool] = []
        store.add_writable_listener(changes.append)
        await store.create_run(created("r1"))
        await store.append([started("r1")])

        await role.lock_out()
        waiting = store.append([scheduled("r1", 3)])
        await eventually(lambda: not store.writable, message="the outage went unnoticed")
        with pytest.raises(StoreUnavailable) as refused:
            await store.create_run(created("r2"))
        assert refused.value.code == grpc.StatusCode.UNAVAILABLE
        later = store.append([scheduled("r1", 4)])
        await asyncio.sleep(0.3)
        assert not waiting.done() and not later.done()

        await role.let_in()
        await asyncio.wait_for(asyncio.gather(waiting, later), timeout=15)

        assert store.writable and changes == [False, True]
        assert [e.seq for e in await store.read_events("workflowRuns/r1", scope=EVERY_TENANT)] == [
            1,
            2,
            3,
            4,
        ]
        assert await store.create_run(created("r2")) == ("workflowRuns/r2", True)


async def test_reads_are_unavailable_and_a_shutdown_stops_holding_writes(
    role: LockableRole,
) -> None:
    async with PostgresRunStore(role.url, replica_id="a") as store:
        await store.create_run(created("r1"))
        await role.lock_out()
        waiting = store.append([started("r1")])
        await eventually(lambda: not store.writable, message="the outage went unnoticed")

        with pytest.raises(StoreUnavailable):
            await store.get_run_record("workflowRuns/r1", scope=EVERY_TENANT)
        store.stop_holding_writes()

        with pytest.raises(StoreUnavailable):
            await waiting
        await role.let_in()  # the close below commits nothing more
    async with PostgresRunStore(role.url, replica_id="a") as reopened:
        assert [
            e.seq for e in await reopened.read_events("workflowRuns/r1", scope=EVERY_TENANT)
        ] == [1]


async def test_a_batch_in_doubt_is_acknowledged_or_undone_by_what_landed(
    postgres_schema: PostgresSchema,
) -> None:
    async with PostgresRunStore(postgres_schema.url, replica_id="a") as store:
        await store.create_run(created("kept"))
        landed_append = AppendRequest((started("kept"),))
        landed_creation = CreateRequest(created("ghost"), "", "")
        await asyncio.gather(store.append(landed_append.events), store.create_run(created("ghost")))
        loop = asyncio.get_running_loop()
        doubtful = [
            Queued(landed_creation, loop.create_future(), 1),
            Queued(landed_append, loop.create_future(), 1),
            Queued(AppendRequest((scheduled("kept", 3),)), loop.create_future(), 1),
        ]
        connection = await postgres_schema.connect()
        try:
            landed = await resolve_in_doubt(connection, "default", doubtful)
        finally:
            await connection.close()

        assert landed.acknowledged == [doubtful[1]]
        assert landed.undone == ["workflowRuns/ghost"]
        assert await store.get_run_record("workflowRuns/ghost", scope=EVERY_TENANT) is None


def lose_the_connection_after(monkeypatch: pytest.MonkeyPatch, target: object, name: str) -> None:
    """The next call of `target.name` does its work, then fails as a connection that died
    before the server's answer arrived."""
    original = getattr(target, name)
    calls = []

    async def committed_then_lost(*args: object, **kwargs: object) -> object:
        result = await original(*args, **kwargs)
        if not calls:
            calls.append(1)
            raise ConnectionResetError("connection lost before the answer")
        return result

    monkeypatch.setattr(target, name, committed_then_lost)


async def test_an_append_whose_commit_answer_was_lost_is_acknowledged_once(
    postgres_schema: PostgresSchema, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with PostgresRunStore(postgres_schema.url, replica_id="a") as store:
        await store.create_run(created("r1"))
        lose_the_connection_after(monkeypatch, postgres_writes, "append_at_once")

        await asyncio.wait_for(store.append([started("r1")]), timeout=10)
        await store.append([scheduled("r1", 3)])

        assert [e.seq for e in await store.read_events("workflowRuns/r1", scope=EVERY_TENANT)] == [
            1,
            2,
            3,
        ]
        assert store.writable


async def test_a_creation_whose_commit_answer_was_lost_is_refused_and_undone(
    postgres_schema: PostgresSchema, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with PostgresRunStore(postgres_schema.url, replica_id="a") as store:
        lose_the_connection_after(monkeypatch, postgres_writes.BatchWriter, "_insert_runs")

        with pytest.raises(StoreUnavailable):
            await store.create_run(created("ghost"))

        async def undone() -> bool:
            return (
                store.writable
                and await store.get_run_record("workflowRuns/ghost", scope=EVERY_TENANT) is None
            )

        await eventually(undone, message="the creation that landed was not undone")
        assert await store.create_run(created("ghost")) == ("workflowRuns/ghost", True)
