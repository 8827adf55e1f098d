"""The gRPC face of the orchestrator."""

from orchestrator.api.error_interceptor import ErrorStatusInterceptor
from orchestrator.api.servicer import OrchestratorServicer
from orchestrator.api.status import abort_with

__all__ = [
    "ErrorStatusInterceptor",
    "OrchestratorServicer",
    "abort_with",
]
