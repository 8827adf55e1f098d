"""TLS of the mock services (AURA_MOCK_TLS_DIR) and of their calls to the orchestrator.

A mock serves mTLS when given a directory holding `<name>.crt` and `<name>.key` (its own
certificate, whose subjectAltName carries its identity `<name>.aura`) and `ca.crt` (the CA
whose certificates clients must present). `aura certs` writes such a directory. Without
one, it serves plaintext.

The in-doubt resolver's channel to the orchestrator uses TLS when AURA_TLS_CA is set (the
variables of the `aura` client commands: AURA_TLS_CA, AURA_TLS_CLIENT_CERT/KEY).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import grpc

from grpc_guard import reloading_server_credentials

TLS_DIR_ENV = "AURA_MOCK_TLS_DIR"
CLIENT_CA_FILE = "ca.crt"
IDENTITY_DOMAIN = "aura"


def identity(name: str) -> str:
    """The DNS name a mock's certificate carries: `nlu.aura`, `image.aura`, ..."""
    return f"{name}.{IDENTITY_DOMAIN}"


@dataclass(frozen=True)
class MockTls:
    """A directory of PEM files: `<name>.crt`, `<name>.key` per mock, and `ca.crt`."""

    directory: Path

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> MockTls | None:
        """AURA_MOCK_TLS_DIR, or None (plaintext) when it is not set."""
        env = os.environ if env is None else env
        configured = env.get(TLS_DIR_ENV, "")
        return cls(Path(configured)) if configured else None

    def files(self, name: str) -> tuple[Path, Path, Path]:
        """(certificate, key, client CA) of mock `name`; OSError names a missing one."""
        files = (
            self.directory / f"{name}.crt",
            self.directory / f"{name}.key",
            self.directory / CLIENT_CA_FILE,
        )
        missing = [str(path) for path in files if not path.is_file()]
        if missing:
            raise OSError(
                f"mock {name}: TLS directory {self.directory} ({TLS_DIR_ENV}) lacks "
                + ", ".join(missing)
            )
        return files

    def server_credentials(self, name: str) -> grpc.ServerCredentials:
        """TLS with mock `name`'s certificate, re-read when its files change (as the
        orchestrator's); clients must present one `ca.crt` signed."""
        cert, key, client_ca = self.files(name)
        return reloading_server_credentials(cert, key, client_ca)


def orchestrator_channel(address: str, env: Mapping[str, str] | None = None) -> grpc.aio.Channel:
    """A channel to the orchestrator: TLS when AURA_TLS_CA is set, plaintext otherwise."""
    env = os.environ if env is None else env
    ca = env.get("AURA_TLS_CA", "")
    if not ca:
        return grpc.aio.insecure_channel(address)
    cert, key = env.get("AURA_TLS_CLIENT_CERT", ""), env.get("AURA_TLS_CLIENT_KEY", "")
    credentials = grpc.ssl_channel_credentials(
        Path(ca).read_bytes(),
        Path(key).read_bytes() if key else None,
        Path(cert).read_bytes() if cert else None,
    )
    return grpc.aio.secure_channel(address, credentials)
