"""A full disk under a running orchestrator: runs pause, none is lost, readiness follows.

The fault is a real SQLITE_FULL ("database or disk is full"), made two ways: `PRAGMA
max_page_count` on the store's writer connection caps the file at its size (raising it
frees the space), and, where the tests run as root, a small tmpfs holding the data
directory is filled to the last byte by another file (deleting it frees the space).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import sqlite3
import subprocess
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status

from aura.orchestrator.v1 import orchestrator_pb2, orchestrator_pb2_grpc, run_pb2
from mock_services.mesh import MockMesh
from orchestrator.server import SERVICE_NAME, OrchestratorServer
from orchestrator.store import SqliteRunStore
from tests.helpers import eventually
from tests.integration.orchestrator_helpers import (
    STYLE_INPUT,
    Stub,
    collect_events,
    settings_for,
    struct,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

RUNS_IN_FLIGHT = 24
UNLIMITED_PAGES = 1_073_741_823
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


@dataclass
class Disk:
    data_dir: Path
    fill: Callable[[SqliteRunStore], None]
    free: Callable[[SqliteRunStore], None]


def cap_pages(store: SqliteRunStore) -> None:
    db = store._writer._db  # type: ignore[union-attr]
    db.execute("PRAGMA max_page_count = 1")  # clamped to the pages the file has now


def uncap_pages(store: SqliteRunStore) -> None:
    with contextlib.suppress(sqlite3.ProgrammingError):  # closed already: nothing to free
        store._writer._db.execute(f"PRAGMA max_page_count = {UNLIMITED_PAGES}")  # type: ignore[union-attr]


def fill_to_the_last_byte(filler: Path) -> None:
    try:
        with filler.open("wb", buffering=0) as file:
            while True:
                file.write(b"\0" * 4096)
    except OSError:
        pass  # ENOSPC: the disk is full


@pytest.fixture(params=["max_page_count", "full_tmpfs"])
def disk(request: pytest.FixtureRequest, tmp_path: Path) -> object:
    data_dir = tmp_path / "data"
    if request.param == "max_page_count":
        yield Disk(data_dir, cap_pages, uncap_pages)
        return
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("a tmpfs of our own needs root and mount(8)")
    data_dir.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(data_dir)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    filler = data_dir / "filler"
    try:
        yield Disk(
            data_dir,
            lambda _: fill_to_the_last_byte(filler),
            lambda _: filler.unlink(missing_ok=True),
        )
    finally:
        subprocess.run(["umount", "--lazy", str(data_dir)], check=False)


@pytest.fixture
async def server(mesh: MockMesh, disk: Disk) -> AsyncIterator[OrchestratorServer]:
    for backend in mesh.servers.values():
        backend.faults.latency_ms = 60  # runs stay in flight while the disk fills
    orchestrator = OrchestratorServer(settings_for(mesh, disk.data_dir))
    await orchestrator.start()
    try:
        yield orchestrator
    finally:
        disk.free(orchestrator.store)  # a stop waits for the runs' events to be written
        await orchestrator.stop(grace_s=0.5)


async def start(stub: Stub, index: int) -> str:
    response = await stub.StartWorkflowRun(
        orchestrator_pb2.StartWorkflowRunRequest(
            workflow_definition="complete_style_analysis",
            input=struct(dict(STYLE_INPUT, user_id=f"user-{index}")),
        ),
        timeout=10,
    )
    return response.workflow_run.name


def error_details(error: grpc.aio.AioRpcError) -> dict[str, object]:
    status = rpc_status.from_call(error)
    assert status is not None, "the error carries google.rpc.Status details"
    found: dict[str, object] = {}
    for detail in status.details:
        for kind in (error_details_pb2.ErrorInfo, error_details_pb2.RetryInfo):
            if detail.Is(kind.DESCRIPTOR):
                message = kind()
                detail.Unpack(message)
                found[kind.DESCRIPTOR.name] = message
    return found


async def test_a_full_disk_pauses_runs_refuses_starts_and_loses_nothing_once_space_is_freed(
    server: OrchestratorServer, disk: Disk
) -> None:
    async with grpc.aio.insecure_channel(server.address) as channel:
        stub = orchestrator_pb2_grpc.OrchestratorServiceStub(channel)
        health = health_pb2_grpc.HealthStub(channel)

        async def readiness(service: str = SERVICE_NAME) -> int:
            request = health_pb2.HealthCheckRequest(service=service)
            return (await health.Check(request, timeout=5)).status

        acknowledged = [await start(stub, index) for index in range(RUNS_IN_FLIGHT)]
        disk.fill(server.store)

        # Starts go on being acknowledged until the store finds out; then they are refused.
        refusal: grpc.aio.AioRpcError | None = None
        for index in range(RUNS_IN_FLIGHT, RUNS_IN_FLIGHT + 500):
            try:
                acknowledged.append(await start(stub, index))
            except grpc.aio.AioRpcError as error:
                refusal = error
                break
            await asyncio.sleep(0.01)
        assert refusal is not None, "starts were still acknowledged with the disk full"
        assert refusal.code() == grpc.StatusCode.UNAVAILABLE, refusal
        found = error_details(refusal)
        assert found["ErrorInfo"].reason == "STORE_UNAVAILABLE"  # type: ignore[attr-defined]
        assert "RetryInfo" in found
        assert await readiness() == NOT_SERVING
        assert await readiness("") == SERVING  # alive: a restart would not help
        await asyncio.sleep(0.5)  # commits are retried and fail meanwhile
        assert await readiness() == NOT_SERVING
        assert server.engine.active_run_count > 0, "no run was in flight when the disk filled"

        disk.free(server.store)

        await eventually(
            lambda: readiness_is(health, SERVING), timeout_s=20, message="readiness never returned"
        )
        for name in acknowledged:
            events = await asyncio.wait_for(collect_events(stub, name), timeout=30)
            assert [event.seq for event in events] == list(range(1, len(events) + 1)), name
            assert events[-1].run_finished.state == run_pb2.RUN_STATE_SUCCEEDED, name
        assert await start(stub, 0)


async def readiness_is(health: health_pb2_grpc.HealthStub, status: int) -> bool:
    request = health_pb2.HealthCheckRequest(service=SERVICE_NAME)
    response = await health.Check(request, timeout=5)
    return bool(response.status == status)


async def test_a_stop_while_the_disk_is_full_does_not_wait_for_space(
    server: OrchestratorServer, disk: Disk
) -> None:
    async with grpc.aio.insecure_channel(server.address) as channel:
        stub = orchestrator_pb2_grpc.OrchestratorServiceStub(channel)
        for index in range(RUNS_IN_FLIGHT):
            await start(stub, index)
    disk.fill(server.store)
    await eventually(lambda: not server.store.writable, timeout_s=10)

    await asyncio.wait_for(server.stop(grace_s=0.5), timeout=15)
    assert not server.engine.active_run_count  # they resume from the store on the next start
