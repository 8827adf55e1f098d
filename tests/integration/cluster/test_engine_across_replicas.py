"""Two engines on one PostgreSQL store, in one process: a queued run cancelled from any
replica, waiting for a run that executes on another replica, and a takeover that finds
a Cancel recorded while the run's first owner still executed it (fenced off)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import pytest

from aura.orchestrator.v1 import run_pb2
from mock_services.mesh import MockMesh
from orchestrator.engine import DefinitionCatalog, Engine, RunSpec
from orchestrator.events import EventHub, RemoteEventFeed
from orchestrator.mesh import BackendPool
from orchestrator.runs import EVERY_TENANT
from orchestrator.store import Claim, PostgresRunStore
from orchestrator.workflows import MethodRegistry
from tests.helpers import eventually
from tests.integration.cluster.replicas import history_problems
from tests.integration.orchestrator_helpers import STYLE_INPUT, struct

pytestmark = pytest.mark.integration

DEFINITION = "complete_style_analysis"


@dataclass
class Replica:
    store: PostgresRunStore
    engine: Engine
    hub: EventHub
    feed: RemoteEventFeed


@pytest.fixture
async def replicas(mesh: MockMesh, empty_pg_dsn: str) -> AsyncIterator[tuple[Replica, Replica]]:
    for server in mesh.servers.values():
        server.faults.latency_ms = 300
    addresses = {service: [address] for service, address in mesh.addresses().items()}
    made: list[Replica] = []
    try:
        for replica_id in ("a", "b"):
            store = PostgresRunStore(empty_pg_dsn, replica_id=replica_id, lease_s=2.0)
            await store.open()
            await store.heartbeat()
            pool = BackendPool(addresses)
            await pool.start()
            catalog = DefinitionCatalog(store, MethodRegistry.default())
            await catalog.load()
            engine, hub = Engine(store, pool, catalog), EventHub()
            engine.attach_hub(hub)
            store.add_commit_listener(hub.publish)
            store.add_ownership_lost_listener(engine.lose_ownership)
            store.add_cancel_listener(engine.cancel_here)
            feed = RemoteEventFeed(
                store, hub, executes_here=engine.is_active, last_seqs=store.last_seqs
            )
            store.add_remote_commit_listener(feed.on_remote_commit)
            feed.start()
            made.append(Replica(store, engine, hub, feed))
        yield made[0], made[1]
    finally:
        for replica in made:
            await replica.feed.stop()
            await replica.engine.stop()
            await replica.engine.pool.stop()
            await replica.store.close()


async def test_a_queued_run_is_cancelled_from_any_replica(
    replicas: tuple[Replica, Replica],
) -> None:
    a, b = replicas
    workflow = a.engine.definition(DEFINITION, scope=EVERY_TENANT)
    name = "workflowRuns/queued0000000000000000000000000001"
    created = run_pb2.RunEvent(
        run=name,
        seq=1,
        run_created=run_pb2.RunCreated(
            workflow_definition=workflow.name,
            input=struct(STYLE_INPUT),
            steps=[
                run_pb2.StepRun(step_id=s.id, method=s.method.full_name, optional=s.optional)
                for s in workflow.steps.values()
            ],
        ),
    )
    created.run_created.expire_time.FromNanoseconds(time.time_ns() + 60 * 10**9)
    created.time.FromNanoseconds(time.time_ns())
    await a.store.create_run(created, queued=True)

    run = await b.engine.cancel_run(name, "not wanted any more", scope=EVERY_TENANT)

    assert run.state == run_pb2.RUN_STATE_CANCELLED
    assert "not wanted any more" in run.error.message
    assert history_problems(await b.store.read_events(name, scope=EVERY_TENANT)) == []
    assert await b.store.claim_queued_run(name) is None


async def test_waiting_for_a_run_that_executes_on_another_replica(
    replicas: tuple[Replica, Replica],
) -> None:
    a, b = replicas
    run, _ = await a.engine.start_run(RunSpec(DEFINITION, struct(STYLE_INPUT)))
    assert not b.engine.is_active(run.name)

    finished = await b.engine.wait_finished(run.name)

    assert finished.state == run_pb2.RUN_STATE_SUCCEEDED
    assert history_problems(await b.store.read_events(run.name, scope=EVERY_TENANT)) == []


async def test_a_takeover_carries_out_a_cancel_and_fences_off_the_first_owner(
    replicas: tuple[Replica, Replica], empty_pg_dsn: str
) -> None:
    a, b = replicas
    run, _ = await a.engine.start_run(RunSpec(DEFINITION, struct(STYLE_INPUT)))
    # A caller of a waits for the run, as ExecuteWorkflowRun does.
    waiting = asyncio.ensure_future(a.engine.wait_finished(run.name))
    db = await asyncpg.connect(empty_pg_dsn)
    try:
        await db.execute(
            "UPDATE runs SET cancel_reason = 'asked while a was away' WHERE name = $1", run.name
        )
        await db.execute(  # a looks dead to b (its heartbeats are not running here)
            "UPDATE replicas SET heartbeat_at = now() - interval '1 minute' WHERE id = 'a'"
        )
        claims = await b.store.claim_orphans(10)
    finally:
        await db.close()
    assert claims == [Claim(run.name, 2, "asked while a was away")]

    await b.engine.adopt(claims)
    finished = await waiting

    assert finished.state == run_pb2.RUN_STATE_CANCELLED
    assert "asked while a was away" in finished.error.message
    events = await b.store.read_events(run.name, scope=EVERY_TENANT)
    assert history_problems(events) == []
    assert sum(1 for e in events if e.HasField("run_resumed")) == 1
    await eventually(lambda: not a.engine.is_active(run.name))
