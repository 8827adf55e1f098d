"""Event to run start through the real orchestrator: `python -m benchmarks.bus_e2e`.

A mesh (0 ms backends) and `aura serve` with AURA_REDIS_URL; a definition (a copy of
complete_style_analysis) triggered by a topic of this run's own. Each event is published
with PublishEvent, one every 5 ms; its latency is from just before the publish to the
triggered run's `create_time` (its creation committed in the store), both on this host's
clock. The target of issue 13: p50 at most 20 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import secrets
import time
from typing import Any

import grpc
from google.protobuf import struct_pb2

from aura.events.v1 import events_pb2, events_pb2_grpc
from aura.orchestrator.v1 import orchestrator_pb2, orchestrator_pb2_grpc, workflow_pb2
from benchmarks.bus import _percentile, redis_url
from benchmarks.procs import start_mesh, start_orchestrator
from benchmarks.workload import DEFINITION, STYLE_INPUT


async def trigger_to_start(events: int = 200, gap_s: float = 0.005) -> dict[str, Any]:
    topic = f"bench.e2e{secrets.token_hex(4)}"
    mesh, addresses = await start_mesh(0.0)
    orchestrator = await start_orchestrator(addresses, extra_env={"AURA_REDIS_URL": redis_url()})
    try:
        async with grpc.aio.insecure_channel(orchestrator.address) as channel:
            runs = orchestrator_pb2_grpc.OrchestratorServiceStub(channel)
            bus = events_pb2_grpc.EventServiceStub(channel)
            got = await runs.GetWorkflowDefinition(
                orchestrator_pb2.GetWorkflowDefinitionRequest(name=DEFINITION)
            )
            definition = got.workflow_definition
            definition.name = f"workflowDefinitions/bench_triggered_{topic.rpartition('.')[2]}"
            definition.triggers.append(workflow_pb2.Trigger(id="bench", topic=topic))
            await runs.CreateWorkflowDefinition(
                orchestrator_pb2.CreateWorkflowDefinitionRequest(workflow_definition=definition)
            )
            payload = struct_pb2.Struct()
            payload.update(STYLE_INPUT)
            # Warm-up: the trigger consumer learns the new definition, channels connect.
            warm = {"warm-up": time.time()}
            await bus.PublishEvent(
                events_pb2.PublishEventRequest(topic=topic, event_id="warm-up", payload=payload)
            )
            await _creation_latencies(runs, definition.name, warm)
            sent: dict[str, float] = {}
            for n in range(events):
                event_id = f"e-{n}"
                sent[event_id] = time.time()
                await bus.PublishEvent(
                    events_pb2.PublishEventRequest(
                        topic=topic, key=f"k{n}", event_id=event_id, payload=payload
                    )
                )
                await asyncio.sleep(gap_s)
            latencies = await _creation_latencies(runs, definition.name, sent)
    finally:
        await orchestrator.stop()
        await mesh.stop()
    return {
        "events": events,
        "runs_started": len(latencies),
        "p50_ms": round(_percentile(latencies, 0.5) * 1000, 2),
        "p99_ms": round(_percentile(latencies, 0.99) * 1000, 2),
        "max_ms": round(max(latencies) * 1000, 2) if latencies else None,
    }


async def _creation_latencies(
    runs: orchestrator_pb2_grpc.OrchestratorServiceStub, definition: str, sent: dict[str, float]
) -> list[float]:
    """Waits (up to 30 s) until every event started its run; publish -> create_time, the
    run found by the request_id its trigger derives from the event id."""
    by_request = {_request_id(definition, event_id): at for event_id, at in sent.items()}
    deadline = time.monotonic() + 30
    while True:
        listed = await runs.ListWorkflowRuns(
            orchestrator_pb2.ListWorkflowRunsRequest(
                filter=f'workflow_definition = "{definition}"', page_size=1000
            )
        )
        found = sum(1 for run in listed.workflow_runs if run.request_id in by_request)
        if found >= len(sent) or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    return [
        run.create_time.ToNanoseconds() / 1e9 - by_request[run.request_id]
        for run in listed.workflow_runs
        if run.request_id in by_request
    ]


def _request_id(definition: str, event_id: str) -> str:
    """As orchestrator.workflows.triggers derives it (trigger id "bench")."""
    digest = hashlib.sha256("\x1f".join((definition, "bench", event_id)).encode()).hexdigest()
    return f"trigger-{digest[:64]}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bus_e2e", description=__doc__)
    parser.add_argument("--events", type=int, default=200)
    args = parser.parse_args(argv)
    print(json.dumps(asyncio.run(trigger_to_start(args.events)), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
