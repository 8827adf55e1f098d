"""`alert.*` events the bus publishes itself (Redis is up when they happen, so straight to
the stream, idempotent on their event_id; a failed alert is logged, never raised):

- `alert.dead_letter`: a consumer group dead-lettered an event (key: its topic); it is
  the event's tenant's (it tells that tenant's event id and reason).
- `alert.relay_lag`: the outbox relay published entries older than `RELAY_LAG_ALERT_S`
  (it had fallen behind, e.g. through a Redis outage); at most one per `RELAY_LAG_EVERY_S`;
  the default tenant's, like every event about the orchestrator itself.

`alert.breaker_open` comes from the service state feed, through the store's outbox.
Payload: severity, summary, details. Events of `alert.*` topics never raise alerts.
"""

from __future__ import annotations

import logging
from typing import Any, Final

from orchestrator.bus.model import BusEvent
from orchestrator.bus.publisher import EventPublisher
from orchestrator.names import DEFAULT_TENANT
from orchestrator.store import ALERT_PREFIX

log = logging.getLogger(__name__)

DEAD_LETTER_ALERT: Final = f"{ALERT_PREFIX}dead_letter"
RELAY_LAG_ALERT: Final = f"{ALERT_PREFIX}relay_lag"
RELAY_LAG_ALERT_S = 60.0
RELAY_LAG_EVERY_S = 300.0


def alert(
    topic: str,
    key: str,
    event_id: str,
    severity: str,
    summary: str,
    details: dict[str, Any],
    tenant: str = DEFAULT_TENANT,
) -> BusEvent:
    return BusEvent(
        topic,
        key,
        event_id,
        {"severity": severity, "summary": summary, "details": details},
        tenant=tenant,
    )


def dead_letter_alert(event: BusEvent, group: str, deliveries: int, reason: str) -> BusEvent:
    return alert(
        DEAD_LETTER_ALERT,
        event.topic,
        f"alert-dead-letter:{event.topic}:{group}:{event.cursor}",
        "warning",
        f"event {event.event_id} of {event.topic} dead-lettered by group {group}",
        {
            "topic": event.topic,
            "group": group,
            "event_id": event.event_id,
            "cursor": event.cursor,
            "deliveries": deliveries,
            "reason": reason[:1024],
        },
        tenant=event.tenant,
    )


def relay_lag_alert(lag_s: float, at_ms: int) -> BusEvent:
    return alert(
        RELAY_LAG_ALERT,
        "relay",
        f"alert-relay-lag:{at_ms}",
        "warning",
        f"the outbox relay published entries {lag_s:.0f} s after their commit",
        {"lag_s": round(lag_s, 3)},
    )


async def raise_alert(publisher: EventPublisher, event: BusEvent) -> None:
    if event.topic.startswith(ALERT_PREFIX) and event.key.startswith(ALERT_PREFIX):
        return  # an alert about an alert topic: none
    try:
        await publisher.publish(event)
    except Exception as error:
        log.warning("event bus: could not publish %s (%s)", event.topic, error)
