"""Live run events: the in-process hub and gap-free watching."""

from orchestrator.events.hub import EventHub, HubShutDown, Subscription, SubscriptionLagged
from orchestrator.events.watch import SHUTDOWN_RETRY_AFTER_S, watch_run

__all__ = [
    "SHUTDOWN_RETRY_AFTER_S",
    "EventHub",
    "HubShutDown",
    "Subscription",
    "SubscriptionLagged",
    "watch_run",
]
