"""Trigger evaluation: a consumer of group "triggers" that starts the runs its events
match.

For each event, every trigger of every definition (`definitions()`, read per event so
new definitions apply at once) is matched; each match calls `start_run` with a
TriggeredRun whose request_id derives from (definition, trigger, event_id). The entry
is acknowledged only after every start returned, i.e. the runs' creation is durable,
so a crash before that redelivers the event and the idempotent start returns the run
it created (exactly one run per trigger and event). A start refused for good
(INVALID_ARGUMENT, NOT_FOUND, FAILED_PRECONDITION: the event can never make a valid
run) dead-letters the event at once; ALREADY_EXISTS (that request_id started a run
with other parameters, e.g. before the definition changed) counts as started; any
other failure is retried by redelivery, up to BusSettings.max_deliveries.

Tenants: a created definition (WorkflowDefinition.tenant set) listens to its own
tenant's stream of each trigger topic only, and its runs are that tenant's; a shared
definition (the seeds the orchestrator ships, tenant empty) listens to every tenant's
stream of the topic, and each run it starts is the event's tenant's. The request_id
is derived as before: request ids are per tenant, so the same event_id in two tenants
makes two runs.

`run.finished` events (published by the store's outbox) have the finished run's
definition name as key and this payload: {"run": "workflowRuns/<id>",
"workflow_definition": "workflowDefinitions/<id>", "state": "SUCCEEDED" | "FAILED" |
"PARTIALLY_SUCCEEDED" | "CANCELLED" | ..., "input": {...}, "labels": {...},
"error_code": "" | "<gRPC code name>", "error_message": ""}; event_id
"run-finished:<run id>".
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import grpc

from orchestrator.bus.connection import BusConnection
from orchestrator.bus.consumer_group import GroupConsumer, PermanentFailure
from orchestrator.bus.metrics import BusMetrics
from orchestrator.bus.model import EVERY_TENANT_OF_TOPIC, TRIGGER_GROUP, BusEvent
from orchestrator.errors import AuraError
from orchestrator.names import DEFAULT_TENANT
from orchestrator.workflows import CompiledTrigger, CompiledWorkflow, EventView

log = logging.getLogger(__name__)

#: Labels every triggered run carries.
TRIGGER_LABEL = "aura_trigger"
TOPIC_LABEL = "aura_event_topic"
_PERMANENT = {
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.FAILED_PRECONDITION,
}


@dataclass(frozen=True)
class TriggeredRun:
    """What `start_run` is asked to start (the server turns it into its RunSpec)."""

    workflow_definition: str
    input: dict[str, Any]
    request_id: str
    labels: dict[str, str] = field(default_factory=dict)
    trigger: str = ""
    event: BusEvent | None = None
    #: The run's tenant: the event's (which is its definition's, or any for a shared one).
    tenant: str = DEFAULT_TENANT


StartRun = Callable[[TriggeredRun], Awaitable[object]]


def triggered_run(trigger: CompiledTrigger, event: BusEvent) -> TriggeredRun:
    view = EventView(event.topic, event.key, event.event_id, event.payload)
    return TriggeredRun(
        workflow_definition=trigger.definition,
        input=trigger.run_input(view),
        request_id=trigger.request_id(event.event_id),
        labels={TRIGGER_LABEL: trigger.id, TOPIC_LABEL: event.topic},
        trigger=trigger.id,
        event=event,
        tenant=event.tenant or DEFAULT_TENANT,
    )


def listens_to(workflow: CompiledWorkflow) -> str:
    """Whose events a definition's triggers see: its tenant's, or (a shared definition)
    EVERY_TENANT_OF_TOPIC."""
    return workflow.definition.tenant or EVERY_TENANT_OF_TOPIC


def hears(workflow: CompiledWorkflow, event: BusEvent) -> bool:
    owner = listens_to(workflow)
    return owner == EVERY_TENANT_OF_TOPIC or owner == (event.tenant or DEFAULT_TENANT)


def matching_runs(workflows: Iterable[CompiledWorkflow], event: BusEvent) -> list[TriggeredRun]:
    """The runs `event` starts: one per matching trigger of a definition that hears the
    event's tenant."""
    view = EventView(event.topic, event.key, event.event_id, event.payload)
    return [
        triggered_run(trigger, event)
        for workflow in workflows
        if hears(workflow, event)
        for trigger in workflow.triggers
        if trigger.matches(view)
    ]


class TriggerConsumer:
    def __init__(
        self,
        connection: BusConnection,
        *,
        consumer: str,
        definitions: Callable[[], Iterable[CompiledWorkflow]],
        start_run: StartRun,
        metrics: BusMetrics | None = None,
        group: str = TRIGGER_GROUP,
    ) -> None:
        self._definitions = definitions
        self._start_run = start_run
        self._metrics = metrics or BusMetrics()
        self.consumer = GroupConsumer(
            connection,
            group=group,
            consumer=consumer,
            topics=self.topics,
            handler=self.handle,
            metrics=self._metrics,
        )

    def topics(self) -> set[tuple[str, str]]:
        """(tenant, topic) of every stream a trigger listens to."""
        return {
            (listens_to(workflow), t.topic)
            for workflow in self._definitions()
            for t in workflow.triggers
        }

    async def handle(self, event: BusEvent, deliveries: int) -> None:
        for run in matching_runs(self._definitions(), event):
            try:
                await self._start_run(run)
            except AuraError as error:
                if error.code == grpc.StatusCode.ALREADY_EXISTS:
                    log.info("trigger %s: run %s exists already", run.trigger, run.request_id)
                    continue
                if error.code in _PERMANENT:
                    raise PermanentFailure(
                        f"{run.workflow_definition} trigger {run.trigger}: "
                        f"{error.code.name}: {error.message}"
                    ) from error
                raise
            if deliveries == 1 and event.publish_time_ms:
                self._metrics.trigger_start.observe(
                    max(0.0, time.time() - event.publish_time_ms / 1000)
                )

    async def start(self) -> None:
        await self.consumer.start()

    async def stop(self) -> None:
        await self.consumer.stop()
