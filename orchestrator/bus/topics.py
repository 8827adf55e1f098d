"""The topics the orchestrator publishes and their payload builders: defined next to the
stores that write them to their outbox (orchestrator.store.outbox_topics)."""

from orchestrator.store import (
    ALERT_PREFIX,
    RUN_CREATED,
    RUN_FINISHED,
    SERVICE_STATE,
    STEP_FAILED,
    TopicEvent,
    run_created,
    run_finished,
    service_state,
    step_failed,
)

__all__ = [
    "ALERT_PREFIX",
    "RUN_CREATED",
    "RUN_FINISHED",
    "SERVICE_STATE",
    "STEP_FAILED",
    "TopicEvent",
    "run_created",
    "run_finished",
    "service_state",
    "step_failed",
]
