"""What each RPC needs: the one table the server's authentication reads.

Reading needs `read`, changing runs or publishing needs `write`, and managing definitions
and reflection need `admin` (it describes every method). A method missing from the table
needs `admin`, so a new RPC is closed until someone decides who may call it. Health is open
to everyone (Kubernetes probes send no token).
"""

from __future__ import annotations

from aura.events.v1 import events_pb2
from aura.orchestrator.v1 import orchestrator_pb2
from orchestrator.security import Permission

READ, WRITE, ADMIN = Permission.READ, Permission.WRITE, Permission.ADMIN

_ORCHESTRATOR = orchestrator_pb2.DESCRIPTOR.services_by_name["OrchestratorService"].full_name
_EVENTS = events_pb2.DESCRIPTOR.services_by_name["EventService"].full_name

_BY_SERVICE: dict[str, dict[str, Permission]] = {
    _ORCHESTRATOR: {
        "ListWorkflowDefinitions": READ,
        "GetWorkflowDefinition": READ,
        "CreateWorkflowDefinition": ADMIN,
        "DeleteWorkflowDefinition": ADMIN,
        "StartWorkflowRun": WRITE,
        "ExecuteWorkflowRun": WRITE,
        "StreamWorkflowRun": WRITE,
        "WatchWorkflowRun": READ,
        "GetWorkflowRun": READ,
        "ListWorkflowRuns": READ,
        "CancelWorkflowRun": WRITE,
        "DeleteWorkflowRun": WRITE,
        "ListServices": READ,
        "GetAnalytics": READ,
        # Participants asking a transaction's outcome hold a service's read token.
        "GetTransactionOutcome": READ,
    },
    _EVENTS: {
        "PublishEvent": WRITE,
        "SubscribeEvents": READ,
        "ListEvents": READ,
        "ListDeadLetters": READ,
        "ReplayDeadLetter": WRITE,
    },
    "grpc.reflection.v1alpha.ServerReflection": {"ServerReflectionInfo": ADMIN},
    "grpc.reflection.v1.ServerReflection": {"ServerReflectionInfo": ADMIN},
}

#: "/package.Service/Method" -> the permission a caller needs.
METHOD_PERMISSIONS: dict[str, Permission] = {
    f"/{service}/{method}": permission
    for service, methods in _BY_SERVICE.items()
    for method, permission in methods.items()
}
#: Services any caller may use without a token.
OPEN_SERVICES = frozenset({"grpc.health.v1.Health"})


def is_open(method: str) -> bool:
    return method.split("/")[1] in OPEN_SERVICES if method.count("/") == 2 else False


def permission_for(method: str) -> Permission:
    return METHOD_PERMISSIONS.get(method, ADMIN)
