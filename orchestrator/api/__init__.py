"""The gRPC face of the orchestrator."""

from orchestrator.api.request_decoding import add_orchestrator_service
from orchestrator.api.servicer import OrchestratorServicer
from orchestrator.api.status import to_rpc_status

__all__ = ["OrchestratorServicer", "add_orchestrator_service", "to_rpc_status"]
