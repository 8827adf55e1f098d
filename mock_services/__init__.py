"""Five real grpc.aio servers that behave like the AI fashion services, with injectable faults.

    async with MockMesh() as mesh:                  # all five on free ports
        mesh.servers["nlu"].faults.error_rate = 0.5
        addresses = mesh.addresses()                # full service name -> "host:port"

See README.md for the `aura-fault` header, flags and environment variables.
"""

from mock_services.common.faults import FAULT_HEADER, FaultConfig
from mock_services.common.interceptor import IDEMPOTENCY_KEY_HEADER
from mock_services.common.server import MockServer, start_mock_server
from mock_services.common.tls import MockTls
from mock_services.mesh import SERVICE_PORTS, MockMesh, main, serve_mesh

__all__ = [
    "FAULT_HEADER",
    "IDEMPOTENCY_KEY_HEADER",
    "SERVICE_PORTS",
    "FaultConfig",
    "MockMesh",
    "MockServer",
    "MockTls",
    "main",
    "serve_mesh",
    "start_mock_server",
]
