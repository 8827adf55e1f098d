"""Several replicas on one shared store: heartbeats, takeover of dead replicas' runs,
cross-replica cancels and watches."""

from orchestrator.cluster.coordinator import ReplicaCoordinator

__all__ = ["ReplicaCoordinator"]
