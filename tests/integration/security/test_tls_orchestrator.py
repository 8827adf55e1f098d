"""`aura serve` with TLS on its port (mTLS: callers present a certificate of the CA), made
with `aura certs`: a run and its Watch stream over TLS, the `aura` client commands over TLS,
and plaintext or certificate-less callers refused while the server keeps serving."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from aura.orchestrator.v1 import orchestrator_pb2, orchestrator_pb2_grpc, run_pb2
from mock_services.mesh import MockMesh
from orchestrator.security import channel_credentials, client_channel
from tests.integration.cli_process import OrchestratorProcess, aura, clean_env, free_port
from tests.integration.orchestrator_helpers import STYLE_INPUT, collect_events, struct

pytestmark = pytest.mark.integration


@dataclass
class TlsOrchestrator:
    process: OrchestratorProcess
    client_env: dict[str, str]
    certs: Path

    @property
    def address(self) -> str:
        return self.process.address


def _exports(stdout: str) -> dict[str, str]:
    """The `export A=x B=y` lines `aura certs` prints, as one mapping."""
    pairs = [
        word.split("=", 1)
        for line in stdout.splitlines()
        if line.startswith("export ")
        for word in line.split()[1:]
    ]
    return dict(pairs)


@pytest.fixture(name="tls_orchestrator")
async def tls_orchestrator_fixture(
    mesh: MockMesh, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[TlsOrchestrator]:
    certs = tmp_path / "certs"
    made = await aura("certs", "--dir", str(certs))
    assert made.code == 0, made.stderr
    exported = _exports(made.stdout)
    server = {k: v for k, v in exported.items() if k in {"AURA_TLS_CERT", "AURA_TLS_KEY"}}
    server["AURA_TLS_CLIENT_CA"] = exported["AURA_TLS_CLIENT_CA"]
    client = {k: v for k, v in exported.items() if k.startswith("AURA_TLS_") and k not in server}
    assert set(client) == {"AURA_TLS_CA", "AURA_TLS_CLIENT_CERT", "AURA_TLS_CLIENT_KEY"}

    process = OrchestratorProcess(mesh, tmp_path / "data", free_port())
    process.env.update(server)
    for name, value in client.items():  # the test's own readiness probe speaks TLS too
        monkeypatch.setenv(name, value)
    await process.start()
    try:
        yield TlsOrchestrator(process, client, certs)
    finally:
        await process.terminate()


async def test_a_run_and_its_watch_stream_go_over_mutual_tls(
    tls_orchestrator: TlsOrchestrator,
) -> None:
    async with client_channel(tls_orchestrator.address, tls_orchestrator.client_env) as channel:
        stub = orchestrator_pb2_grpc.OrchestratorServiceStub(channel)
        started = await stub.StartWorkflowRun(
            orchestrator_pb2.StartWorkflowRunRequest(
                workflow_definition="complete_style_analysis", input=struct(STYLE_INPUT)
            )
        )
        events = await asyncio.wait_for(collect_events(stub, started.workflow_run.name), 20)
        assert events[-1].HasField("run_finished")
        run = await stub.GetWorkflowRun(
            orchestrator_pb2.GetWorkflowRunRequest(name=started.workflow_run.name)
        )
        assert run.workflow_run.state == run_pb2.RUN_STATE_SUCCEEDED
        health = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
        assert health.status == health_pb2.HealthCheckResponse.SERVING


async def test_the_aura_client_commands_connect_with_tls(
    tls_orchestrator: TlsOrchestrator,
) -> None:
    env = clean_env(AURA_ADDRESS=tls_orchestrator.address, **tls_orchestrator.client_env)
    probe = await aura("health", "--address", tls_orchestrator.address, env=env)
    assert probe.code == 0, probe.stdout + probe.stderr
    listing = await aura("definitions", env=env)
    assert listing.code == 0, listing.stderr
    assert "complete_style_analysis" in listing.stdout
    plain = await aura("definitions", env=clean_env(AURA_ADDRESS=tls_orchestrator.address))
    assert plain.code == 1, "without AURA_TLS_CA the client speaks plaintext and is refused"


async def _health_code(address: str, channel: grpc.aio.Channel) -> grpc.StatusCode:
    async with channel:
        try:
            await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=5
            )
        except grpc.aio.AioRpcError as error:
            return error.code()
        return grpc.StatusCode.OK


async def test_plaintext_and_certificate_less_callers_are_refused_and_serving_goes_on(
    tls_orchestrator: TlsOrchestrator,
) -> None:
    address, ca = tls_orchestrator.address, tls_orchestrator.certs / "ca.crt"
    plaintext = grpc.aio.insecure_channel(address)
    assert await _health_code(address, plaintext) == grpc.StatusCode.UNAVAILABLE
    no_certificate = grpc.aio.secure_channel(address, channel_credentials(ca))
    assert await _health_code(address, no_certificate) == grpc.StatusCode.UNAVAILABLE
    trusted = client_channel(address, tls_orchestrator.client_env)
    assert await _health_code(address, trusted) == grpc.StatusCode.OK
