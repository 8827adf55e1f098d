"""The orchestrator's Prometheus endpoint: counters and histograms move with real runs."""

from __future__ import annotations

import asyncio
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families

from aura.orchestrator.v1 import orchestrator_pb2_grpc, run_pb2
from mock_services.mesh import MockMesh
from orchestrator.server import OrchestratorServer
from orchestrator.telemetry import TelemetrySettings
from tests.integration.orchestrator_helpers import STYLE_INPUT, execute, settings_for

pytestmark = pytest.mark.integration

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
NLU = ("aura.nlu.v1.NluService", "AnalyzeText")


@pytest.fixture
async def served(mesh: MockMesh, tmp_path: Path) -> AsyncIterator[OrchestratorServer]:
    server = OrchestratorServer(
        settings_for(mesh, tmp_path / "data"), TelemetrySettings(metrics_port=0)
    )
    await server.start()
    try:
        yield server
    finally:
        await server.stop(grace_s=0.5)


async def scrape(port: int) -> Samples:
    def fetch() -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("text/plain")
            return str(response.read().decode())

    text = await asyncio.to_thread(fetch)
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def test_metrics_count_runs_attempts_retries_and_latencies(
    served: OrchestratorServer, mesh: MockMesh
) -> None:
    assert served.metrics_port
    before = await scrape(served.metrics_port)
    assert value(before, "aura_runs_started_total", definition="complete_style_analysis") == 0
    mesh["nlu"].faults.fail_next = 1  # one UNAVAILABLE, retried

    async with grpc.aio.insecure_channel(served.address) as channel:
        stub = orchestrator_pb2_grpc.OrchestratorServiceStub(channel)
        runs = [await execute(stub, "complete_style_analysis", STYLE_INPUT) for _ in range(3)]
    assert all(run.state == run_pb2.RUN_STATE_SUCCEEDED for run in runs)

    after = await scrape(served.metrics_port)
    definition = "complete_style_analysis"
    assert value(after, "aura_runs_started_total", definition=definition) == 3
    assert value(after, "aura_runs_finished_total", definition=definition, state="SUCCEEDED") == 3
    assert (
        value(after, "aura_run_duration_seconds_count", definition=definition, state="SUCCEEDED")
        == 3
    )
    service, method = NLU
    assert value(after, "aura_step_attempts_total", service=service, method=method, code="OK") == 3
    assert (
        value(after, "aura_step_attempts_total", service=service, method=method, code="UNAVAILABLE")
        == 1
    )
    assert value(after, "aura_step_retries_total", service=service, method=method) == 1
    attempts = value(
        after, "aura_step_attempt_duration_seconds_count", service=service, method=method
    )
    assert attempts == 4
    assert (
        value(after, "aura_step_attempt_duration_seconds_sum", service=service, method=method) > 0
    )
    assert (
        value(
            after,
            "aura_step_attempt_duration_seconds_bucket",
            service=service,
            method=method,
            le="+Inf",
        )
        == 4
    )
    assert (
        value(after, "aura_steps_finished_total", service=service, method=method, state="SUCCEEDED")
        == 3
    )
    assert value(after, "aura_backend_calls_in_flight", service=service) == 0
    assert value(after, "aura_runs_in_flight") == 0
    assert value(after, "aura_replica_owned_runs", replica="local") == 0
    assert value(after, "aura_event_subscribers") == 0
    assert value(after, "aura_store_committed_events_total") > value(
        before, "aura_store_committed_events_total"
    )
    assert value(after, "aura_store_commit_latency_seconds_count") > 0
    assert value(after, "process_resident_memory_bytes") > 0


async def test_breaker_hook_sets_state_and_counts_trips(served: OrchestratorServer) -> None:
    assert served.metrics_port
    metrics = served.metrics
    metrics.observe_breaker_state("aura.nlu.v1.NluService", "127.0.0.1:1", "open")
    metrics.observe_breaker_state("aura.nlu.v1.NluService", "127.0.0.1:1", "half_open")
    samples = await scrape(served.metrics_port)
    labels = {"service": "aura.nlu.v1.NluService", "endpoint": "127.0.0.1:1"}
    assert value(samples, "aura_breaker_state", **labels) == 1
    assert value(samples, "aura_breaker_trips_total", **labels) == 1
