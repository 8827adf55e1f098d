"""`aura certs`: a local CA and the certificates to try TLS on a laptop or in a test: the
orchestrator's port, the `aura` client commands, and the mesh (one certificate per mock
service carrying its identity `<name>.aura`, and the orchestrator's client certificate)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from orchestrator.mesh import service_identity
from orchestrator.names import DEFAULT_SERVICES
from orchestrator.security import CertificateAuthority

LOOPBACK = ("localhost", "127.0.0.1")


def add_parser(sub: Any) -> None:
    """`aura certs` on `sub`, the subparsers of `aura`."""
    certs = sub.add_parser(
        "certs",
        help="make a local CA and certificates for the orchestrator, clients and the mock services",
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
    for service, (short, _) in DEFAULT_SERVICES.items():
        authority.issue(directory, short, (service_identity(service), *LOOPBACK))
    mesh_cert, mesh_key = authority.issue(directory, "orchestrator-client", ("aura-orchestrator",))
    print(
        f"# made in {directory}: the CA, the orchestrator's certificate, a client's, one per "
        "mock service (<name>.crt) and the orchestrator's client certificate for the mesh"
    )
    print("# the orchestrator (aura serve / aura up), mTLS:")
    print(f"export AURA_TLS_CERT={server_cert} AURA_TLS_KEY={server_key} AURA_TLS_CLIENT_CA={ca}")
    print("# the aura client commands:")
    print(
        f"export AURA_TLS_CA={ca} AURA_TLS_CLIENT_CERT={client_cert} "
        f"AURA_TLS_CLIENT_KEY={client_key}"
    )
    print("# the orchestrator's links to the mock services (mTLS):")
    print(
        f"export AURA_MESH_TLS_CA={ca} AURA_MESH_TLS_CERT={mesh_cert} AURA_MESH_TLS_KEY={mesh_key}"
    )
    print("# the mock services (aura up / demo pass it on; python -m mock_services reads it):")
    print(f"export AURA_MOCK_TLS_DIR={directory}")
    return 0
