"""TLS credentials over real loopback connections: a grpc.aio server with the health service,
served with `server_credentials`, and clients built with `channel_credentials`.

Refused handshakes surface to the client as UNAVAILABLE (gRPC gives no finer status for a
failed TLS handshake); the server keeps serving the clients it accepts.
"""

from __future__ import annotations

import asyncio
import datetime
import os
import socket
import ssl
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from orchestrator.security import CertificateAuthority, channel_credentials, server_credentials

pytestmark = pytest.mark.integration


@dataclass
class Pki:
    directory: Path
    ca: CertificateAuthority
    ca_file: Path

    def issue(self, name: str, **kwargs: object) -> tuple[Path, Path]:
        return self.ca.issue(self.directory, name, **kwargs)  # type: ignore[arg-type]


@pytest.fixture(name="pki")
def pki_fixture(tmp_path: Path) -> Pki:
    ca = CertificateAuthority()
    return Pki(tmp_path, ca, ca.write(tmp_path / "ca.crt"))


@dataclass
class Server:
    address: str
    cert: Path
    key: Path


async def _serve(credentials: grpc.ServerCredentials) -> tuple[grpc.aio.Server, str]:
    server = grpc.aio.server()
    health_pb2_grpc.add_HealthServicer_to_server(health.aio.HealthServicer(), server)
    port = server.add_secure_port("127.0.0.1:0", credentials)
    await server.start()
    return server, f"localhost:{port}"


@pytest.fixture(name="mtls_server")
async def mtls_server_fixture(pki: Pki) -> AsyncIterator[Server]:
    cert, key = pki.issue("server")
    server, address = await _serve(server_credentials(cert, key, client_ca=pki.ca_file))
    try:
        yield Server(address, cert, key)
    finally:
        await server.stop(None)


async def _check(address: str, credentials: grpc.ChannelCredentials) -> grpc.StatusCode:
    async with grpc.aio.secure_channel(address, credentials) as channel:
        try:
            answer = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=5
            )
        except grpc.aio.AioRpcError as error:
            return error.code()
        assert answer.status == health_pb2.HealthCheckResponse.SERVING
        return grpc.StatusCode.OK


async def test_a_client_with_a_certificate_of_the_ca_is_served(
    pki: Pki, mtls_server: Server
) -> None:
    cert, key = pki.issue("client")
    assert await _check(mtls_server.address, channel_credentials(pki.ca_file, cert, key)) == (
        grpc.StatusCode.OK
    )


async def test_a_client_without_a_certificate_is_refused(pki: Pki, mtls_server: Server) -> None:
    assert await _check(mtls_server.address, channel_credentials(pki.ca_file)) == (
        grpc.StatusCode.UNAVAILABLE
    )


async def test_a_client_certificate_from_another_ca_is_refused(
    pki: Pki, mtls_server: Server, tmp_path: Path
) -> None:
    other = tmp_path / "other"
    other.mkdir()
    cert, key = CertificateAuthority("another CA").issue(other, "client")
    assert await _check(mtls_server.address, channel_credentials(pki.ca_file, cert, key)) == (
        grpc.StatusCode.UNAVAILABLE
    )


async def test_an_expired_client_certificate_is_refused(pki: Pki, mtls_server: Server) -> None:
    long_ago = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=30)
    cert, key = pki.issue("client", valid_from=long_ago, valid_days=1)
    assert await _check(mtls_server.address, channel_credentials(pki.ca_file, cert, key)) == (
        grpc.StatusCode.UNAVAILABLE
    )
    good_cert, good_key = pki.issue("client-2")
    assert (
        await _check(mtls_server.address, channel_credentials(pki.ca_file, good_cert, good_key))
        == grpc.StatusCode.OK
    ), "the server keeps serving after refusing a handshake"


async def test_a_server_certificate_from_another_ca_is_refused_by_the_client(
    pki: Pki, tmp_path: Path
) -> None:
    other = tmp_path / "other"
    other.mkdir()
    cert, key = CertificateAuthority("another CA").issue(other, "server")
    server, address = await _serve(server_credentials(cert, key))
    try:
        assert await _check(address, channel_credentials(pki.ca_file)) == (
            grpc.StatusCode.UNAVAILABLE
        )
    finally:
        await server.stop(None)


def _served_certificate_serial(address: str, ca_file: Path) -> int:
    host, port = address.rsplit(":", 1)
    context = ssl.create_default_context(cafile=str(ca_file))
    context.set_alpn_protocols(["h2"])
    with (
        socket.create_connection((host, int(port)), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=host) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der).serial_number


async def test_a_renewed_server_certificate_is_served_to_new_connections_without_a_restart(
    pki: Pki, tmp_path: Path
) -> None:
    cert, key = pki.issue("server")
    server, address = await _serve(server_credentials(cert, key))
    try:
        assert await _check(address, channel_credentials(pki.ca_file)) == grpc.StatusCode.OK
        first = x509.load_pem_x509_certificate(cert.read_bytes()).serial_number

        renewed = tmp_path / "renewed"
        renewed.mkdir()
        new_cert, new_key = pki.ca.issue(renewed, "server")
        os.replace(new_key, key)
        os.replace(new_cert, cert)
        second = x509.load_pem_x509_certificate(cert.read_bytes()).serial_number
        assert first != second

        deadline = time.monotonic() + 10
        served = first
        while served != second and time.monotonic() < deadline:
            # The server's event loop must keep running while the handshake happens.
            served = await asyncio.to_thread(_served_certificate_serial, address, pki.ca_file)
        assert served == second
        assert await _check(address, channel_credentials(pki.ca_file)) == grpc.StatusCode.OK
    finally:
        await server.stop(None)
