"""The gRPC face of the orchestrator."""

from orchestrator.api.error_interceptor import ErrorStatusInterceptor
from orchestrator.api.request_decoding import UNDECODABLE_REQUEST, UndecodableRequestInterceptor
from orchestrator.api.servicer import OrchestratorServicer
from orchestrator.api.status import abort_with

__all__ = [
    "UNDECODABLE_REQUEST",
    "ErrorStatusInterceptor",
    "OrchestratorServicer",
    "UndecodableRequestInterceptor",
    "abort_with",
]
