"""The Node.js client (clients/node, @grpc/grpc-js + types generated from protos/) against a
real orchestrator and mock mesh: it starts a run, streams its progress, reads the typed result;
over mTLS when given the CA and a client certificate (--ca/--cert/--key or AURA_TLS_*).

Skips when node/npm are missing, unless AURA_REQUIRE_NODE=1 or AURA_REQUIRE_SERVICES=1 (CI).
`npm ci` runs only when node_modules is older than package-lock.json.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from mock_services.mesh import MockMesh
from orchestrator.runs import EVERY_TENANT
from orchestrator.security import CertificateAuthority, client_channel
from orchestrator.server import OrchestratorServer
from tests.helpers import REPO_ROOT
from tests.integration.orchestrator_helpers import STYLE_INPUT, settings_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CLIENT_DIR = REPO_ROOT / "clients" / "node"
REQUIRED = any(os.environ.get(v) == "1" for v in ("AURA_REQUIRE_NODE", "AURA_REQUIRE_SERVICES"))


@pytest.fixture(scope="module")
def node_client() -> Path:
    """Installs (npm ci, when stale) and builds the client; returns its entry point."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        if REQUIRED:
            pytest.fail("node and npm are required (AURA_REQUIRE_NODE / AURA_REQUIRE_SERVICES)")
        pytest.skip("node and npm are not installed")
    stamp = CLIENT_DIR / "node_modules" / ".package-lock.json"
    lock = CLIENT_DIR / "package-lock.json"
    if not stamp.exists() or stamp.stat().st_mtime < lock.stat().st_mtime:
        _npm(npm, "ci", "--no-audit", "--no-fund")
    _npm(npm, "run", "build")
    return CLIENT_DIR / "dist" / "run.js"


def _npm(npm: str, *args: str) -> None:
    result = subprocess.run(
        [npm, *args], cwd=CLIENT_DIR, capture_output=True, text=True, timeout=180, check=False
    )
    assert result.returncode == 0, f"npm {' '.join(args)} failed:\n{result.stdout}{result.stderr}"


async def test_node_client_starts_streams_and_reads_typed_result(
    node_client: Path, orchestrator: OrchestratorServer
) -> None:
    process = await asyncio.create_subprocess_exec(
        "node",
        str(node_client),
        "--address",
        orchestrator.address,
        "--json",
        "complete_style_analysis",
        json.dumps(STYLE_INPUT),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=30)
    progress = stderr.decode()
    assert process.returncode == 0, progress
    result = json.loads(stdout.decode().strip().splitlines()[-1])

    assert result["state"] == "RUN_STATE_SUCCEEDED"
    # Streamed progress: every event once, in order, ending with run_finished.
    assert result["event_seqs"] == list(range(1, len(result["event_seqs"]) + 1))
    assert progress.splitlines()[0] == f"started {result['name']}"
    assert progress.splitlines()[-1].endswith("run_finished RUN_STATE_SUCCEEDED")
    assert "step_succeeded recommend" in progress
    # Typed result: every step's Any output unpacked to its message type.
    steps = {step["step_id"]: step for step in result["steps"]}
    assert all(step["state"] == "STEP_STATE_SUCCEEDED" for step in steps.values())
    assert steps["nlu"]["output_type"] == "aura.nlu.v1.AnalyzeTextResponse"
    assert result["recommendations"], "RecommendItemsResponse decoded with its items"
    assert all(r["name"] and r["price"].endswith("EUR") for r in result["recommendations"])

    # The same run, read through the Python API, agrees.
    python_run = await orchestrator.engine.get_run(result["name"], scope=EVERY_TENANT)
    assert python_run.last_event_seq == len(result["event_seqs"])


@pytest.fixture(name="tls_orchestrator")
async def tls_orchestrator_fixture(
    mesh: MockMesh, tmp_path: Path
) -> AsyncIterator[tuple[OrchestratorServer, dict[str, str]]]:
    """An orchestrator serving mTLS, and the AURA_TLS_* client variables that reach it."""
    authority = CertificateAuthority()
    ca = authority.write(tmp_path / "ca.crt")
    cert, key = authority.issue(tmp_path, "orchestrator")
    client_cert, client_key = authority.issue(tmp_path, "client", ("aura-client",))
    settings = dataclasses.replace(
        settings_for(mesh, tmp_path / "data"),
        tls_cert=str(cert),
        tls_key=str(key),
        tls_client_ca=str(ca),
    )
    server = await OrchestratorServer(settings).start()
    try:
        yield (
            server,
            {
                "AURA_TLS_CA": str(ca),
                "AURA_TLS_CLIENT_CERT": str(client_cert),
                "AURA_TLS_CLIENT_KEY": str(client_key),
            },
        )
    finally:
        await server.stop(grace_s=0.5)


def _by_name(server: OrchestratorServer) -> str:
    """`localhost:port`: grpc-js sends the host as TLS server name, and Node warns (DEP0123)
    when that is an IP address; the certificate covers both."""
    return f"localhost:{server.port}"


async def _node_run(
    node_client: Path, *args: str, env: dict[str, str] | None = None
) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        "node",
        str(node_client),
        *args,
        "--json",
        "complete_style_analysis",
        json.dumps(STYLE_INPUT),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**{k: v for k, v in os.environ.items() if not k.startswith("AURA_")}, **(env or {})},
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode is not None
    return process.returncode, stdout.decode(), stderr.decode()


async def test_node_client_runs_a_workflow_over_mutual_tls_given_the_ca_and_its_certificate(
    node_client: Path, tls_orchestrator: tuple[OrchestratorServer, dict[str, str]]
) -> None:
    server, tls = tls_orchestrator
    address = _by_name(server)
    code, stdout, stderr = await _node_run(
        node_client,
        "--address",
        address,
        "--ca",
        tls["AURA_TLS_CA"],
        "--cert",
        tls["AURA_TLS_CLIENT_CERT"],
        "--key",
        tls["AURA_TLS_CLIENT_KEY"],
    )
    assert code == 0, stderr
    assert json.loads(stdout.strip().splitlines()[-1])["state"] == "RUN_STATE_SUCCEEDED"
    # The same from the AURA_TLS_* variables the aura commands read.
    code, stdout, stderr = await _node_run(node_client, "--address", address, env=tls)
    assert code == 0, stderr


async def test_node_client_without_tls_or_without_a_client_certificate_is_refused(
    node_client: Path, tls_orchestrator: tuple[OrchestratorServer, dict[str, str]]
) -> None:
    server, tls = tls_orchestrator
    plaintext = await _node_run(node_client, "--address", _by_name(server))
    no_certificate = await _node_run(
        node_client, "--address", _by_name(server), "--ca", tls["AURA_TLS_CA"]
    )
    for code, _, stderr in (plaintext, no_certificate):
        assert code == 1
        assert stderr.startswith("aura-node-run: "), stderr
    async with client_channel(server.address, tls) as channel:
        health = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
    assert health.status == health_pb2.HealthCheckResponse.SERVING, "it keeps serving"
