"""`aura token`: a signing key (made once) and a bearer token signed with it, to try
authentication on a laptop or in a test. Production tokens come from your identity provider;
the orchestrator only needs its public key or JWKS file (AURA_AUTH_KEY_FILE)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from orchestrator.config import Settings
from orchestrator.security import DEFAULT_TENANT, Permission, issue_token, make_signing_key

PERMISSIONS = [p.value for p in Permission]


def add_parser(sub: Any) -> None:
    """`aura token` on `sub`, the subparsers of `aura`."""
    token = sub.add_parser("token", help="make a signing key and a bearer token (JWT) to try auth")
    token.add_argument(
        "--dir", type=Path, default=Path(".aura/certs"), help="where the signing key is kept"
    )
    token.add_argument("--tenant", default=DEFAULT_TENANT, help="the tenant the token acts for")
    token.add_argument(
        "--permission",
        action="append",
        choices=PERMISSIONS,
        help="read, write or admin (repeatable; default: read and write)",
    )
    token.add_argument("--subject", default="aura-cli", help="who the token names (`sub`)")
    token.add_argument("--valid-s", type=float, default=3600.0, help="lifetime in seconds")


def cmd_token(args: argparse.Namespace) -> int:
    settings = Settings.from_env({k: v for k, v in os.environ.items() if k != "AURA_AUTH_KEY_FILE"})
    private, public = make_signing_key(args.dir)
    token = issue_token(
        private,
        tenant=args.tenant,
        permissions=[Permission(p) for p in (args.permission or ["read", "write"])],
        issuer=settings.auth_issuer,
        audience=settings.auth_audience,
        subject=args.subject,
        valid_s=args.valid_s,
    )
    print(f"# signing key in {args.dir}; the orchestrator (aura serve / aura up) verifies with:")
    print(f"export AURA_AUTH_KEY_FILE={public}")
    print(f"# the aura client commands, as {args.subject} of tenant {args.tenant}:")
    print(f"export AURA_TOKEN={token}")
    return 0
