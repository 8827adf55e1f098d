"""The topics the orchestrator publishes (through the store's outbox) and the shape of
their payloads: one builder each, so the stores, the consumers and the docs agree; and
`OutboxEntry`, what a store's outbox hands the relay. They live with the stores (which
write them in their commits); `orchestrator.bus` re-exports them.

- `run.created`: key the definition name, event_id `run-created:<run id>`; payload
  run, workflow_definition, input, labels, request_id, tenant.
- `run.finished`: key the definition name, event_id `run-finished:<run id>`; payload
  run, workflow_definition, state, input, labels, error_code, error_message, tenant.
- `step.failed`: key the definition name, event_id `step-failed:<run id>:<step>:<attempt>`;
  payload run, workflow_definition, step, method, attempt, error_code, error_message, tenant.

The three run topics carry the run's tenant (its `run_created.tenant`, "default" when
empty) in their payload: the outbox keeps (topic, key, event_id, payload), and the relay
publishes each such entry on that tenant's stream (`tenant_of`).
- `service.state`: key the service name, event_id `service-state:<replica>:<endpoint>:<seq>`;
  payload replica, service, endpoint, breaker, serving.
- `alert.<name>`: key what it is about; payload severity, summary, details.

Run ids are the bare ids of "workflowRuns/<id>"; states and codes are enum names without
their prefix ("SUCCEEDED", "UNAVAILABLE").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from orchestrator.names import DEFAULT_TENANT

RUN_CREATED: Final = "run.created"
RUN_FINISHED: Final = "run.finished"
STEP_FAILED: Final = "step.failed"
SERVICE_STATE: Final = "service.state"
ALERT_PREFIX: Final = "alert."


@dataclass(frozen=True)
class TopicEvent:
    """What a store writes to its outbox: OutboxEntry without the id and time."""

    topic: str
    key: str
    event_id: str
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class OutboxEntry:
    id: int
    """Increasing with commit order."""
    topic: str
    key: str
    event_id: str
    """Stable across republishes: "run-finished:<run id>", "run-created:<run id>", ..."""
    payload: dict[str, Any] = field(default_factory=dict)
    created_us: int = 0
    """When the store committed it (unix microseconds): the relay lag is measured from it."""


def _bare(run: str) -> str:
    return run.rpartition("/")[2]


_RUN_TOPICS: Final = (RUN_CREATED, RUN_FINISHED, STEP_FAILED)


def tenant_of(topic: str, payload: Mapping[str, Any]) -> str:
    """Whose stream an outbox entry goes to: a run topic's run's tenant; every other
    topic (service.state, alert.*: about the orchestrator itself) is the default tenant's."""
    if topic in _RUN_TOPICS:
        tenant = payload.get("tenant")
        if isinstance(tenant, str) and tenant:
            return tenant
    return DEFAULT_TENANT


def run_created(
    run: str,
    definition: str,
    run_input: Mapping[str, Any],
    labels: Mapping[str, str],
    request_id: str = "",
    tenant: str = "",
) -> TopicEvent:
    return TopicEvent(
        RUN_CREATED,
        definition,
        f"run-created:{_bare(run)}",
        {
            "run": run,
            "workflow_definition": definition,
            "input": dict(run_input),
            "labels": dict(labels),
            "request_id": request_id,
            "tenant": tenant or DEFAULT_TENANT,
        },
    )


def run_finished(
    run: str,
    definition: str,
    state: str,
    run_input: Mapping[str, Any],
    labels: Mapping[str, str],
    error_code: str = "",
    error_message: str = "",
    tenant: str = "",
) -> TopicEvent:
    """The event of a run that reached `state` (SUCCEEDED, PARTIALLY_SUCCEEDED, FAILED,
    CANCELLED); what triggers of topic run.finished match."""
    return TopicEvent(
        RUN_FINISHED,
        definition,
        f"run-finished:{_bare(run)}",
        {
            "run": run,
            "workflow_definition": definition,
            "state": state,
            "input": dict(run_input),
            "labels": dict(labels),
            "error_code": error_code,
            "error_message": error_message,
            "tenant": tenant or DEFAULT_TENANT,
        },
    )


def step_failed(
    run: str,
    definition: str,
    step: str,
    method: str,
    attempt: int,
    error_code: str,
    error_message: str,
    tenant: str = "",
) -> TopicEvent:
    return TopicEvent(
        STEP_FAILED,
        definition,
        f"step-failed:{_bare(run)}:{step}:{attempt}",
        {
            "run": run,
            "workflow_definition": definition,
            "step": step,
            "method": method,
            "attempt": attempt,
            "error_code": error_code,
            "error_message": error_message,
            "tenant": tenant or DEFAULT_TENANT,
        },
    )


def service_state(
    replica: str, service: str, endpoint: str, breaker: str, serving: str, seq: int
) -> TopicEvent:
    """A breaker or health transition of one endpoint as `replica` sees it; `seq`
    increases per (replica, endpoint), so each transition is its own event."""
    return TopicEvent(
        SERVICE_STATE,
        service,
        f"service-state:{replica}:{endpoint}:{seq}",
        {
            "replica": replica,
            "service": service,
            "endpoint": endpoint,
            "breaker": breaker,
            "serving": serving,
        },
    )
