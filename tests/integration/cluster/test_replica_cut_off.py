"""A replica cut off from the database (its role may not log in, its connections are
ended) stops executing its runs once its lease is nearly over; the others take them
over; when it can connect again it resumes none of them and writes nothing for them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from aura.orchestrator.v1 import orchestrator_pb2, run_pb2
from benchmarks import cluster_audit as audit
from mock_services.mesh import MockMesh
from tests.helpers import eventually
from tests.integration.cluster.replicas import history_problems, start_replicas, wait_all_final
from tests.integration.orchestrator_helpers import STYLE_INPUT, struct
from tests.postgres_fixtures import PostgresSchema, admin_connect

pytestmark = pytest.mark.integration

LEASE_S = 2.0
RUNS = 6


@pytest.fixture
async def replica_role(postgres_schema: PostgresSchema) -> AsyncIterator[str]:
    """A login role of one replica's own, so the test can cut that replica off."""
    role = f"{postgres_schema.name}_a"
    admin = await admin_connect()
    try:
        await admin.execute(f"CREATE ROLE {role} LOGIN")
        await admin.execute(f"GRANT ALL ON SCHEMA {postgres_schema.name} TO {role}")
        yield role
    finally:
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1", role
        )
        await admin.execute(f"DROP OWNED BY {role} CASCADE")
        await admin.execute(f"DROP ROLE {role}")
        await admin.close()


async def test_a_replica_cut_off_from_the_database_stops_and_its_runs_go_on_elsewhere(
    mesh: MockMesh, postgres_schema: PostgresSchema, replica_role: str, tmp_path: Path
) -> None:
    for service in mesh.servers.values():
        service.faults.latency_ms = 500
    parts = urlsplit(postgres_schema.url)  # the same server and schema, as replica_role
    a_url = urlunsplit(
        parts._replace(netloc=f"{replica_role}@{parts.hostname}:{parts.port or 5432}")
    )
    replicas = await start_replicas(mesh, a_url, tmp_path, ["a"], LEASE_S)
    admin = await admin_connect(postgres_schema.name)
    try:
        await audit.install_audit(admin)
        await admin.execute(
            f"GRANT ALL ON ALL TABLES IN SCHEMA {postgres_schema.name} TO {replica_role}"
        )
        replicas += await start_replicas(mesh, postgres_schema.url, tmp_path, ["b"], LEASE_S)
        a, b = replicas
        request = orchestrator_pb2.StartWorkflowRunRequest(
            workflow_definition="complete_style_analysis", input=struct(STYLE_INPUT)
        )
        started = await asyncio.gather(*(a.stub.StartWorkflowRun(request) for _ in range(RUNS)))
        names = [response.workflow_run.name for response in started]
        await asyncio.sleep(0.3)

        await admin.execute(f"ALTER ROLE {replica_role} NOLOGIN")
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1",
            replica_role,
        )
        await asyncio.sleep(2 * LEASE_S)
        await admin.execute(f"ALTER ROLE {replica_role} LOGIN")

        runs = await wait_all_final(b.stub, names, timeout_s=40)
        # a is back: it resumed what it still owned (nothing), its queued writes were refused.
        await eventually(lambda: "resumed 0 runs nobody took over" in a.log(), timeout_s=10)

        assert {run_pb2.RunState.Name(run.state) for run in runs.values()} == {
            "RUN_STATE_SUCCEEDED"
        }
        writers = await audit.writers_by_run(admin)
        for name in names:
            assert writers[name][0] == "a" and writers[name][-1] == "b", (writers[name], a.log())
        assert await audit.fenced_writes(admin) == 0
        assert await audit.epoch_regressions(admin) == 0
        events = {
            name: [
                run_pb2.RunEvent.FromString(body)
                for body in await admin.fetchval(
                    "SELECT array_agg(e.body ORDER BY e.seq) FROM events e"
                    " JOIN runs r ON r.id = e.run_id WHERE r.name = $1",
                    name,
                )
            ]
            for name in names
        }
        assert all(history_problems(history) == [] for history in events.values())
        assert "executing no run until the store answers again" in a.log()
        assert "Future exception was never retrieved" not in a.log()
    finally:
        await admin.close()
        for replica in replicas:
            await replica.close()
