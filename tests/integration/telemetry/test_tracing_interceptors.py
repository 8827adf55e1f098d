"""Tracing is passed to servers and channels where they are made: nothing in grpc is patched,
so a channel made elsewhere stays untraced, and the mock services trace without the
orchestrator's telemetry."""

from __future__ import annotations

import ast
import inspect
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from aura.orchestrator.v1 import orchestrator_pb2_grpc, run_pb2
from mock_services.common import tracing as mock_tracing
from mock_services.mesh import MockMesh
from orchestrator.server import OrchestratorServer
from orchestrator.telemetry import TelemetrySettings, configure_tracing, uninstrument_grpc
from tests.integration.orchestrator_helpers import STYLE_INPUT, execute, settings_for

pytestmark = pytest.mark.integration
EXPORTER = InMemorySpanExporter()
_exporter_added = False


@pytest.fixture
def spans(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemorySpanExporter]:
    global _exporter_added
    monkeypatch.setenv("AURA_TRACING", "1")
    original_server, original_channel = grpc.aio.server, grpc.aio.insecure_channel
    configure_tracing(
        TelemetrySettings(tracing=True), exporter=None if _exporter_added else EXPORTER
    )
    _exporter_added = True
    EXPORTER.clear()
    try:
        assert grpc.aio.server is original_server, "grpc.aio.server is not patched"
        assert grpc.aio.insecure_channel is original_channel, "insecure_channel is not patched"
        yield EXPORTER
    finally:
        uninstrument_grpc()


async def test_only_the_channels_the_orchestrator_makes_are_traced(
    spans: InMemorySpanExporter, tmp_path: Path
) -> None:
    async with MockMesh() as mesh:
        server = OrchestratorServer(settings_for(mesh, tmp_path / "data"))
        await server.start()
        try:
            # This test's own channel: made here, so without the orchestrator's interceptors.
            async with grpc.aio.insecure_channel(server.address) as channel:
                stub = orchestrator_pb2_grpc.OrchestratorServiceStub(channel)
                run = await execute(stub, "complete_style_analysis", STYLE_INPUT)
        finally:
            await server.stop(grace_s=0.5)

    assert run.state == run_pb2.RUN_STATE_SUCCEEDED
    finished = spans.get_finished_spans()
    clients = [s for s in finished if s.kind == SpanKind.CLIENT]
    assert clients and not any(s.name.endswith("ExecuteWorkflowRun") for s in clients)
    assert {s.name.rsplit("/", 1)[-1] for s in clients} >= {"AnalyzeImage", "AnalyzeText"}
    [rpc] = [
        s for s in finished if s.kind == SpanKind.SERVER and s.name.endswith("ExecuteWorkflowRun")
    ]
    assert rpc.parent is None, "no client span from the test's channel"


def test_the_mock_services_trace_without_the_orchestrators_telemetry() -> None:
    script = (
        "import sys, asyncio\n"
        "from mock_services.common.server import MockServer\n"
        "async def main():\n"
        "    await MockServer('nlu').stop(0)\n"
        "asyncio.run(main())\n"
        "from opentelemetry import trace\n"
        "print(type(trace.get_tracer_provider()).__name__)\n"
        "telemetry = sys.modules.get('orchestrator.telemetry')\n"
        "print(telemetry is not None and telemetry.tracing_on())\n"
    )
    env = {"AURA_TRACING": "1", "PATH": "/usr/bin:/bin", "PYTHONPATH": str(Path.cwd())}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60
    )

    assert done.returncode == 0, done.stderr
    provider, orchestrator_tracing = done.stdout.split("\n")[:2]
    assert provider == "TracerProvider", "the mocks set up tracing themselves"
    assert orchestrator_tracing == "False", "the orchestrator's tracing is left alone"
    tree = ast.parse(inspect.getsource(mock_tracing))
    imported = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    imported += [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    assert not {name for name in imported if name.startswith("orchestrator")}
