"""The gRPC face of the orchestrator."""

from orchestrator.api.error_interceptor import ErrorStatusInterceptor
from orchestrator.api.events_servicer import EventServicer
from orchestrator.api.servicer import OrchestratorServicer
from orchestrator.api.status import abort_with

__all__ = [
    "ErrorStatusInterceptor",
    "EventServicer",
    "OrchestratorServicer",
    "abort_with",
]
