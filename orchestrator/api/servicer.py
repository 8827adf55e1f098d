"""OrchestratorService: proto <-> domain, validation, nothing else."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, TypeAlias

import grpc

from aura.orchestrator.v1 import orchestrator_pb2, orchestrator_pb2_grpc, run_pb2
from orchestrator.analytics import AnalyticsRecorder, StoreAnalytics
from orchestrator.api.definition_page_token import (
    decode_definition_token,
    encode_definition_token,
)
from orchestrator.api.replica_views import add_replica_views
from orchestrator.api.request_limits import (
    MAX_CANCEL_REASON_LENGTH,
    check_length,
    check_resource_name,
)
from orchestrator.api.run_views import (
    BASIC,
    FULL,
    MAX_FULL_PAGE_SIZE,
    full_page,
    resolve_view,
    run_from_record,
    without_input_and_outputs,
)
from orchestrator.bus import ServiceStateBoard
from orchestrator.engine import (
    Engine,
    RunSpec,
    run_name,
    run_of_transaction,
    transaction_outcome,
)
from orchestrator.errors import FieldViolation, InvalidArgument, NotFound
from orchestrator.events import EventHub
from orchestrator.mesh import BackendPool, ServingStatus
from orchestrator.names import DEFAULT_TENANT, DEFINITION_PREFIX, RUN_PREFIX
from orchestrator.resilience import CircuitState
from orchestrator.runs import EVERY_TENANT, TenantScope, parse_run_filter
from orchestrator.security import current_caller
from orchestrator.store import ReplicaInfo, replicated
from orchestrator.workflows import CompiledWorkflow, duration_problem

_CIRCUIT_STATES = {
    CircuitState.CLOSED: orchestrator_pb2.CIRCUIT_STATE_CLOSED,
    CircuitState.OPEN: orchestrator_pb2.CIRCUIT_STATE_OPEN,
    CircuitState.HALF_OPEN: orchestrator_pb2.CIRCUIT_STATE_HALF_OPEN,
}
_SERVING_STATUSES = {
    ServingStatus.SERVING: orchestrator_pb2.SERVING_STATUS_SERVING,
    ServingStatus.NOT_SERVING: orchestrator_pb2.SERVING_STATUS_NOT_SERVING,
    ServingStatus.UNKNOWN: orchestrator_pb2.SERVING_STATUS_UNKNOWN,
}
# ServiceSnapshot fields that ServiceStatus carries as they are, under the same names.
_SERVICE_COUNTS = (
    "call_count",
    "error_count",
    "circuit_trips",
    "circuit_rejections",
    "in_flight",
    "max_in_flight",
    "retry_tokens",
    "max_retry_tokens",
)
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
Ctx: TypeAlias = "grpc.aio.ServicerContext[Any, Any]"


def _page_size(value: int) -> int:
    if value < 0:
        raise InvalidArgument(
            "page_size must not be negative",
            violations=[FieldViolation("page_size", "must be >= 0")],
        )
    return min(value or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


def _required_name(value: str, field: str, prefix: str) -> str:
    return check_resource_name(value, field, prefix)


def _scope() -> TenantScope:
    """The caller's tenant (its token's), or the default tenant when no tokens are asked.
    Every read and change of runs and definitions below goes through it."""
    caller = current_caller.get()
    return TenantScope.of(caller.tenant if caller is not None else DEFAULT_TENANT)


def _spec(request: Any, context: Ctx | None = None) -> RunSpec:
    _required_name(request.workflow_definition, "workflow_definition", DEFINITION_PREFIX)
    timeout_s = None
    if request.HasField("timeout"):
        problem = duration_problem(request.timeout)
        if problem:
            raise InvalidArgument(
                f"timeout is not a valid Duration: {problem}",
                violations=[FieldViolation("timeout", problem)],
            )
        timeout_s = request.timeout.ToNanoseconds() / 1e9
    caller_deadline_s = None
    if context is not None:
        remaining = context.time_remaining()
        if remaining is not None:
            caller_deadline_s = remaining
    return RunSpec(
        workflow_definition=request.workflow_definition,
        input=request.input,
        labels=dict(request.labels),
        request_id=request.request_id,
        timeout_s=timeout_s,
        caller_deadline_s=caller_deadline_s,
        priority=request.priority,
        tenant=_scope().tenant or DEFAULT_TENANT,
    )


class OrchestratorServicer(orchestrator_pb2_grpc.OrchestratorServiceServicer):
    def __init__(
        self,
        engine: Engine,
        hub: EventHub,
        pool: BackendPool,
        analytics: AnalyticsRecorder,
        services_board: ServiceStateBoard | None = None,
    ) -> None:
        """`services_board`: the bus's service state board (ListServices shows every
        replica's view of each endpoint); None without the bus."""
        self._services_board = services_board
        self._engine = engine
        self._hub = hub
        self._pool = pool
        self._analytics = StoreAnalytics(engine.store, self._known_definition, analytics)

    # Definitions ---------------------------------------------------------

    async def ListWorkflowDefinitions(
        self, request: orchestrator_pb2.ListWorkflowDefinitionsRequest, context: Ctx
    ) -> orchestrator_pb2.ListWorkflowDefinitionsResponse:
        size = _page_size(request.page_size)
        after = decode_definition_token(request.page_token)
        compiled = [c for c in self._engine.definitions(scope=_scope()) if c.name > after]
        page = compiled[:size]
        response = orchestrator_pb2.ListWorkflowDefinitionsResponse(
            workflow_definitions=[c.definition for c in page]
        )
        if len(compiled) > size:
            response.next_page_token = encode_definition_token(page[-1].name)
        return response

    async def GetWorkflowDefinition(
        self, request: orchestrator_pb2.GetWorkflowDefinitionRequest, context: Ctx
    ) -> orchestrator_pb2.GetWorkflowDefinitionResponse:
        name = _required_name(request.name, "name", DEFINITION_PREFIX)
        compiled = self._engine.definition(name, scope=_scope())
        return orchestrator_pb2.GetWorkflowDefinitionResponse(
            workflow_definition=compiled.definition
        )

    async def CreateWorkflowDefinition(
        self, request: orchestrator_pb2.CreateWorkflowDefinitionRequest, context: Ctx
    ) -> orchestrator_pb2.CreateWorkflowDefinitionResponse:
        if not request.HasField("workflow_definition"):
            raise InvalidArgument(
                "workflow_definition is required",
                violations=[FieldViolation("workflow_definition", "required")],
            )
        compiled = await self._engine.create_definition(
            request.workflow_definition, scope=_scope(), validate_only=request.validate_only
        )
        return orchestrator_pb2.CreateWorkflowDefinitionResponse(
            workflow_definition=compiled.definition
        )

    # Runs ------------------------------------------------------------------

    async def StartWorkflowRun(
        self, request: orchestrator_pb2.StartWorkflowRunRequest, context: Ctx
    ) -> orchestrator_pb2.StartWorkflowRunResponse:
        run, _ = await self._engine.start_run(_spec(request))
        return orchestrator_pb2.StartWorkflowRunResponse(workflow_run=run)

    async def ExecuteWorkflowRun(
        self, request: orchestrator_pb2.ExecuteWorkflowRunRequest, context: Ctx
    ) -> orchestrator_pb2.ExecuteWorkflowRunResponse:
        finished = await self._engine.execute_run(_spec(request, context))
        return orchestrator_pb2.ExecuteWorkflowRunResponse(workflow_run=finished)

    async def StreamWorkflowRun(
        self, request: orchestrator_pb2.StreamWorkflowRunRequest, context: Ctx
    ) -> AsyncIterator[orchestrator_pb2.StreamWorkflowRunResponse]:
        spec = _spec(request)
        run, _ = await self._engine.start_run(spec)
        async for event in self._engine.watch_run(self._hub, run.name, scope=spec.scope):
            yield orchestrator_pb2.StreamWorkflowRunResponse(event=event)

    async def WatchWorkflowRun(
        self, request: orchestrator_pb2.WatchWorkflowRunRequest, context: Ctx
    ) -> AsyncIterator[orchestrator_pb2.WatchWorkflowRunResponse]:
        name = run_name(_required_name(request.name, "name", RUN_PREFIX))
        if request.after_seq < 0:
            raise InvalidArgument(
                "after_seq must not be negative",
                violations=[FieldViolation("after_seq", "must be >= 0")],
            )
        watching = self._engine.watch_run(self._hub, name, request.after_seq, scope=_scope())
        async for event in watching:
            yield orchestrator_pb2.WatchWorkflowRunResponse(event=event)

    async def GetWorkflowRun(
        self, request: orchestrator_pb2.GetWorkflowRunRequest, context: Ctx
    ) -> orchestrator_pb2.GetWorkflowRunResponse:
        name = run_name(_required_name(request.name, "name", RUN_PREFIX))
        view = resolve_view(request.view, default=FULL)
        run = await self._engine.get_run(name, scope=_scope(), include_outputs=view == FULL)
        if view == BASIC:
            run = without_input_and_outputs(run)
        return orchestrator_pb2.GetWorkflowRunResponse(workflow_run=run)

    async def GetTransactionOutcome(
        self, request: orchestrator_pb2.GetTransactionOutcomeRequest, context: Ctx
    ) -> orchestrator_pb2.GetTransactionOutcomeResponse:
        located = run_of_transaction(request.transaction_id)
        if located is None:
            problem = 'must be "<run id>/<transaction group id>"'
            raise InvalidArgument(
                f"transaction_id {problem}",
                violations=[FieldViolation("transaction_id", problem)],
            )
        run, _ = located
        # Every tenant's: participants ask with a service's token, not the run's tenant's.
        # The answer is a decision only, for an id that is a random run id.
        events = await self._engine.read_events(run, scope=EVERY_TENANT)
        decision, state = transaction_outcome(events, request.transaction_id)
        return orchestrator_pb2.GetTransactionOutcomeResponse(
            decision=decision,  # type: ignore[arg-type]
            state=state,  # type: ignore[arg-type]
            run=run,
        )

    async def ListWorkflowRuns(
        self, request: orchestrator_pb2.ListWorkflowRunsRequest, context: Ctx
    ) -> orchestrator_pb2.ListWorkflowRunsResponse:
        view = resolve_view(request.view, default=BASIC)
        size = _page_size(request.page_size)
        if view == FULL:
            size = min(size, MAX_FULL_PAGE_SIZE)
        run_filter = parse_run_filter(request.filter)
        scope = _scope()
        records, next_token = await self._engine.list_runs(
            run_filter, size, request.page_token, scope=scope
        )
        if view == FULL:

            async def get_run(name: str) -> run_pb2.WorkflowRun:
                return await self._engine.get_run(name, scope=scope)

            return await full_page(records, next_token, run_filter, get_run)
        return orchestrator_pb2.ListWorkflowRunsResponse(
            workflow_runs=[run_from_record(record) for record in records],
            next_page_token=next_token,
        )

    async def CancelWorkflowRun(
        self, request: orchestrator_pb2.CancelWorkflowRunRequest, context: Ctx
    ) -> orchestrator_pb2.CancelWorkflowRunResponse:
        name = run_name(_required_name(request.name, "name", RUN_PREFIX))
        check_length(request.reason, "reason", MAX_CANCEL_REASON_LENGTH)
        run = await self._engine.cancel_run(name, request.reason, scope=_scope())
        return orchestrator_pb2.CancelWorkflowRunResponse(workflow_run=run)

    # Mesh and analytics ------------------------------------------------------

    async def ListServices(
        self, request: orchestrator_pb2.ListServicesRequest, context: Ctx
    ) -> orchestrator_pb2.ListServicesResponse:
        response = orchestrator_pb2.ListServicesResponse()
        for service in self._pool.snapshot():
            entry = response.services.add(
                service=service.service,
                circuit_state=_CIRCUIT_STATES[service.circuit_state],
                **{name: getattr(service, name) for name in _SERVICE_COUNTS},
            )
            for endpoint in service.endpoints:
                item = entry.endpoints.add(
                    address=endpoint.address,
                    serving_status=_SERVING_STATUSES[endpoint.serving_status],
                    circuit_state=_CIRCUIT_STATES[endpoint.circuit_state],
                    circuit_trips=endpoint.circuit_trips,
                    call_count=endpoint.call_count,
                    error_count=endpoint.error_count,
                )
                if endpoint.circuit_changed_at is not None:
                    item.circuit_change_time.FromNanoseconds(int(endpoint.circuit_changed_at * 1e9))
            entry.latency_p50.FromNanoseconds(int(service.latency_p50_s * 1e9))
            entry.latency_p99.FromNanoseconds(int(service.latency_p99_s * 1e9))
        await self._describe_replicas(response)
        await add_replica_views(response, self._services_board)
        return response

    async def _describe_replicas(self, response: orchestrator_pb2.ListServicesResponse) -> None:
        """Every replica of the store and what it owns; on SQLite, this process alone."""
        store = self._engine.store
        shared = replicated(store)
        me = store.replica_id
        if shared is None:
            replicas = [ReplicaInfo(me, "", 0.0, True, self._engine.active_run_count)]
        else:
            replicas = await shared.list_replicas()
        for replica in replicas:
            item = response.replicas.add(
                id=replica.id,
                address=replica.address,
                alive=replica.alive,
                owned_runs=replica.owned_runs,
                answering=replica.id == me,
            )
            item.heartbeat_age.FromNanoseconds(int(replica.heartbeat_age_s * 1e9))
        response.queued_runs = await store.queue_depth()

    async def GetAnalytics(
        self, request: orchestrator_pb2.GetAnalyticsRequest, context: Ctx
    ) -> orchestrator_pb2.GetAnalyticsResponse:
        window_s = request.window.ToNanoseconds() / 1e9 if request.HasField("window") else None
        if window_s is not None and window_s <= 0:
            raise InvalidArgument(
                "window must be positive", violations=[FieldViolation("window", "must be > 0")]
            )
        definition = ""
        scope = _scope()
        if request.workflow_definition:
            _required_name(request.workflow_definition, "workflow_definition", DEFINITION_PREFIX)
            definition = self._engine.definition(request.workflow_definition, scope=scope).name
        open_now = frozenset(
            service.service
            for service in self._pool.snapshot()
            if service.circuit_state is CircuitState.OPEN
        )
        return await self._analytics.report(
            scope=scope, window_s=window_s, definition=definition, open_now=open_now
        )

    def _known_definition(self, name: str) -> CompiledWorkflow | None:
        """The compiled definition for analytics; None for one deleted since its runs."""
        try:
            return self._engine.definition(name, scope=EVERY_TENANT)
        except NotFound:
            return None

    # Deletes (AIP-135) -------------------------------------------------------

    async def DeleteWorkflowRun(
        self, request: orchestrator_pb2.DeleteWorkflowRunRequest, context: Ctx
    ) -> orchestrator_pb2.DeleteWorkflowRunResponse:
        name = run_name(_required_name(request.name, "name", RUN_PREFIX))
        await self._engine.delete_run(name, scope=_scope())
        return orchestrator_pb2.DeleteWorkflowRunResponse()

    async def DeleteWorkflowDefinition(
        self, request: orchestrator_pb2.DeleteWorkflowDefinitionRequest, context: Ctx
    ) -> orchestrator_pb2.DeleteWorkflowDefinitionResponse:
        name = _required_name(request.name, "name", DEFINITION_PREFIX)
        await self._engine.delete_definition(name, scope=_scope())
        return orchestrator_pb2.DeleteWorkflowDefinitionResponse()
