"""The mesh: channels, health and the generic call to backend services."""

from orchestrator.mesh.backend_error import BackendCallError, code_of, status_of
from orchestrator.mesh.backend_pool import BackendPool, Endpoint, ServiceStats

__all__ = ["BackendCallError", "BackendPool", "Endpoint", "ServiceStats", "code_of", "status_of"]
