"""Server TLS credentials that follow their files: a certificate renewed on disk (a new
file, an `os.replace`, a Kubernetes Secret update) is served to new connections without a
restart. grpc core asks for the configuration at each handshake; the files are re-read
only when one of their modification times changed."""

from __future__ import annotations

from pathlib import Path

import grpc


def _mtimes(*paths: Path) -> tuple[int, ...]:
    return tuple(path.stat().st_mtime_ns for path in paths)


def reloading_server_credentials(
    cert: Path, key: Path, client_ca: Path | None = None
) -> grpc.ServerCredentials:
    """TLS with `cert`/`key`; with `client_ca`, clients must present a certificate it signed."""
    files = (cert, key) if client_ca is None else (cert, key, client_ca)

    def configuration() -> grpc.ServerCertificateConfiguration:
        root = client_ca.read_bytes() if client_ca is not None else None
        return grpc.ssl_server_certificate_configuration(
            [(key.read_bytes(), cert.read_bytes())], root_certificates=root
        )

    seen = [_mtimes(*files)]

    def fetch() -> grpc.ServerCertificateConfiguration | None:
        try:
            now = _mtimes(*files)
        except OSError:
            return None  # being replaced: keep serving the configuration in hand
        if now == seen[0]:
            return None
        seen[0] = now
        return configuration()

    return grpc.dynamic_ssl_server_credentials(
        configuration(), fetch, require_client_authentication=client_ca is not None
    )
