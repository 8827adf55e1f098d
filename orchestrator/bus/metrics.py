"""Prometheus metrics of the bus, in the registry the caller gives (the orchestrator's)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

#: Trigger to run start: 1 ms .. 10 s.
START_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10)


class BusMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = self.registry = registry if registry is not None else CollectorRegistry()
        self.published = Counter(
            "aura_bus_events_published_total",
            "Events appended to a topic's stream (duplicates not counted).",
            ["topic"],
            registry=r,
        )
        self.relay_lag = Gauge(
            "aura_bus_relay_lag_seconds",
            "Age of the oldest outbox entry not yet confirmed in Redis (0: none waiting).",
            registry=r,
        )
        self.relay_republished = Counter(
            "aura_bus_relay_republished_total",
            "Outbox entries published again because Redis had been emptied or restarted.",
            registry=r,
        )
        self.stream_length = Gauge(
            "aura_bus_stream_length", "Entries on a topic's stream.", ["topic"], registry=r
        )
        self.pending = Gauge(
            "aura_bus_pending_entries",
            "Entries delivered to a consumer group and not yet acknowledged.",
            ["topic", "group"],
            registry=r,
        )
        self.redeliveries = Counter(
            "aura_bus_redeliveries_total",
            "Entries delivered again (reclaimed from a dead or failing consumer).",
            ["topic", "group"],
            registry=r,
        )
        self.dead_letters = Counter(
            "aura_bus_dead_letters_total",
            "Entries a consumer group gave up on (moved to the dead-letter stream).",
            ["topic", "group"],
            registry=r,
        )
        self.handler_failures = Counter(
            "aura_bus_handler_failures_total",
            "Deliveries whose handler failed (the entry stays pending for a retry).",
            ["topic", "group"],
            registry=r,
        )
        self.trigger_start = Histogram(
            "aura_bus_trigger_start_seconds",
            "From an event's publish to the return of the run start it triggered.",
            buckets=START_BUCKETS_S,
            registry=r,
        )
