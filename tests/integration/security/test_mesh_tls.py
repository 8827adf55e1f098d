"""mTLS between the orchestrator and the five mock services, over real loopback handshakes:
the mocks serve TLS and require a client certificate of the CA (AURA_MOCK_TLS_DIR), the
orchestrator presents its client certificate and checks each service's certificate against
the service's identity (`<name>.aura`), not its address (AURA_MESH_TLS_*).

A refused link is a failed call UNAVAILABLE (never UNKNOWN) and an endpoint that is not
SERVING; the orchestrator itself keeps serving.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from google.rpc import code_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc

from aura.orchestrator.v1 import orchestrator_pb2, orchestrator_pb2_grpc, run_pb2
from aura.transaction.v1 import participant_pb2 as tx
from mock_services import MockMesh, MockTls
from mock_services.common.ledger import BranchKey
from orchestrator.mesh import BackendPool, MeshTlsFiles, ServingStatus, service_identity
from orchestrator.names import DEFAULT_SERVICES
from orchestrator.security import CertificateAuthority, channel_credentials
from orchestrator.server import OrchestratorServer
from tests.helpers import eventually
from tests.integration.orchestrator_helpers import (
    STYLE_INPUT,
    Stub,
    execute,
    settings_for,
    step,
)
from tests.integration.resilience.resilience_helpers import NLU, TEXT_INPUT, define, nlu_step
from tests.integration.transaction_helpers import (
    ABORTED,
    METHODS,
    PREPARED,
    adoption_request,
)

pytestmark = pytest.mark.integration

MOCKS = [short for short, _ in DEFAULT_SERVICES.values()]
LONG_AGO = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=30)


@dataclass
class MeshPki:
    """A CA, a certificate per mock (its TLS directory) and the orchestrator's client one."""

    directory: Path
    ca: CertificateAuthority
    ca_file: Path
    client_cert: Path
    client_key: Path

    def other_directory(self, name: str) -> Path:
        path = self.directory.parent / name
        path.mkdir()
        return path


@pytest.fixture(name="pki")
def pki_fixture(tmp_path: Path) -> MeshPki:
    directory = tmp_path / "certs"
    directory.mkdir()
    ca = CertificateAuthority()
    ca_file = ca.write(directory / "ca.crt")
    for short in MOCKS:
        ca.issue(directory, short, (f"{short}.aura", "localhost", "127.0.0.1"))
    client_cert, client_key = ca.issue(directory, "orchestrator-client", ("aura-orchestrator",))
    return MeshPki(directory, ca, ca_file, client_cert, client_key)


@contextlib.asynccontextmanager
async def tls_mesh(directory: Path) -> AsyncIterator[MockMesh]:
    mesh = MockMesh(tls=MockTls(directory))
    await mesh.start()
    try:
        yield mesh
    finally:
        await mesh.stop(grace_s=0.1)


@contextlib.asynccontextmanager
async def mtls_orchestrator(
    mesh: MockMesh, tmp_path: Path, ca: Path, cert: Path | None, key: Path | None
) -> AsyncIterator[tuple[OrchestratorServer, Stub]]:
    settings = dataclasses.replace(
        settings_for(mesh, tmp_path / "data"),
        mesh_tls_ca=str(ca),
        mesh_tls_cert=str(cert or ""),
        mesh_tls_key=str(key or ""),
    )
    server = OrchestratorServer(settings)
    await server.start()
    try:
        async with grpc.aio.insecure_channel(server.address) as channel:
            yield server, orchestrator_pb2_grpc.OrchestratorServiceStub(channel)
    finally:
        await server.stop(grace_s=0.2)


def serving_statuses(server: OrchestratorServer) -> dict[str, ServingStatus]:
    return {
        snapshot.service: snapshot.endpoints[0].serving_status
        for snapshot in server.pool.snapshot()
    }


async def orchestrator_health(stub_channel_address: str) -> int:
    async with grpc.aio.insecure_channel(stub_channel_address) as channel:
        answer = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(), timeout=5
        )
    return int(answer.status)


async def test_a_workflow_runs_end_to_end_over_mutual_tls_to_every_service(
    pki: MeshPki, tmp_path: Path
) -> None:
    async with (
        tls_mesh(pki.directory) as mesh,
        mtls_orchestrator(mesh, tmp_path, pki.ca_file, pki.client_cert, pki.client_key) as (
            server,
            stub,
        ),
    ):
        run = await execute(stub, "complete_style_analysis", STYLE_INPUT)

        assert run.state == run_pb2.RUN_STATE_SUCCEEDED
        assert all(sum(mesh[short].calls.values()) > 0 for short in MOCKS)
        # The health streams share the TLS channels: every endpoint reports SERVING.
        await eventually(
            lambda: set(serving_statuses(server).values()) == {ServingStatus.SERVING},
            message="every endpoint SERVING over TLS",
        )


async def test_a_tls_mock_refuses_plaintext_and_certificate_less_callers(pki: MeshPki) -> None:
    async with tls_mesh(pki.directory) as mesh:
        address = mesh["nlu"].address

        async def check(channel: grpc.aio.Channel) -> grpc.StatusCode:
            async with channel:
                try:
                    await health_pb2_grpc.HealthStub(channel).Check(
                        health_pb2.HealthCheckRequest(service=NLU), timeout=5
                    )
                except grpc.aio.AioRpcError as error:
                    return error.code()
            return grpc.StatusCode.OK

        override = [("grpc.ssl_target_name_override", "nlu.aura")]
        assert await check(grpc.aio.insecure_channel(address)) == grpc.StatusCode.UNAVAILABLE
        no_certificate = channel_credentials(pki.ca_file)
        assert await check(grpc.aio.secure_channel(address, no_certificate, override)) == (
            grpc.StatusCode.UNAVAILABLE
        )
        mutual = channel_credentials(pki.ca_file, pki.client_cert, pki.client_key)
        assert await check(grpc.aio.secure_channel(address, mutual, override)) == (
            grpc.StatusCode.OK
        )


async def assert_link_refused(server: OrchestratorServer, stub: Stub, mesh: MockMesh) -> None:
    """The nlu link fails UNAVAILABLE, nothing reaches the service, the orchestrator serves."""
    await define(stub, "nlu_only", [nlu_step(timeout="1s", retry={"max_attempts": 1})])
    run = await execute(stub, "nlu_only", TEXT_INPUT)

    assert run.state == run_pb2.RUN_STATE_FAILED
    error = step(run, "nlu").error
    assert error.code == code_pb2.UNAVAILABLE, error
    assert "expected identity nlu.aura" in error.message, error.message
    assert mesh["nlu"].calls["AnalyzeText"] == 0, "no call got through the refused handshake"
    assert serving_statuses(server)[NLU] is not ServingStatus.SERVING
    services = {
        s.service: s
        for s in (await stub.ListServices(orchestrator_pb2.ListServicesRequest())).services
    }
    assert services[NLU].error_count >= 1
    assert await orchestrator_health(server.address) == health_pb2.HealthCheckResponse.SERVING


async def test_without_a_client_certificate_the_services_refuse_the_orchestrator(
    pki: MeshPki, tmp_path: Path
) -> None:
    async with (
        tls_mesh(pki.directory) as mesh,
        mtls_orchestrator(mesh, tmp_path, pki.ca_file, None, None) as (server, stub),
    ):
        await assert_link_refused(server, stub, mesh)


async def test_a_client_certificate_of_another_ca_is_refused_by_the_services(
    pki: MeshPki, tmp_path: Path
) -> None:
    other = pki.other_directory("other-ca")
    cert, key = CertificateAuthority("another CA").issue(other, "orchestrator-client")
    async with (
        tls_mesh(pki.directory) as mesh,
        mtls_orchestrator(mesh, tmp_path, pki.ca_file, cert, key) as (server, stub),
    ):
        await assert_link_refused(server, stub, mesh)


async def test_an_expired_client_certificate_is_refused_by_the_services(
    pki: MeshPki, tmp_path: Path
) -> None:
    expired = pki.other_directory("expired")
    cert, key = pki.ca.issue(
        expired, "orchestrator-client", ("aura-orchestrator",), valid_from=LONG_AGO, valid_days=1
    )
    async with (
        tls_mesh(pki.directory) as mesh,
        mtls_orchestrator(mesh, tmp_path, pki.ca_file, cert, key) as (server, stub),
    ):
        await assert_link_refused(server, stub, mesh)


async def test_a_service_certificate_for_another_identity_is_refused_by_the_orchestrator(
    pki: MeshPki, tmp_path: Path
) -> None:
    # The nlu mock serves a valid certificate of the same CA, but the image service's: a
    # service cannot stand in for another by listening on its address.
    swapped = pki.other_directory("swapped")
    for short in MOCKS:
        hosts = ("image.aura" if short == "nlu" else f"{short}.aura", "localhost", "127.0.0.1")
        pki.ca.issue(swapped, short, hosts)
    pki.ca.write(swapped / "ca.crt")
    async with (
        tls_mesh(swapped) as mesh,
        mtls_orchestrator(mesh, tmp_path, pki.ca_file, pki.client_cert, pki.client_key) as (
            server,
            stub,
        ),
    ):
        await assert_link_refused(server, stub, mesh)
        image = "aura.image.v1.ImageProcessingService"
        await eventually(
            lambda: serving_statuses(server)[image] is ServingStatus.SERVING,
            message="the image service, with its own certificate, SERVING",
        )


async def test_a_mesh_certificate_file_that_cannot_be_read_stops_the_start_naming_it(
    pki: MeshPki,
) -> None:
    missing = pki.directory / "missing.crt"
    pool = BackendPool(
        {NLU: ["127.0.0.1:1"]}, tls=MeshTlsFiles(pki.ca_file, missing, pki.client_key)
    )
    with pytest.raises(OSError, match=f"AURA_MESH_TLS_.*cannot read {missing}"):
        await pool.start()
    assert pool.services() == [], "no channel was opened"


def test_each_service_identity_is_its_short_name_under_aura() -> None:
    assert {service_identity(service) for service in DEFAULT_SERVICES} == {
        f"{short}.aura" for short in MOCKS
    }
    assert service_identity("acme.search.v1.SearchService") == "acme.search.v1.searchservice"


@contextlib.asynccontextmanager
async def tls_port_orchestrator(pki: MeshPki, mesh: MockMesh, tmp_path: Path) -> AsyncIterator[str]:
    """An orchestrator whose own port is mTLS (and its links to `mesh` too); its address."""
    cert, key = pki.ca.issue(pki.other_directory("orchestrator"), "orchestrator")
    settings = dataclasses.replace(
        settings_for(mesh, tmp_path / "data"),
        tls_cert=str(cert),
        tls_key=str(key),
        tls_client_ca=str(pki.ca_file),
        mesh_tls_ca=str(pki.ca_file),
        mesh_tls_cert=str(pki.client_cert),
        mesh_tls_key=str(pki.client_key),
    )
    server = await OrchestratorServer(settings).start()
    try:
        yield server.address
    finally:
        await server.stop(grace_s=0.2)


def prepare_in_doubt(mesh: MockMesh, coordinator: str) -> BranchKey:
    """A style branch prepared for a transaction its coordinator never heard of."""
    style = mesh["style"]
    assert style.ledger is not None and style.in_doubt is not None
    style.in_doubt.after_s = 0.0  # in doubt at once
    key = BranchKey("unknown-run/adopt", "style")
    vote = style.ledger.prepare(
        key, METHODS["style"], adoption_request("style", "ada", "o1"), coordinator
    )
    assert vote.vote == tx.VOTE_YES
    return key


async def test_an_in_doubt_participant_asks_a_tls_orchestrator_over_mutual_tls(
    pki: MeshPki, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AURA_TLS_CA", str(pki.ca_file))
    client_cert, client_key = pki.ca.issue(pki.other_directory("client"), "client")
    monkeypatch.setenv("AURA_TLS_CLIENT_CERT", str(client_cert))
    monkeypatch.setenv("AURA_TLS_CLIENT_KEY", str(client_key))
    async with (
        tls_mesh(pki.directory) as mesh,
        tls_port_orchestrator(pki, mesh, tmp_path) as address,
    ):
        key = prepare_in_doubt(mesh, address)
        ledger = mesh["style"].ledger
        assert ledger is not None
        # The run is unknown to the coordinator: presumed abort, told over TLS.
        await eventually(
            lambda: ledger.branch_states()[(key.transaction_id, key.branch_id)] == ABORTED,
            message="the branch aborted on the coordinator's answer",
        )


async def test_without_aura_tls_ca_an_in_doubt_participant_cannot_reach_a_tls_orchestrator(
    pki: MeshPki, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AURA_TLS_CA", raising=False)
    async with (
        tls_mesh(pki.directory) as mesh,
        tls_port_orchestrator(pki, mesh, tmp_path) as address,
    ):
        key = prepare_in_doubt(mesh, address)
        resolver, ledger = mesh["style"].in_doubt, mesh["style"].ledger
        assert resolver is not None and ledger is not None
        await eventually(lambda: resolver.asked >= 2, message="asked twice")
        assert ledger.branch_states()[(key.transaction_id, key.branch_id)] == PREPARED
