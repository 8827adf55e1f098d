"""Disk use of the run store per 1,000 complete_style_analysis runs (the README's figure).

`.venv/bin/pytest -s tests/integration/store/test_storage_disk_use.py` prints the measurement.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
import pytest

from aura.orchestrator.v1 import orchestrator_pb2_grpc, run_pb2
from mock_services.mesh import MockMesh
from orchestrator.server import OrchestratorServer
from tests.integration.orchestrator_helpers import STYLE_INPUT, execute, settings_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]

RUNS = 1000
CONCURRENCY = 50
# Generous: the measured figure is in the README; this catches a regression of 2x.
MAX_BYTES_PER_RUN = 12_000


def store_bytes(data_dir: Path) -> int:
    return sum(path.stat().st_size for path in data_dir.glob("aura.db*"))


@pytest.mark.timeout(300)
async def test_disk_use_per_thousand_runs(mesh: MockMesh, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    server = OrchestratorServer(settings_for(mesh, data_dir))
    await server.start()
    empty = store_bytes(data_dir)
    try:
        async with grpc.aio.insecure_channel(server.address) as channel:
            stub = orchestrator_pb2_grpc.OrchestratorServiceStub(channel)
            slots = asyncio.Semaphore(CONCURRENCY)

            async def one(index: int) -> int:
                async with slots:
                    run = await execute(
                        stub, "complete_style_analysis", dict(STYLE_INPUT, user_id=f"u{index}")
                    )
                    return run.state

            states = await asyncio.gather(*(one(index) for index in range(RUNS)))
    finally:
        await server.stop(grace_s=0.5)  # the last connection out checkpoints the WAL
    assert states.count(run_pb2.RUN_STATE_SUCCEEDED) == RUNS

    used = store_bytes(data_dir) - empty
    print(f"\n{RUNS} complete_style_analysis runs: {used / 1e6:.2f} MB ({used / RUNS:.0f} B a run)")
    assert used / RUNS <= MAX_BYTES_PER_RUN
