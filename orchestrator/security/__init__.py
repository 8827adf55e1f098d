"""TLS and mTLS: certificates (a local CA and what it signs) and gRPC credentials."""

from orchestrator.security.tls import CertificateAuthority, channel_credentials, server_credentials

__all__ = ["CertificateAuthority", "channel_credentials", "server_credentials"]
