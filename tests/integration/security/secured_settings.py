"""An orchestrator's settings with bearer tokens required (and mTLS on its port), and the
tokens to call it with."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import grpc

from mock_services.mesh import MockMesh
from orchestrator.config import Settings
from orchestrator.security import CertificateAuthority, Permission, channel_credentials, issue_token
from tests.integration.orchestrator_helpers import settings_for


@dataclass(frozen=True)
class Secured:
    settings: Settings
    #: What a client presents: the CA to trust and a client certificate it signed.
    credentials: grpc.ChannelCredentials


def secured_settings(mesh: MockMesh, directory: Path, token_key: Path, **more: object) -> Secured:
    """mTLS with a fresh CA under `directory`; tokens verified with `token_key` (public)."""
    authority = CertificateAuthority()
    ca = authority.write(directory / "ca.crt")
    cert, key = authority.issue(directory, "orchestrator")
    client_cert, client_key = authority.issue(directory, "client", ("aura-client",))
    settings = dataclasses.replace(
        settings_for(mesh, directory / "data"),
        tls_cert=str(cert),
        tls_key=str(key),
        tls_client_ca=str(ca),
        auth_key_file=str(token_key),
        **more,  # type: ignore[arg-type]
    )
    return Secured(settings, channel_credentials(ca, client_cert, client_key))


def token_settings(mesh: MockMesh, data_dir: Path, token_key: Path) -> Settings:
    """Plaintext, tokens verified with `token_key` (public)."""
    return dataclasses.replace(settings_for(mesh, data_dir), auth_key_file=str(token_key))


def tenant_token(private_key: Path, tenant: str, *permissions: Permission) -> str:
    """A token of `tenant` with `permissions`, for the default issuer and audience."""
    return issue_token(
        private_key,
        tenant=tenant,
        permissions=permissions,
        issuer="aura",
        audience="aura-orchestrator",
    )
