"""PostgreSQL only: replicas sharing one store. A replica that lost a run to another
(epoch + 1) cannot commit a single event of it; hints reach the other replicas."""

from __future__ import annotations

import asyncio

import pytest

from aura.orchestrator.v1 import workflow_pb2
from orchestrator.runs import EVERY_TENANT
from orchestrator.store import PostgresRunStore, RunOwnershipLost
from tests.helpers import eventually
from tests.postgres_fixtures import PostgresSchema
from tests.unit.store.run_events import created, finished, scheduled, started

pytestmark = pytest.mark.integration


@pytest.fixture
async def replicas(postgres_schema: PostgresSchema):  # type: ignore[no-untyped-def]
    stores = [
        PostgresRunStore(postgres_schema.url, replica_id=name, lease_s=1.0)
        for name in ("replica-a", "replica-b")
    ]
    for store in stores:
        await store.open()
    yield stores
    for store in stores:
        await store.close()


async def test_a_run_taken_over_refuses_the_old_owners_writes(
    replicas: list[PostgresRunStore],
) -> None:
    a, b = replicas
    lost: list[str] = []
    a.add_ownership_lost_listener(lost.append)
    await a.create_run(created("r1"))
    await a.create_run(created("other"))
    await a.append([started("r1")])
    assert [event.seq for event in await a.read_events("workflowRuns/r1", scope=EVERY_TENANT)] == [
        1,
        2,
    ]

    await b.heartbeat()  # a never heartbeat: its runs are orphans to b
    claims = await b.claim_orphans(10)
    assert {(claim.run, claim.epoch) for claim in claims} == {
        ("workflowRuns/r1", 2),
        ("workflowRuns/other", 2),
    }

    with pytest.raises(RunOwnershipLost) as refused:
        await a.append([scheduled("r1", 3)])
    assert refused.value.reason == "RUN_OWNERSHIP_LOST"
    assert lost == ["workflowRuns/r1"]
    with pytest.raises(RunOwnershipLost):  # from now on at once
        await a.append([scheduled("r1", 3)])

    await b.append([scheduled("r1", 3)])
    record = await b.get_run_record("workflowRuns/r1", scope=EVERY_TENANT)
    assert record is not None and record.last_seq == 3
    # a no longer serves r1 from memory: it reads what b wrote.
    assert [event.seq for event in await a.read_events("workflowRuns/r1", scope=EVERY_TENANT)] == [
        1,
        2,
        3,
    ]
    assert await a.unfinished_runs() == []
    assert sorted(await b.unfinished_runs()) == ["workflowRuns/other", "workflowRuns/r1"]


async def test_a_lost_run_fails_alone_in_a_batch(replicas: list[PostgresRunStore]) -> None:
    a, b = replicas
    await asyncio.gather(a.create_run(created("lost")), a.create_run(created("kept")))
    await b.heartbeat()
    await a.heartbeat()  # a is alive now, but its run is taken by hand below
    admin = await b._pool.acquire()  # type: ignore[union-attr]
    try:
        await admin.execute(
            "UPDATE runs SET owner = 'replica-b', epoch = epoch + 1 WHERE name = $1",
            "workflowRuns/lost",
        )
    finally:
        await b._pool.release(admin)  # type: ignore[union-attr]

    results = await asyncio.gather(
        a.append([started("lost")]), a.append([started("kept")]), return_exceptions=True
    )

    assert isinstance(results[0], RunOwnershipLost) and results[1] is None
    assert [e.seq for e in await b.read_events("workflowRuns/lost", scope=EVERY_TENANT)] == [1]
    assert [e.seq for e in await b.read_events("workflowRuns/kept", scope=EVERY_TENANT)] == [1, 2]


async def test_live_replicas_keep_their_runs(replicas: list[PostgresRunStore]) -> None:
    a, b = replicas
    await a.heartbeat()
    await a.create_run(created("r1"))

    assert await b.claim_orphans(10) == []
    assert {replica.id for replica in await b.list_replicas() if replica.alive} == {"replica-a"}


async def test_other_replicas_hear_commits_queue_changes_and_cancels(
    replicas: list[PostgresRunStore],
) -> None:
    a, b = replicas
    heard_by_a: list[tuple[str, int]] = []
    heard_by_b: list[tuple[str, int]] = []
    queue_moves: list[str] = []
    cancels: list[tuple[str, str]] = []
    a.add_remote_commit_listener(lambda run, seq: heard_by_a.append((run, seq)))
    b.add_remote_commit_listener(lambda run, seq: heard_by_b.append((run, seq)))
    b.add_queue_listener(lambda: queue_moves.append("q"))
    a.add_cancel_listener(lambda run, reason: cancels.append((run, reason)))

    await a.create_run(created("r1"))
    await a.append([started("r1"), scheduled("r1", 3)])
    await eventually(lambda: ("workflowRuns/r1", 3) in heard_by_b, message="b heard no commit")
    await a.create_run(created("q1"), queued=True)
    await eventually(lambda: queue_moves, message="b heard no queue change")
    await b.request_cancel("workflowRuns/r1", "stop it")
    await eventually(lambda: cancels == [("workflowRuns/r1", "stop it")], message="no cancel")

    assert heard_by_a == []  # a's own commits are no news to a


async def test_a_definition_stored_by_one_replica_is_seen_by_all(
    replicas: list[PostgresRunStore],
) -> None:
    a, b = replicas
    definition = workflow_pb2.WorkflowDefinition(name="workflowDefinitions/shared")

    assert await a.put_definition(definition) is True

    assert await b.list_definitions() == [definition]
    assert await b.put_definition(definition) is False


async def test_runs_dropped_after_a_lost_lease_are_held_again_while_still_owned(
    replicas: list[PostgresRunStore],
) -> None:
    a, _ = replicas
    lost: list[str] = []
    a.add_ownership_lost_listener(lost.append)
    await a.create_run(created("r1"))

    assert a.drop_held_runs() == ["workflowRuns/r1"]
    assert lost == ["workflowRuns/r1"]
    with pytest.raises(RunOwnershipLost):
        await a.append([started("r1")])

    assert await a.unfinished_runs() == ["workflowRuns/r1"]  # nobody took it meanwhile
    await a.append([started("r1")])
    assert [event.seq for event in await a.read_events("workflowRuns/r1", scope=EVERY_TENANT)] == [
        1,
        2,
    ]


async def test_replicas_creating_with_one_request_id_at_once_make_one_run(
    replicas: list[PostgresRunStore],
) -> None:
    a, b = replicas
    results = await asyncio.gather(
        *(
            store.create_run(created(f"r{index}"), request_id="same", fingerprint="fp")
            for index in range(10)
            for store in (a, b)
        )
    )

    assert len({name for name, _ in results}) == 1
    assert [is_new for _, is_new in results].count(True) == 1
    assert len(await a.unfinished_runs()) + len(await b.unfinished_runs()) == 1


async def test_hints_flow_again_after_the_listening_connection_was_cut(
    replicas: list[PostgresRunStore], postgres_schema: PostgresSchema
) -> None:
    a, b = replicas
    heard: list[tuple[str, int]] = []
    queue_moves: list[str] = []
    b.add_remote_commit_listener(lambda run, seq: heard.append((run, seq)))
    b.add_queue_listener(lambda: queue_moves.append("q"))  # told: hints may have been missed
    await a.create_run(created("r1"))

    assert await postgres_schema.terminate_backends() > 0
    await eventually(lambda: queue_moves, message="the LISTEN connection did not come back")
    await a.append([started("r1")])

    await eventually(lambda: ("workflowRuns/r1", 2) in heard, message="no hint after the cut")


async def test_a_run_deleted_by_one_replica_leaves_the_others_memory(
    replicas: list[PostgresRunStore],
) -> None:
    a, b = replicas
    await b.create_run(created("r1"))
    await b.append([started("r1"), finished("r1", 3)])
    assert (
        len(await b.read_events("workflowRuns/r1", scope=EVERY_TENANT)) == 3
    )  # kept in b's memory

    await a.delete_run("workflowRuns/r1")

    async def gone_from_b() -> bool:
        return await b.read_events("workflowRuns/r1", scope=EVERY_TENANT) == []

    await eventually(gone_from_b, message="b still serves a deleted run's history")
