"""`aura run --priority` starts the run with that priority; a run that had to wait in
the queue still streams to its end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mock_services.mesh import MockMesh
from tests.integration.cli_process import aura
from tests.integration.queue.queue_helpers import TEXT_INPUT, define, orchestrator_with, start

pytestmark = pytest.mark.integration


async def test_run_with_a_priority_waits_in_the_queue_and_streams_to_its_end(
    mesh: MockMesh, tmp_path: Path
) -> None:
    mesh["nlu"].faults.latency_ms = 300
    async with orchestrator_with(mesh, tmp_path, max_active_runs=1) as (server, stub):
        definition = await define(stub, "from_cli")
        await start(stub, definition)  # takes the one slot: the CLI's run is queued
        result = await aura(
            "run",
            "from_cli",
            "--input",
            json.dumps(TEXT_INPUT),
            "--priority",
            "7",
            "--json",
            "--address",
            server.address,
        )

    assert result.code == 0, result.stderr
    run = json.loads(result.stdout)
    assert run["state"] == "RUN_STATE_SUCCEEDED"
    assert run["priority"] == 7
    assert "run_created" in result.stderr and "run_started" in result.stderr
