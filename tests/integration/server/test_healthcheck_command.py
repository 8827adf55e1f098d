"""The health checks the Dockerfile and the Kubernetes manifests use, against a real orchestrator.

Docker runs the Dockerfile's HEALTHCHECK command (`aura health ...`); Kubernetes calls
grpc.health.v1 Check itself with the service names in deploy/kubernetes/orchestrator.yaml.
Both are read from those files here, so a change there is tested as it is.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from aura.orchestrator.v1 import orchestrator_pb2, orchestrator_pb2_grpc
from mock_services.mesh import MockMesh
from orchestrator.cli.processes import EXIT_MARGIN_S
from orchestrator.config import unknown_variables
from orchestrator.security import make_signing_key
from orchestrator.server import OrchestratorServer
from tests.helpers import REPO_ROOT
from tests.integration.security.secured_settings import secured_settings
from tests.integration.server.deploy_manifests import orchestrator_container

pytestmark = pytest.mark.integration

VENV_BIN = Path(sys.executable).parent


def dockerfile_healthcheck() -> list[str]:
    """The exec-form command of the Dockerfile's HEALTHCHECK."""
    text = (REPO_ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    match = re.search(r"^HEALTHCHECK\b.*?\bCMD\s+(\[.*\])\s*$", text, re.MULTILINE)
    assert match, "the Dockerfile has an exec-form HEALTHCHECK"
    command: list[str] = json.loads(match.group(1))
    return command


async def run_healthcheck(address: str) -> tuple[int, str]:
    command = dockerfile_healthcheck()
    assert command[0] == "aura"
    process = await asyncio.create_subprocess_exec(
        str(VENV_BIN / "aura"),
        *command[1:],
        env={**os.environ, "AURA_ADDRESS": address},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=20)
    assert process.returncode is not None
    return process.returncode, output.decode()


async def test_docker_healthcheck_passes_while_serving_and_fails_while_draining(
    orchestrator: OrchestratorServer,
) -> None:
    code, output = await run_healthcheck(orchestrator.address)
    assert code == 0, output
    assert "SERVING" in output

    await orchestrator.health.enter_graceful_shutdown()  # what stop() does first
    code, output = await run_healthcheck(orchestrator.address)
    assert code == 1, output
    assert "NOT_SERVING" in output


async def test_docker_healthcheck_fails_when_nothing_listens() -> None:
    code, output = await run_healthcheck("127.0.0.1:1")
    assert code == 1
    assert "UNAVAILABLE" in output


@pytest.fixture(name="secured_orchestrator")
async def secured_orchestrator_fixture(
    mesh: MockMesh, tmp_path: Path
) -> AsyncIterator[OrchestratorServer]:
    """As the manifest runs it: mTLS and bearer tokens on the main port, plus the health port."""
    _, public = make_signing_key(tmp_path / "keys")
    settings = secured_settings(mesh, tmp_path, public, health_port=0).settings
    server = await OrchestratorServer(settings).start()
    try:
        yield server
    finally:
        await server.stop(0.5)


async def test_kubernetes_grpc_probes_answer_serving_on_the_plaintext_health_port(
    secured_orchestrator: OrchestratorServer,
) -> None:
    _, container, config = orchestrator_container()
    probes = {
        kind: container[kind]["grpc"]
        for kind in ("startupProbe", "livenessProbe", "readinessProbe")
    }
    assert probes["livenessProbe"]["service"] == "", 'liveness is the "" service'
    assert probes["readinessProbe"]["service"] == "aura.orchestrator.v1.OrchestratorService"
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert all(probe["port"] == ports["health"] for probe in probes.values())
    assert int(config["AURA_HEALTH_PORT"]) == ports["health"], "the probes check that port"
    server = secured_orchestrator
    assert server.health_port
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.health_port}") as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for kind, probe in probes.items():
            response = await health.Check(
                health_pb2.HealthCheckRequest(service=probe["service"]), timeout=2
            )
            assert response.status == health_pb2.HealthCheckResponse.SERVING, kind
        other = orchestrator_pb2_grpc.OrchestratorServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await other.ListWorkflowRuns(orchestrator_pb2.ListWorkflowRunsRequest(), timeout=2)
        assert refused.value.code() == grpc.StatusCode.UNIMPLEMENTED, "health only"
        await server.health.enter_graceful_shutdown()
        ready = await health.Check(
            health_pb2.HealthCheckRequest(service=probes["readinessProbe"]["service"]), timeout=2
        )
        assert ready.status == health_pb2.HealthCheckResponse.NOT_SERVING


async def test_the_docker_healthcheck_uses_the_health_port_when_there_is_one(
    secured_orchestrator: OrchestratorServer,
) -> None:
    command = dockerfile_healthcheck()
    process = await asyncio.create_subprocess_exec(
        str(VENV_BIN / "aura"),
        *command[1:],
        env={**os.environ, "AURA_HEALTH_PORT": str(secured_orchestrator.health_port)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=20)
    assert process.returncode == 0, output.decode()


def test_the_manifests_mount_certificates_and_the_token_key_from_secrets() -> None:
    pod, container, config = orchestrator_container()
    env = {item["name"]: item["value"] for item in container["env"] if "value" in item}
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    secrets = {v["name"]: v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v}
    for variable in ("AURA_TLS_CERT", "AURA_TLS_KEY", "AURA_TLS_CLIENT_CA", "AURA_AUTH_KEY_FILE"):
        path = env[variable]
        mount = next(m for m in mounts.values() if path.startswith(m["mountPath"] + "/"))
        assert mount["name"] in secrets and mount.get("readOnly") is True, variable
    assert unknown_variables({**config, **env}) == []
    limits = container["resources"]["limits"]
    assert {"cpu", "memory"} <= limits.keys()
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["capabilities"]["drop"] == ["ALL"]


def test_kubernetes_grace_period_covers_prestop_and_drain() -> None:
    pod, container, env = orchestrator_container()
    pre_stop = container.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command")
    pre_stop_s = float(pre_stop[1]) if pre_stop else 0.0  # `sleep N`, if there is one
    drain_s = float(env.get("AURA_SHUTDOWN_DELAY_S", 0)) + float(env["AURA_SHUTDOWN_GRACE_S"])
    assert pre_stop_s + drain_s + EXIT_MARGIN_S < pod["terminationGracePeriodSeconds"]
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
