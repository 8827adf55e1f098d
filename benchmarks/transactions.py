"""`python -m benchmarks.transactions`: what two-phase commit costs on loopback.

The three participating mocks run as their own process (`python -m mock_services.listen`,
durable SQLite in a temporary directory, synchronous=FULL); the orchestrator runs in this
process (SQLite store, default durability "normal", so its `forced_syncs` counter can be
read), and so does the load generator: `ExecuteWorkflowRun` back to back, alternating
between two definitions with the same steps (a stock read, then the three adopt-an-outfit
changes in parallel):

- `bench_adopt_txn`: the three changes as one transaction group (Prepare ∥, forced
  decision, Commit ∥);
- `bench_adopt_plain`: the same three calls made directly, no transaction.

Reports p50/p99 of each, the p50 overhead, round trips per participant (from the runs'
histories: one Prepare plus the phase-two calls of each branch) and forced syncs per
transaction (the store's counter). Targets (issue 14): at most 2 round trips per
participant, 1 forced sync, p50 overhead at most 10 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import struct_pb2

from aura.orchestrator.v1 import orchestrator_pb2, orchestrator_pb2_grpc, run_pb2
from benchmarks.loadgen import percentile
from orchestrator.config import Settings
from orchestrator.server import OrchestratorServer
from orchestrator.telemetry import TelemetrySettings
from orchestrator.workflows import parse_definition

ROOT = Path(__file__).resolve().parent.parent
SERVICES = {
    "style": "aura.style.v1.StyleProfileService",
    "combination": "aura.combination.v1.CombinationEngineService",
    "recommendation": "aura.recommendation.v1.RecommendationEngineService",
}
STEPS = """
steps:
  - id: stock
    method: aura.recommendation.v1.RecommendationEngineService/GetStock
    inputs: {skus: {ref: input.item_skus}}
  - id: learn
    method: aura.style.v1.StyleProfileService/LearnAdoptedOutfit
    depends_on: [stock]
    inputs: {user_id: {ref: input.user_id}, outfit_id: {ref: input.outfit_id},
             item_skus: {ref: input.item_skus}}
  - id: wardrobe
    method: aura.combination.v1.CombinationEngineService/SaveOutfit
    depends_on: [stock]
    inputs: {user_id: {ref: input.user_id}, outfit_id: {ref: input.outfit_id},
             item_skus: {ref: input.item_skus}}
  - id: feedback
    method: aura.recommendation.v1.RecommendationEngineService/RecordFeedback
    depends_on: [stock]
    inputs: {user_id: {ref: input.user_id}, outfit_id: {ref: input.outfit_id},
             item_skus: {ref: input.item_skus}}
"""
TXN = (
    "name: workflowDefinitions/bench_adopt_txn\n"
    + STEPS
    + ("transactions:\n  - {id: adopt, steps: [learn, wardrobe, feedback]}\n")
)
PLAIN = "name: workflowDefinitions/bench_adopt_plain\n" + STEPS


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def _start_mocks(data_dir: Path) -> tuple[asyncio.subprocess.Process, dict[str, str]]:
    addresses = {name: f"127.0.0.1:{_free_port()}" for name in SERVICES}
    env = dict(
        os.environ,
        AURA_MOCK_DATA_DIR=str(data_dir),
        AURA_MOCK_STOCK_UNITS="100000000",
        AURA_MOCK_LOG_LEVEL="WARNING",
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "mock_services.listen",
        *(f"{name}={address}" for name, address in addresses.items()),
        env=env,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    for _ in SERVICES:  # one line per server once it listens
        await asyncio.wait_for(process.stdout.readline(), timeout=30)
    return process, {SERVICES[name]: address for name, address in addresses.items()}


async def _execute(stub: Any, definition: str) -> tuple[float, run_pb2.WorkflowRun]:
    run_input = struct_pb2.Struct()
    run_input.update(
        {"user_id": "bench", "outfit_id": uuid.uuid4().hex, "item_skus": ["TOP-001", "BTM-001"]}
    )
    began = time.perf_counter()
    answer = await stub.ExecuteWorkflowRun(
        orchestrator_pb2.ExecuteWorkflowRunRequest(workflow_definition=definition, input=run_input),
        timeout=30,
    )
    elapsed_ms = (time.perf_counter() - began) * 1000
    run = answer.workflow_run
    if run.state != run_pb2.RUN_STATE_SUCCEEDED:
        raise RuntimeError(f"{definition} run {run.name} ended {run.state}: {run.error.message}")
    return elapsed_ms, run


async def measure(runs: int, warmup: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="aura-bench-txn-") as tmp:
        mocks, addresses = await _start_mocks(Path(tmp) / "mocks")
        settings = Settings(
            port=0,
            data_dir=Path(tmp) / "orchestrator",
            service_addresses={service: [address] for service, address in addresses.items()},
            telemetry=TelemetrySettings(),  # no metrics endpoint
        )
        server = OrchestratorServer(settings)
        try:
            await server.start()
            async with grpc.aio.insecure_channel(server.address) as channel:
                stub = orchestrator_pb2_grpc.OrchestratorServiceStub(channel)
                for text in (TXN, PLAIN):
                    await stub.CreateWorkflowDefinition(
                        orchestrator_pb2.CreateWorkflowDefinitionRequest(
                            workflow_definition=parse_definition(text)
                        )
                    )
                for _ in range(warmup):
                    await _execute(stub, "bench_adopt_txn")
                    await _execute(stub, "bench_adopt_plain")
                syncs_before = server.store.forced_syncs  # type: ignore[attr-defined]
                latencies: dict[str, list[float]] = {"txn": [], "plain": []}
                round_trips: list[int] = []
                for _ in range(runs):
                    elapsed_ms, run = await _execute(stub, "bench_adopt_txn")
                    latencies["txn"].append(elapsed_ms)
                    round_trips.extend(
                        1 + b.phase_two_attempts for b in run.transactions[0].branches
                    )
                    elapsed_ms, _ = await _execute(stub, "bench_adopt_plain")
                    latencies["plain"].append(elapsed_ms)
                forced = server.store.forced_syncs - syncs_before  # type: ignore[attr-defined]
        finally:
            await server.stop(grace_s=1.0)
            mocks.terminate()
            await mocks.wait()
    txn_p50, plain_p50 = percentile(latencies["txn"], 50), percentile(latencies["plain"], 50)
    return {
        "runs_each": runs,
        "txn_ms": {"p50": txn_p50, "p99": percentile(latencies["txn"], 99)},
        "plain_ms": {"p50": plain_p50, "p99": percentile(latencies["plain"], 99)},
        "p50_overhead_ms": txn_p50 - plain_p50,
        "round_trips_per_participant_max": max(round_trips),
        "round_trips_per_participant_mean": sum(round_trips) / len(round_trips),
        "forced_syncs_per_transaction": forced / runs,
        "checks": {
            "round_trips<=2": max(round_trips) <= 2,
            "forced_syncs<=1": forced / runs <= 1,
            "p50_overhead<=10ms": txn_p50 - plain_p50 <= 10,
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.transactions", description=__doc__)
    parser.add_argument("--runs", type=int, default=300, help="runs of each definition (300)")
    parser.add_argument("--warmup", type=int, default=20, help="unmeasured runs of each first")
    parser.add_argument("--out", help="write the results as JSON to this file")
    args = parser.parse_args(argv)
    results = asyncio.run(measure(args.runs, args.warmup))
    print(
        f"transaction p50 {results['txn_ms']['p50']:.2f} ms (p99 {results['txn_ms']['p99']:.2f})"
        f" | plain p50 {results['plain_ms']['p50']:.2f} ms (p99 {results['plain_ms']['p99']:.2f})"
        f" | p50 overhead {results['p50_overhead_ms']:.2f} ms"
        f" | round trips per participant {results['round_trips_per_participant_max']}"
        f" | forced syncs per transaction {results['forced_syncs_per_transaction']:.2f}"
    )
    for check, ok in results["checks"].items():
        print(f"  {check}: {'ok' if ok else 'MISSED'}")
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2))
    return 0 if all(results["checks"].values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
