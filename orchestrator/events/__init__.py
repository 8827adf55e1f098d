"""Live run events: the in-process hub, gap-free watching, other replicas' commits."""

from orchestrator.events.hub import EventHub, HubShutDown, Subscription, SubscriptionLagged
from orchestrator.events.remote_feed import RemoteEventFeed
from orchestrator.events.watch import SHUTDOWN_RETRY_AFTER_S, watch_run

__all__ = [
    "SHUTDOWN_RETRY_AFTER_S",
    "EventHub",
    "HubShutDown",
    "RemoteEventFeed",
    "Subscription",
    "SubscriptionLagged",
    "watch_run",
]
