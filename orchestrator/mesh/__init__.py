"""The mesh: replicas, health, circuit breakers, bulkheads and the generic call to backends."""

from orchestrator.mesh.backend_error import BackendCallError, code_of, status_of
from orchestrator.mesh.backend_pool import BackendPool, breaker_outcome
from orchestrator.mesh.service_state import Endpoint, ServiceState, ServiceStats

__all__ = [
    "BackendCallError",
    "BackendPool",
    "Endpoint",
    "ServiceState",
    "ServiceStats",
    "breaker_outcome",
    "code_of",
    "status_of",
]
