"""The gRPC face of the orchestrator."""

from orchestrator.api.auth_interceptor import AuthInterceptor
from orchestrator.api.error_interceptor import ErrorStatusInterceptor
from orchestrator.api.events_servicer import EventServicer
from orchestrator.api.permissions import METHOD_PERMISSIONS, OPEN_SERVICES, permission_for
from orchestrator.api.servicer import OrchestratorServicer
from orchestrator.api.status import abort_with

__all__ = [
    "METHOD_PERMISSIONS",
    "OPEN_SERVICES",
    "AuthInterceptor",
    "ErrorStatusInterceptor",
    "EventServicer",
    "OrchestratorServicer",
    "abort_with",
    "permission_for",
]
