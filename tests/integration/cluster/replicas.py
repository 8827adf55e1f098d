"""Helpers of the multi-replica tests: replica processes on one PostgreSQL schema, their
runs' histories (the audit of who wrote which event is `benchmarks.cluster_audit`)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import Iterable
from pathlib import Path

import grpc

from aura.orchestrator.v1 import orchestrator_pb2, orchestrator_pb2_grpc, run_pb2
from mock_services.mesh import MockMesh
from orchestrator.cli.processes import wait_serving
from orchestrator.runs import is_final_state
from tests.helpers import REPO_ROOT
from tests.integration.cli_process import SHORT_NAMES, free_port

Stub = orchestrator_pb2_grpc.OrchestratorServiceStub


class ReplicaProcess:
    """`aura serve` on a shared PostgreSQL store, in a child process (killable, pausable)."""

    def __init__(
        self, mesh: MockMesh, dsn: str, replica_id: str, data_dir: Path, lease_s: float
    ) -> None:
        self.replica_id = replica_id
        data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = data_dir / "stderr.log"  # what it logged (WARNING and up)
        port = free_port()
        self.env = dict(
            os.environ,
            AURA_PORT=str(port),
            AURA_DATA_DIR=str(data_dir),
            AURA_STORE_URL=dsn,
            AURA_REPLICA_ID=replica_id,
            AURA_REPLICA_LEASE_S=str(lease_s),
            AURA_LOG_LEVEL="WARNING",
            AURA_METRICS_PORT="off",
            AURA_SHUTDOWN_GRACE_S="1",
        )
        for service, address in mesh.addresses().items():
            self.env[f"AURA_SERVICE_{SHORT_NAMES[service]}_ADDRESSES"] = address
        self.address = f"127.0.0.1:{port}"
        self.process: asyncio.subprocess.Process | None = None
        self.channel: grpc.aio.Channel | None = None

    @property
    def stub(self) -> Stub:
        if self.channel is None:
            self.channel = grpc.aio.insecure_channel(self.address)
        return orchestrator_pb2_grpc.OrchestratorServiceStub(self.channel)

    async def start(self) -> ReplicaProcess:
        with self.log_path.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "orchestrator.cli",
                "serve",
                env=self.env,
                cwd=REPO_ROOT,
                stderr=log,
            )
        serving = asyncio.create_task(wait_serving(self.address, timeout_s=30))
        exited = asyncio.create_task(self.process.wait())
        await asyncio.wait({serving, exited}, return_when=asyncio.FIRST_COMPLETED)
        exited.cancel()
        if not serving.done():
            serving.cancel()
            raise AssertionError(
                f"replica {self.replica_id} exited before serving: {self.log()[-2000:]}"
            )
        serving.result()
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def signal(self, signum: signal.Signals) -> None:
        assert self.process is not None
        self.process.send_signal(signum)

    async def kill(self) -> None:
        self.signal(signal.SIGKILL)
        assert self.process is not None
        await self.process.wait()

    async def close(self) -> None:
        if self.channel is not None:
            await self.channel.close()
            self.channel = None
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), timeout=15)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()


async def start_replicas(
    mesh: MockMesh, dsn: str, tmp_path: Path, names: Iterable[str], lease_s: float
) -> list[ReplicaProcess]:
    replicas = [ReplicaProcess(mesh, dsn, name, tmp_path / name, lease_s) for name in names]
    await asyncio.gather(*(replica.start() for replica in replicas))
    return replicas


async def wait_all_final(
    stub: Stub, names: Iterable[str], timeout_s: float
) -> dict[str, run_pb2.WorkflowRun]:
    """Polls until every run is final; returns them (basic view)."""
    deadline = time.monotonic() + timeout_s
    waiting = set(names)
    done: dict[str, run_pb2.WorkflowRun] = {}
    while waiting:
        for name in list(waiting):
            run = (
                await stub.GetWorkflowRun(orchestrator_pb2.GetWorkflowRunRequest(name=name))
            ).workflow_run
            if is_final_state(run.state):
                done[name] = run
                waiting.discard(name)
        if waiting:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(waiting)} runs not final after {timeout_s}s")
            await asyncio.sleep(0.2)
    return done


def history_problems(events: list[run_pb2.RunEvent]) -> list[str]:
    """What is wrong with a finished run's history: gaps, duplicates, several ends."""
    problems = []
    seqs = [event.seq for event in events]
    if seqs != list(range(1, len(seqs) + 1)):
        problems.append(f"seqs are not 1..{len(seqs)}: {seqs}")
    finished = [event.seq for event in events if event.HasField("run_finished")]
    if len(finished) != 1 or finished[0] != seqs[-1]:
        problems.append(f"run_finished at seqs {finished}, last seq {seqs[-1]}")
    return problems
