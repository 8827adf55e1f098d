"""`aura certs`: a local CA and the certificates to try TLS on a laptop or in a test."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from orchestrator.security import CertificateAuthority

LOOPBACK = ("localhost", "127.0.0.1")


def add_parser(sub: Any) -> None:
    """`aura certs` on `sub`, the subparsers of `aura`."""
    certs = sub.add_parser(
        "certs", help="make a local CA, a certificate for the orchestrator and one for clients"
    )
    certs.add_argument("--dir", type=Path, default=Path(".aura/certs"), help="where to write them")
    certs.add_argument(
        "--host",
        action="append",
        default=[],
        help="another name or IP the orchestrator's certificate covers (repeatable)",
    )


def cmd_certs(args: argparse.Namespace) -> int:
    directory: Path = args.dir
    directory.mkdir(parents=True, exist_ok=True)
    authority = CertificateAuthority()
    ca = authority.write(directory / "ca.crt")
    hosts = (*LOOPBACK, *[host for host in args.host if host not in LOOPBACK])
    server_cert, server_key = authority.issue(directory, "orchestrator", hosts)
    client_cert, client_key = authority.issue(directory, "client", ("aura-client",))
    print(f"# made in {directory}: the CA, the orchestrator's certificate, a client's")
    print("# the orchestrator (aura serve / aura up), mTLS:")
    print(f"export AURA_TLS_CERT={server_cert} AURA_TLS_KEY={server_key} AURA_TLS_CLIENT_CA={ca}")
    print("# the aura client commands:")
    print(
        f"export AURA_TLS_CA={ca} AURA_TLS_CLIENT_CERT={client_cert} "
        f"AURA_TLS_CLIENT_KEY={client_key}"
    )
    return 0
