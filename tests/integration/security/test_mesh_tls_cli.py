"""`aura certs` makes the mesh's certificates (one per mock service, for its identity, and the
orchestrator's client one), and `aura up` with its exports runs everything over mTLS: the
mocks serve TLS only, the orchestrator waits for them and calls them over mTLS."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from grpc_health.v1 import health_pb2, health_pb2_grpc

from orchestrator.names import DEFAULT_SERVICES
from tests.helpers import eventually
from tests.integration.cli_process import AURA, aura, clean_env, free_port

pytestmark = pytest.mark.integration


def exports(stdout: str) -> dict[str, str]:
    """The `export A=x B=y` lines `aura certs` prints, as one mapping."""
    return dict(
        word.split("=", 1)
        for line in stdout.splitlines()
        if line.startswith("export ")
        for word in line.split()[1:]
    )


async def make_certs(directory: Path) -> dict[str, str]:
    made = await aura("certs", "--dir", str(directory))
    assert made.code == 0, made.stderr
    return exports(made.stdout)


def dns_names(cert: Path) -> list[str]:
    loaded = x509.load_pem_x509_certificate(cert.read_bytes())
    san = loaded.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return san.get_values_for_type(x509.DNSName)


async def test_aura_certs_issues_each_mock_service_a_certificate_for_its_identity(
    tmp_path: Path,
) -> None:
    certs = tmp_path / "certs"
    exported = await make_certs(certs)

    assert exported["AURA_MOCK_TLS_DIR"] == str(certs)
    assert exported["AURA_MESH_TLS_CA"] == str(certs / "ca.crt")
    check_mesh_certificates(certs, Path(exported["AURA_MESH_TLS_CERT"]))


def check_mesh_certificates(certs: Path, client_cert: Path) -> None:
    ca = x509.load_pem_x509_certificate((certs / "ca.crt").read_bytes())
    for short, _ in DEFAULT_SERVICES.values():
        assert f"{short}.aura" in dns_names(certs / f"{short}.crt")
        assert (certs / f"{short}.key").stat().st_mode & 0o077 == 0, "keys are private"
    x509.load_pem_x509_certificate(client_cert.read_bytes()).verify_directly_issued_by(ca)
    assert client_cert.with_suffix(".key").is_file()


async def plaintext_health(address: str) -> grpc.StatusCode:
    async with grpc.aio.insecure_channel(address) as channel:
        try:
            await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=5
            )
        except grpc.aio.AioRpcError as error:
            return error.code()
    return grpc.StatusCode.OK


@pytest.mark.timeout(120)
async def test_aura_up_with_the_certs_exports_runs_a_workflow_over_mtls_everywhere(
    tmp_path: Path,
) -> None:
    exported = await make_certs(tmp_path / "certs")
    port = free_port()
    env = clean_env(
        AURA_PORT=str(port),
        AURA_METRICS_PORT="off",
        AURA_DATA_DIR=str(tmp_path / "data"),
        AURA_SHUTDOWN_GRACE_S="1",
        AURA_ADDRESS=f"127.0.0.1:{port}",
        **exported,
    )
    mocks = {}
    for short, _ in DEFAULT_SERVICES.values():
        mocks[short] = f"127.0.0.1:{free_port()}"
        env[f"AURA_SERVICE_{short.upper()}_ADDRESSES"] = mocks[short]
    process = await asyncio.create_subprocess_exec(
        AURA, "up", env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:

        async def serving() -> bool:
            return (await aura("health", "--address", env["AURA_ADDRESS"], env=env)).code == 0

        await eventually(serving, timeout_s=60, interval_s=0.5, message="aura up serving")
        run = await aura(
            "run",
            "complete_style_analysis",
            "--json",
            "--input",
            json.dumps(
                {
                    "user_id": "ada",
                    "image_uri": "https://example.com/navy-blazer.jpg",
                    "text": "Business casual outfit for an office meeting, navy, under 300 euros",
                }
            ),
            env=env,
        )
        assert run.code == 0, run.stdout + run.stderr
        assert "RUN_STATE_SUCCEEDED" in run.stdout
        assert await plaintext_health(mocks["nlu"]) == grpc.StatusCode.UNAVAILABLE, (
            "the mocks serve TLS only"
        )
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode == 0, stderr.decode()
