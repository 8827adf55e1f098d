"""The replicas' SQL against a real PostgreSQL: heartbeats, orphan and queue claims, cancels."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from orchestrator.store import postgres_cluster as sql

pytestmark = pytest.mark.integration

T = "default"
LEASE_S = 5.0
LOCK = 4242


@pytest.fixture
async def conn(pg_dsn: str) -> AsyncIterator[Any]:
    connection = await asyncpg.connect(pg_dsn)
    yield connection
    await connection.close()


async def add_run(
    conn: Any,
    name: str,
    *,
    owner: str | None,
    state: int = 2,
    epoch: int = 1,
    definition: str = "wf",
    priority: int = 0,
    tenant: str = T,
) -> None:
    await conn.execute(
        "INSERT INTO runs (tenant, name, workflow_definition, state, create_time_us, last_seq,"
        " owner, epoch, priority) VALUES ($1, $2, $3, $4, 0, 1, $5, $6, $7)",
        tenant,
        name,
        definition,
        state,
        owner,
        epoch,
        priority,
    )


async def age_heartbeat(conn: Any, replica: str, seconds: float) -> None:
    await conn.execute(
        "UPDATE replicas SET heartbeat_at = now() - make_interval(secs => $2) WHERE id = $1",
        replica,
        seconds,
    )


async def owner_epoch(conn: Any, name: str) -> tuple[str | None, int]:
    row = await conn.fetchrow("SELECT owner, epoch FROM runs WHERE name = $1", name)
    return row["owner"], row["epoch"]


async def test_heartbeat_inserts_then_renews_with_the_database_clock(conn: Any) -> None:
    await sql.heartbeat(conn, T, "a", "10.0.0.1:8006")
    await age_heartbeat(conn, "a", 60)
    [stale] = await sql.list_replicas(conn, T, LEASE_S)
    assert (stale.id, stale.address, stale.alive) == ("a", "10.0.0.1:8006", False)
    assert stale.heartbeat_age_s >= 59
    await sql.heartbeat(conn, T, "a", "10.0.0.1:8007")
    [fresh] = await sql.list_replicas(conn, T, LEASE_S)
    assert fresh.alive and fresh.heartbeat_age_s < 1 and fresh.address == "10.0.0.1:8007"


async def test_claim_orphans_takes_runs_of_dead_and_missing_owners_only(conn: Any) -> None:
    for replica in ("live", "dead", "me"):
        await sql.heartbeat(conn, T, replica, "")
    await age_heartbeat(conn, "dead", LEASE_S + 1)
    await add_run(conn, "runs/of-live", owner="live")
    await add_run(conn, "runs/of-dead", owner="dead", epoch=3)
    await add_run(conn, "runs/of-nobody", owner=None, epoch=0)  # written before schema 2
    await add_run(conn, "runs/of-ghost", owner="never-heartbeat")
    await add_run(conn, "runs/mine", owner="me")
    await add_run(conn, "runs/dead-but-done", owner="dead", state=3)
    await add_run(conn, "runs/dead-but-queued", owner=None, state=7, epoch=0)
    await add_run(conn, "runs/other-tenant", owner="dead", tenant="other")

    claims = await sql.claim_orphans(conn, T, "me", LEASE_S, 100)

    assert [(c.run, c.epoch) for c in claims] == [
        ("runs/of-dead", 4),
        ("runs/of-nobody", 1),
        ("runs/of-ghost", 2),
    ]
    assert await owner_epoch(conn, "runs/of-dead") == ("me", 4)
    assert await owner_epoch(conn, "runs/of-live") == ("live", 1)
    assert await owner_epoch(conn, "runs/dead-but-done") == ("dead", 1)
    assert await sql.claim_orphans(conn, T, "me", LEASE_S, 100) == []


async def test_claim_orphans_in_batches_oldest_first(conn: Any) -> None:
    await sql.heartbeat(conn, T, "dead", "")
    await age_heartbeat(conn, "dead", 60)
    for i in range(5):
        await add_run(conn, f"runs/{i}", owner="dead")
    first = await sql.claim_orphans(conn, T, "me", LEASE_S, 2)
    rest = await sql.claim_orphans(conn, T, "me", LEASE_S, 10)
    assert [c.run for c in first] == ["runs/0", "runs/1"]
    assert [c.run for c in rest] == ["runs/2", "runs/3", "runs/4"]


async def test_replicas_claiming_at_once_split_the_orphans(pg_dsn: str, conn: Any) -> None:
    await sql.heartbeat(conn, T, "dead", "")
    await age_heartbeat(conn, "dead", 60)
    await conn.executemany(
        "INSERT INTO runs (tenant, name, workflow_definition, state, create_time_us, last_seq,"
        " owner, epoch) VALUES ($1, $2, 'wf', 2, 0, 1, 'dead', 1)",
        [(T, f"runs/{i:04}") for i in range(600)],
    )
    conns = [await asyncpg.connect(pg_dsn) for _ in range(3)]
    for i in range(3):  # live claimers: none takes another's claims
        await sql.heartbeat(conn, T, f"r{i}", "")
    try:

        async def claim_all(replica: str, c: Any) -> list[str]:
            taken: list[str] = []
            while batch := await sql.claim_orphans(c, T, replica, LEASE_S, 50):
                taken.extend(claim.run for claim in batch)
            return taken

        results = await asyncio.gather(*(claim_all(f"r{i}", c) for i, c in enumerate(conns)))
    finally:
        for c in conns:
            await c.close()
    every = [run for taken in results for run in taken]
    assert len(every) == len(set(every)) == 600
    assert await conn.fetchval("SELECT count(*) FROM runs WHERE epoch <> 2") == 0


async def test_claim_queued_by_priority_then_fifo(conn: Any) -> None:
    await add_run(conn, "runs/low-old", owner=None, state=7, epoch=0, priority=0)
    await add_run(conn, "runs/high", owner=None, state=7, epoch=0, priority=5)
    await add_run(conn, "runs/low-new", owner=None, state=7, epoch=0, priority=0)
    await add_run(conn, "runs/running", owner="x", state=2)

    claims = await sql.claim_queued(conn, T, "me", 2, {}, LOCK)

    assert [(c.run, c.epoch) for c in claims] == [("runs/high", 1), ("runs/low-old", 1)]
    row = await conn.fetchrow("SELECT state, owner FROM runs WHERE name = 'runs/high'")
    assert (row["state"], row["owner"]) == (1, "me")
    assert [c.run for c in await sql.claim_queued(conn, T, "me", 10, {}, LOCK)] == ["runs/low-new"]
    assert await sql.claim_queued(conn, T, "me", 10, {}, LOCK) == []


async def test_claim_queued_keeps_definitions_within_their_limit(conn: Any) -> None:
    await add_run(conn, "runs/busy", owner="x", state=2, definition="limited")
    for i in range(4):
        await add_run(conn, f"runs/l{i}", owner=None, state=7, epoch=0, definition="limited")
    await add_run(conn, "runs/free", owner=None, state=7, epoch=0, definition="free")

    first = await sql.claim_queued(conn, T, "me", 10, {"limited": 2}, LOCK)
    assert [c.run for c in first] == ["runs/l0", "runs/free"]
    assert await sql.claim_queued(conn, T, "me", 10, {"limited": 2}, LOCK) == []
    await conn.execute("UPDATE runs SET state = 3 WHERE name = 'runs/busy'")
    assert [c.run for c in await sql.claim_queued(conn, T, "me", 10, {"limited": 2}, LOCK)] == [
        "runs/l1"
    ]


async def test_concurrent_queue_claims_respect_a_limit_across_replicas(
    pg_dsn: str, conn: Any
) -> None:
    for i in range(40):
        await add_run(conn, f"runs/{i:02}", owner=None, state=7, epoch=0, definition="lim")
    conns = [await asyncpg.connect(pg_dsn) for _ in range(4)]
    try:
        results = await asyncio.gather(
            *(sql.claim_queued(c, T, f"r{i}", 5, {"lim": 7}, LOCK) for i, c in enumerate(conns))
        )
    finally:
        for c in conns:
            await c.close()
    assert sum(len(r) for r in results) == 7
    assert await conn.fetchval("SELECT count(*) FROM runs WHERE state = 1") == 7


async def test_claim_queued_run_takes_it_once(conn: Any) -> None:
    await add_run(conn, "runs/q", owner=None, state=7, epoch=0)
    await add_run(conn, "runs/running", owner="x", state=2)
    claim = await sql.claim_queued_run(conn, T, "me", "runs/q")
    assert claim is not None and (claim.run, claim.epoch) == ("runs/q", 1)
    assert await sql.claim_queued_run(conn, T, "other", "runs/q") is None
    assert await sql.claim_queued_run(conn, T, "me", "runs/running") is None
    assert await sql.claim_queued_run(conn, T, "me", "runs/none") is None


async def test_request_cancel_records_the_reason_and_notifies_at_commit(
    pg_dsn: str, conn: Any
) -> None:
    await add_run(conn, "runs/a", owner="x")
    await add_run(conn, "runs/done", owner="x", state=6)
    heard: asyncio.Queue[str] = asyncio.Queue()
    listener = await asyncpg.connect(pg_dsn)
    await listener.add_listener("aura_test_chan", lambda *args: heard.put_nowait(args[3]))
    try:
        assert await sql.request_cancel(conn, T, "runs/a", "first", "aura_test_chan")
        assert await sql.request_cancel(conn, T, "runs/a", "second", "aura_test_chan")
        assert not await sql.request_cancel(conn, T, "runs/done", "late", "aura_test_chan")
        assert not await sql.request_cancel(conn, T, "runs/none", "x", "aura_test_chan")
        assert await asyncio.wait_for(heard.get(), 5) == "x runs/a first"
        assert await asyncio.wait_for(heard.get(), 5) == "x runs/a first"
    finally:
        await listener.close()
    assert heard.empty()
    reason = await conn.fetchval("SELECT cancel_reason FROM runs WHERE name = 'runs/a'")
    assert reason == "first"
    # A claim carries the reason, so a takeover carries out the Cancel.
    await sql.heartbeat(conn, T, "x", "")
    await age_heartbeat(conn, "x", 60)
    [claim] = await sql.claim_orphans(conn, T, "me", LEASE_S, 10)
    assert claim.cancel_reason == "first"


async def test_list_replicas_counts_owned_unfinished_runs(conn: Any) -> None:
    await sql.heartbeat(conn, T, "a", "host-a:1")
    await sql.heartbeat(conn, T, "b", "host-b:1")
    await age_heartbeat(conn, "b", 30)
    await add_run(conn, "runs/1", owner="a")
    await add_run(conn, "runs/2", owner="a")
    await add_run(conn, "runs/3", owner="a", state=3)
    await add_run(conn, "runs/4", owner="b")
    replicas = await sql.list_replicas(conn, T, LEASE_S)
    assert [(r.id, r.alive, r.owned_runs) for r in replicas] == [("a", True, 2), ("b", False, 1)]


async def test_a_retired_replicas_runs_are_orphans_at_once(conn: Any) -> None:
    await sql.heartbeat(conn, T, "leaving", "")
    await add_run(conn, "runs/left", owner="leaving")
    assert await sql.claim_orphans(conn, T, "me", LEASE_S, 10) == []
    await sql.retire(conn, T, "leaving")
    assert [c.run for c in await sql.claim_orphans(conn, T, "me", LEASE_S, 10)] == ["runs/left"]
    assert await sql.list_replicas(conn, T, LEASE_S) == []


async def test_pending_cancels_are_those_of_unfinished_runs_owned_here(conn: Any) -> None:
    await add_run(conn, "runs/mine", owner="me")
    await add_run(conn, "runs/mine-done", owner="me", state=6)
    await add_run(conn, "runs/theirs", owner="other")
    for run in ("runs/mine", "runs/mine-done", "runs/theirs"):
        await conn.execute("UPDATE runs SET cancel_reason = 'stop' WHERE name = $1", run)
    await add_run(conn, "runs/mine-uncancelled", owner="me")
    assert await sql.pending_cancels(conn, T, "me") == [("runs/mine", "stop")]


async def test_last_seqs_of_many_runs_in_one_query(conn: Any) -> None:
    await add_run(conn, "runs/a", owner="x")
    await add_run(conn, "runs/b", owner="x")
    await conn.execute("UPDATE runs SET last_seq = 7 WHERE name = 'runs/b'")
    assert await sql.last_seqs(conn, T, ["runs/a", "runs/b", "runs/none"]) == {
        "runs/a": 1,
        "runs/b": 7,
    }
    assert await sql.last_seqs(conn, T, []) == {}


async def test_heartbeats_forget_long_dead_replicas_that_own_nothing(conn: Any) -> None:
    for replica in ("gone", "gone-with-runs", "recent"):
        await sql.heartbeat(conn, T, replica, "")
    await age_heartbeat(conn, "gone", 2 * 3600)
    await age_heartbeat(conn, "gone-with-runs", 2 * 3600)
    await age_heartbeat(conn, "recent", 60)
    await add_run(conn, "runs/left-behind", owner="gone-with-runs")
    await add_run(conn, "runs/done", owner="gone", state=3)
    await sql.heartbeat(conn, T, "me", "")
    replicas = {r.id for r in await sql.list_replicas(conn, T, LEASE_S)}
    assert replicas == {"gone-with-runs", "recent", "me"}
