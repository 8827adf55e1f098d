"""ListServices across the cluster: each replica's view of every backend endpoint, from the
event bus's service state board (`ServiceEndpoint.replica_views`)."""

from __future__ import annotations

import logging

from aura.orchestrator.v1 import orchestrator_pb2
from orchestrator.bus import EndpointState, ServiceStateBoard
from orchestrator.errors import AuraError

log = logging.getLogger(__name__)

_CIRCUIT = {
    "closed": orchestrator_pb2.CIRCUIT_STATE_CLOSED,
    "open": orchestrator_pb2.CIRCUIT_STATE_OPEN,
    "half_open": orchestrator_pb2.CIRCUIT_STATE_HALF_OPEN,
}
_SERVING = {
    "SERVING": orchestrator_pb2.SERVING_STATUS_SERVING,
    "NOT_SERVING": orchestrator_pb2.SERVING_STATUS_NOT_SERVING,
    "UNKNOWN": orchestrator_pb2.SERVING_STATUS_UNKNOWN,
}


def view_of(state: EndpointState) -> orchestrator_pb2.ReplicaEndpointView:
    view = orchestrator_pb2.ReplicaEndpointView(
        replica=state.replica,
        serving_status=_SERVING.get(state.serving, orchestrator_pb2.SERVING_STATUS_UNSPECIFIED),
        circuit_state=_CIRCUIT.get(state.breaker, orchestrator_pb2.CIRCUIT_STATE_UNSPECIFIED),
    )
    if state.updated_ms:
        view.update_time.FromMilliseconds(state.updated_ms)
    return view


async def add_replica_views(
    response: orchestrator_pb2.ListServicesResponse, board: ServiceStateBoard | None
) -> None:
    """Fills every endpoint's replica_views; left empty when Redis cannot be reached."""
    if board is None:
        return
    try:
        states = await board.snapshot()
    except AuraError as error:
        log.warning("ListServices without the other replicas' views: %s", error)
        return
    by_endpoint: dict[tuple[str, str], list[EndpointState]] = {}
    for state in states:
        by_endpoint.setdefault((state.service, state.endpoint), []).append(state)
    for service in response.services:
        for endpoint in service.endpoints:
            found = by_endpoint.get((service.service, endpoint.address), [])
            endpoint.replica_views.extend(
                view_of(state) for state in sorted(found, key=lambda s: s.replica)
            )
