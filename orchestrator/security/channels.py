"""The channel a client command opens to the orchestrator: TLS when AURA_TLS_CA names the CA
to trust (with AURA_TLS_CLIENT_CERT/KEY presented for mTLS), plaintext otherwise; with
AURA_TOKEN, every call carries it as `authorization: Bearer <token>`."""

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
    token = env.get("AURA_TOKEN", "").strip()
    # One instance per call shape: grpc.aio files each interceptor under its first shape.
    interceptors: list[Any] | None = (
        [UnaryBearerToken(token), StreamingBearerToken(token)] if token else None
    )
    ca = env.get("AURA_TLS_CA", "")
    if not ca:
        return grpc.aio.insecure_channel(address, options=options, interceptors=interceptors)
    cert, key = env.get("AURA_TLS_CLIENT_CERT", ""), env.get("AURA_TLS_CLIENT_KEY", "")
    credentials = channel_credentials(
        Path(ca), Path(cert) if cert else None, Path(key) if key else None
    )
    return grpc.aio.secure_channel(address, credentials, options=options, interceptors=interceptors)


class _BearerToken:
    def __init__(self, token: str) -> None:
        self._entry = ("authorization", f"Bearer {token}")

    def _with_token(self, details: Any) -> Any:
        metadata = list(details.metadata or ())
        metadata.append(self._entry)
        return details._replace(metadata=metadata)


class UnaryBearerToken(_BearerToken, grpc.aio.UnaryUnaryClientInterceptor):  # type: ignore[misc]
    """Adds `authorization: Bearer <token>` to every unary call (plaintext channels too,
    where gRPC's call credentials refuse to go: a local try needs no certificates)."""

    async def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        return await continuation(self._with_token(details), request)


class StreamingBearerToken(_BearerToken, grpc.aio.UnaryStreamClientInterceptor):  # type: ignore[misc]
    """The same for server-streaming calls (Watch, Stream, SubscribeEvents)."""

    async def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
        return await continuation(self._with_token(details), request)
