"""TLS and mTLS: certificates (a local CA and what it signs) and gRPC credentials."""
