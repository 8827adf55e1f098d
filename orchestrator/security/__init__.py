"""TLS and mTLS: certificates (a local CA and what it signs), gRPC credentials, and the
channel the client commands open."""

from orchestrator.security.channels import client_channel
from orchestrator.security.tls import CertificateAuthority, channel_credentials, server_credentials

__all__ = ["CertificateAuthority", "channel_credentials", "client_channel", "server_credentials"]
