"""A mock service's certificate renewed on disk is served to new connections without a
restart, as the orchestrator's is (both through grpc_guard.reloading_server_credentials)."""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
import time
from pathlib import Path

import pytest
from cryptography import x509

from mock_services import MockTls
from mock_services.common.server import start_mock_server
from orchestrator.security import CertificateAuthority

pytestmark = pytest.mark.integration

HOSTS = ("nlu.aura", "127.0.0.1")


def _served_serial(address: str, directory: Path) -> int:
    """The serial of the certificate a new mTLS connection to `address` is shown."""
    host, port = address.rsplit(":", 1)
    context = ssl.create_default_context(cafile=str(directory / "ca.crt"))
    context.load_cert_chain(directory / "client.crt", directory / "client.key")
    context.set_alpn_protocols(["h2"])
    with (
        socket.create_connection((host, int(port)), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="nlu.aura") as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der).serial_number


def _serial(cert: Path) -> int:
    return x509.load_pem_x509_certificate(cert.read_bytes()).serial_number


async def test_a_renewed_mock_certificate_is_served_without_a_restart(tmp_path: Path) -> None:
    directory = tmp_path / "tls"
    directory.mkdir()
    authority = CertificateAuthority()
    authority.write(directory / "ca.crt")
    cert, key = authority.issue(directory, "nlu", HOSTS)
    authority.issue(directory, "client", ("aura-client",))
    mock = await start_mock_server("nlu", "127.0.0.1:0", tls=MockTls(directory))
    try:
        assert await asyncio.to_thread(_served_serial, mock.address, directory) == _serial(cert)

        renewed = tmp_path / "renewed"
        renewed.mkdir()
        new_cert, new_key = authority.issue(renewed, "nlu", HOSTS)
        os.replace(new_key, key)
        os.replace(new_cert, cert)
        wanted = _serial(cert)

        deadline = time.monotonic() + 10
        served = 0
        while served != wanted and time.monotonic() < deadline:
            served = await asyncio.to_thread(_served_serial, mock.address, directory)
        assert served == wanted
    finally:
        await mock.stop(0.1)
