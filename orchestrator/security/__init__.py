"""TLS and mTLS (certificates: a local CA and what it signs, gRPC credentials, the channel
the client commands open) and bearer tokens (JWT verification, the caller they name)."""

from orchestrator.names import DEFAULT_TENANT
from orchestrator.security.caller import current_caller
from orchestrator.security.channels import client_channel
from orchestrator.security.tls import CertificateAuthority, channel_credentials, server_credentials
from orchestrator.security.tokens import (
    Caller,
    Permission,
    TokenRejected,
    TokenVerifier,
    issue_token,
    make_signing_key,
)

__all__ = [
    "DEFAULT_TENANT",
    "Caller",
    "CertificateAuthority",
    "Permission",
    "TokenRejected",
    "TokenVerifier",
    "channel_credentials",
    "client_channel",
    "current_caller",
    "issue_token",
    "make_signing_key",
    "server_credentials",
]
