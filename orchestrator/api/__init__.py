"""The gRPC face of the orchestrator."""

from orchestrator.api.request_decoding import UNDECODABLE_REQUEST, UndecodableRequestInterceptor
from orchestrator.api.servicer import OrchestratorServicer
from orchestrator.api.status import to_rpc_status

__all__ = [
    "UNDECODABLE_REQUEST",
    "OrchestratorServicer",
    "UndecodableRequestInterceptor",
    "to_rpc_status",
]
