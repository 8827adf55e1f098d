"""The channel a client command opens to the orchestrator: TLS when AURA_TLS_CA names the CA
to trust (with AURA_TLS_CLIENT_CERT/KEY presented for mTLS), plaintext otherwise."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import grpc

from orchestrator.security.tls import channel_credentials


def client_channel(
    address: str,
    env: Mapping[str, str] | None = None,
    options: Sequence[tuple[str, Any]] = (),
) -> grpc.aio.Channel:
    env = os.environ if env is None else env
    ca = env.get("AURA_TLS_CA", "")
    if not ca:
        return grpc.aio.insecure_channel(address, options=options)
    cert, key = env.get("AURA_TLS_CLIENT_CERT", ""), env.get("AURA_TLS_CLIENT_KEY", "")
    credentials = channel_credentials(
        Path(ca), Path(cert) if cert else None, Path(key) if key else None
    )
    return grpc.aio.secure_channel(address, credentials, options=options)
