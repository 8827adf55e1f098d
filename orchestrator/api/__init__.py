"""The gRPC face of the orchestrator."""

from orchestrator.api.servicer import OrchestratorServicer
from orchestrator.api.status import to_rpc_status

__all__ = ["OrchestratorServicer", "to_rpc_status"]
