"""Live run events: the in-process hub and gap-free watching."""

from orchestrator.events.hub import EventHub, Subscription, SubscriptionLagged
from orchestrator.events.watch import watch_run

__all__ = ["EventHub", "Subscription", "SubscriptionLagged", "watch_run"]
