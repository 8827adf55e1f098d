"""mTLS on the links to the backend services (AURA_MESH_TLS_CA, _CERT, _KEY).

Identity: a backend proves which service it is with the DNS name in its certificate's
subjectAltName, not with the address it listens on. The channel to a service checks the
certificate against `service_identity(service)`: `<short>.aura` for the five services of
the table in `orchestrator.names` (`nlu.aura`, `image.aura`, ...), the full service name in
lowercase for any other. So a valid certificate of one service, served on another's
address, is refused (the call fails UNAVAILABLE, like any failed handshake).

The PEM files are read once, when the pool starts; the services' side re-reads its own
certificate when it changes, a renewed client certificate needs a restart.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from orchestrator.names import DEFAULT_SERVICES
from orchestrator.security import channel_credentials

IDENTITY_DOMAIN = "aura"


def service_identity(service: str) -> str:
    """The name a backend of `service` (a full service name) must hold in its certificate."""
    known = DEFAULT_SERVICES.get(service)
    if known is not None:
        return f"{known[0]}.{IDENTITY_DOMAIN}"
    return service.lower()


@dataclass(frozen=True)
class MeshTlsFiles:
    """Where the mesh's PEM files are: the CA of the services' certificates and, for mTLS,
    the certificate and key the orchestrator presents."""

    ca: Path
    cert: Path | None = None
    key: Path | None = None

    @classmethod
    def from_paths(cls, ca: str, cert: str = "", key: str = "") -> MeshTlsFiles | None:
        """None when `ca` is empty (plaintext links)."""
        if not ca:
            return None
        return cls(Path(ca), Path(cert) if cert else None, Path(key) if key else None)

    def load(self) -> MeshTls:
        """Reads the files; OSError names the one that cannot be read."""
        try:
            return MeshTls(channel_credentials(self.ca, self.cert, self.key))
        except OSError as error:
            raise OSError(
                f"mesh TLS (AURA_MESH_TLS_*): cannot read {error.filename}: {error.strerror}"
            ) from error


@dataclass(frozen=True)
class MeshTls:
    """Channel credentials read once, and the secure channels built from them."""

    credentials: grpc.ChannelCredentials

    def channel(
        self,
        address: str,
        service: str,
        options: Sequence[tuple[str, Any]] = (),
        interceptors: Sequence[grpc.aio.ClientInterceptor] | None = None,
    ) -> grpc.aio.Channel:
        """A TLS channel to `address` that accepts only a certificate for `service`."""
        identity = service_identity(service)
        return grpc.aio.secure_channel(
            address,
            self.credentials,
            options=[*options, ("grpc.ssl_target_name_override", identity)],
            interceptors=interceptors,
        )
