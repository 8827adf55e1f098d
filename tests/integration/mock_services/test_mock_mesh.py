"""The five mocks together, in process and as `python -m mock_services.<name>`."""

from __future__ import annotations

import asyncio
import signal
import sys

import grpc
import pytest
from grpc_health.v1 import health_pb2

from aura.nlu.v1 import nlu_pb2, nlu_pb2_grpc
from mock_services import SERVICE_PORTS, FaultConfig, MockMesh
from tests.helpers import REPO_ROOT
from tests.integration.mock_helpers import health_stub

pytestmark = pytest.mark.integration


async def test_the_mesh_runs_all_five_services_on_their_own_ports(mesh: MockMesh) -> None:
    addresses = mesh.addresses()
    assert set(addresses) == {
        "aura.image.v1.ImageProcessingService",
        "aura.nlu.v1.NluService",
        "aura.style.v1.StyleProfileService",
        "aura.combination.v1.CombinationEngineService",
        "aura.recommendation.v1.RecommendationEngineService",
    }
    assert set(mesh.servers) == set(SERVICE_PORTS)
    assert len({server.port for server in mesh.servers.values()}) == 5
    for service_name, address in addresses.items():
        async with grpc.aio.insecure_channel(address) as channel:
            request = health_pb2.HealthCheckRequest(service=service_name)
            response = await health_stub(channel).Check(request)
            assert response.status == health_pb2.HealthCheckResponse.SERVING


async def test_faults_can_be_given_per_service() -> None:
    faults = {"nlu": FaultConfig(error_rate=1.0, error_code=grpc.StatusCode.INTERNAL)}
    async with MockMesh(faults=faults) as mesh:
        assert mesh["nlu"].faults.error_rate == 1.0
        assert mesh["image"].faults == FaultConfig()
        async with grpc.aio.insecure_channel(mesh["nlu"].address) as channel:
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await nlu_pb2_grpc.NluServiceStub(channel).AnalyzeText(
                    nlu_pb2.AnalyzeTextRequest(text="hi")
                )
        assert caught.value.code() == grpc.StatusCode.INTERNAL


def test_faults_for_an_unknown_service_are_refused() -> None:
    with pytest.raises(ValueError, match="weather"):
        MockMesh(faults={"weather": FaultConfig()})


async def test_a_single_mock_runs_as_a_module_and_stops_on_sigterm() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "mock_services.nlu",
        "--port",
        "0",
        "--latency-ms",
        "5",
        cwd=REPO_ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), timeout=20)).decode()
        name, service_name, address = line.split()
        assert (name, service_name) == ("nlu", "aura.nlu.v1.NluService")
        async with grpc.aio.insecure_channel(address) as channel:
            response = await nlu_pb2_grpc.NluServiceStub(channel).AnalyzeText(
                nlu_pb2.AnalyzeTextRequest(text="a wedding in June")
            )
        assert response.occasion != 0
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), timeout=10) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_a_taken_port_makes_the_module_exit_with_an_error() -> None:
    async with MockMesh() as mesh:
        busy_port = mesh["nlu"].port
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "mock_services.nlu",
            "--port",
            str(busy_port),
            cwd=REPO_ROOT,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=20)
    assert process.returncode == 1
    assert b"cannot listen" in stderr
