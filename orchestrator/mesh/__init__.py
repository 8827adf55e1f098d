"""The mesh: replicas, health, circuit breakers, bulkheads and the generic call to backends."""

from orchestrator.mesh.backend_error import BackendCallError, code_of, status_of
from orchestrator.mesh.backend_pool import (
    UNDECODABLE_RESPONSE,
    Answer,
    BackendPool,
    breaker_outcome,
)
from orchestrator.mesh.mesh_tls import MeshTls, MeshTlsFiles, service_identity
from orchestrator.mesh.service_state import Endpoint, ServiceState, ServiceStats
from orchestrator.mesh.snapshot import EndpointSnapshot, ServiceSnapshot, ServingStatus

__all__ = [
    "UNDECODABLE_RESPONSE",
    "Answer",
    "BackendCallError",
    "BackendPool",
    "Endpoint",
    "EndpointSnapshot",
    "MeshTls",
    "MeshTlsFiles",
    "ServiceSnapshot",
    "ServiceState",
    "ServiceStats",
    "ServingStatus",
    "breaker_outcome",
    "code_of",
    "service_identity",
    "status_of",
]
