"""The event bus on Redis Streams: durable, idempotent events per topic, consumer
groups with reclaim and dead letters, the outbox relay and the trigger consumer.

Enabled by AURA_REDIS_URL; without it nothing here is started.
"""

from orchestrator.bus.alerts import DEAD_LETTER_ALERT, RELAY_LAG_ALERT
from orchestrator.bus.connection import BusConnection, redis_errors, unavailable
from orchestrator.bus.consumer_group import GroupConsumer, Handler, PermanentFailure
from orchestrator.bus.dead_letters import DeadLetters
from orchestrator.bus.event_bus import EventBus
from orchestrator.bus.grpc_start import grpc_start_run
from orchestrator.bus.limits import (
    MAX_EVENT_ID_LENGTH,
    MAX_KEY_LENGTH,
    MAX_PAYLOAD_BYTES,
    MAX_TOPIC_LENGTH,
    check_cursor,
    check_event,
    check_topic,
    page_size,
)
from orchestrator.bus.metrics import BusMetrics
from orchestrator.bus.model import TRIGGER_GROUP, BusEvent, BusSettings, DeadLetterEntry
from orchestrator.bus.outbox import InMemoryOutbox, Outbox, OutboxEntry
from orchestrator.bus.publisher import EventPublisher, Published
from orchestrator.bus.reader import TopicReader
from orchestrator.bus.relay import OutboxRelay
from orchestrator.bus.runtime import BusRuntime
from orchestrator.bus.service_board import EndpointState, ServiceStateBoard
from orchestrator.bus.service_feed import BREAKER_OPEN_ALERT, ServiceStateFeed
from orchestrator.bus.topics import (
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
from orchestrator.bus.trigger_consumer import (
    StartRun,
    TriggerConsumer,
    TriggeredRun,
    matching_runs,
)

__all__ = [
    "BREAKER_OPEN_ALERT",
    "DEAD_LETTER_ALERT",
    "MAX_EVENT_ID_LENGTH",
    "MAX_KEY_LENGTH",
    "MAX_PAYLOAD_BYTES",
    "MAX_TOPIC_LENGTH",
    "RELAY_LAG_ALERT",
    "RUN_CREATED",
    "RUN_FINISHED",
    "SERVICE_STATE",
    "STEP_FAILED",
    "TRIGGER_GROUP",
    "BusConnection",
    "BusEvent",
    "BusMetrics",
    "BusRuntime",
    "BusSettings",
    "DeadLetterEntry",
    "DeadLetters",
    "EndpointState",
    "EventBus",
    "EventPublisher",
    "GroupConsumer",
    "Handler",
    "InMemoryOutbox",
    "Outbox",
    "OutboxEntry",
    "OutboxRelay",
    "PermanentFailure",
    "Published",
    "ServiceStateBoard",
    "ServiceStateFeed",
    "StartRun",
    "TopicEvent",
    "TopicReader",
    "TriggerConsumer",
    "TriggeredRun",
    "check_cursor",
    "check_event",
    "check_topic",
    "grpc_start_run",
    "matching_runs",
    "page_size",
    "redis_errors",
    "run_created",
    "run_finished",
    "service_state",
    "step_failed",
    "unavailable",
]
