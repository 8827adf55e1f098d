"""Prometheus metrics of one orchestrator, derived from its committed run events.

`RunMetrics.observe` is a store commit listener (like the analytics recorder), so the
engine needs no call of its own: runs started and finished, step attempts, retries and
latencies, calls in flight and store commit latency all follow from the event stream.
Gauges that are a snapshot (runs in flight, watchers) are read at scrape time through
`bind_gauges`. Breaker state comes from the mesh through `observe_breaker_state`.

Each orchestrator has its own `CollectorRegistry`, so several in one process (tests)
do not collide; `MetricsEndpoint` serves it over HTTP for Prometheus.
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar
from wsgiref.simple_server import WSGIServer

from google.rpc import code_pb2
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    ProcessCollector,
    start_http_server,
)
from prometheus_client.metrics import MetricWrapperBase

from aura.orchestrator.v1 import run_pb2
from orchestrator.names import DEFINITION_PREFIX, RUN_PREFIX
from orchestrator.proto_time import seconds_of
from orchestrator.telemetry.event_metrics import (
    EventCounter,
    EventGauge,
    EventHistogram,
    EventMetricsCollector,
)
from orchestrator.telemetry.transaction_metrics import TransactionMetrics

log = logging.getLogger(__name__)
M = TypeVar("M", bound=MetricWrapperBase)

# Backend calls: 5 ms .. 60 s; runs: 50 ms .. 10 min; commits: 0.5 ms .. 2.5 s.
CALL_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
RUN_BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
COMMIT_BUCKETS_S = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)
TRANSACTION_METRIC_EVENTS = frozenset(
    {
        "transaction_voted",
        "transaction_decided",
        "transaction_acknowledged",
        "step_compensated",
        "compensation_attempt_failed",
    }
)
# Breaker state as a number, so it can be graphed and alerted on (state > 0).
BREAKER_STATES = {"closed": 0, "half_open": 1, "open": 2}


@dataclass
class _RunTrack:
    definition: str
    created_at: float  # unix seconds
    methods: dict[str, tuple[str, str]]  # step id -> (service, method)
    attempt_started: dict[str, float] = field(default_factory=dict)  # step id -> unix seconds
    step_started: dict[str, float] = field(default_factory=dict)  # step id -> first start


def _split_method(full_name: str) -> tuple[str, str]:
    service, _, method = full_name.partition("/")
    return service, method


def _code_name(code: int) -> str:
    try:
        return str(code_pb2.Code.Name(code))
    except ValueError:
        return str(code)


class RunMetrics:
    """Every metric of the orchestrator, in its own registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self._definition_methods: dict[str, dict[str, tuple[str, str]]] = {}
        r = self.registry
        self.runs_started = EventCounter(
            "aura_runs_started_total", "Runs created, by definition.", ["definition"]
        )
        self.runs_resumed = EventCounter(
            "aura_runs_resumed_total",
            "Unfinished runs taken up again after a restart, by definition.",
            ["definition"],
        )
        self.runs_finished = EventCounter(
            "aura_runs_finished_total",
            "Runs that reached a final state, by definition and state.",
            ["definition", "state"],
        )
        self.run_duration = EventHistogram(
            "aura_run_duration_seconds",
            "Time from a run's creation to its final state.",
            ["definition", "state"],
            buckets=RUN_BUCKETS_S,
        )
        self.step_attempts = EventCounter(
            "aura_step_attempts_total",
            "Backend calls made for steps, by service, method and gRPC status code.",
            ["service", "method", "code"],
        )
        self.step_retries = EventCounter(
            "aura_step_retries_total",
            "Failed attempts that were retried after a backoff.",
            ["service", "method"],
        )
        self.step_attempt_duration = EventHistogram(
            "aura_step_attempt_duration_seconds",
            "Latency of one backend call (one attempt of a step).",
            ["service", "method"],
            buckets=CALL_BUCKETS_S,
        )
        self.step_duration = EventHistogram(
            "aura_step_duration_seconds",
            "Time from a step's first attempt to its final state, retries and backoff included.",
            ["service", "method", "state"],
            buckets=CALL_BUCKETS_S,
        )
        self.steps_finished = EventCounter(
            "aura_steps_finished_total",
            "Steps that reached a final state (SUCCEEDED, FAILED, SKIPPED, CANCELLED).",
            ["service", "method", "state"],
        )
        self.calls_in_flight = EventGauge(
            "aura_backend_calls_in_flight",
            "Step attempts started and not yet finished, by service.",
            ["service"],
        )
        self.committed_events = EventCounter(
            "aura_store_committed_events_total", "Run events durably committed."
        )
        self.commit_latency = EventHistogram(
            "aura_store_commit_latency_seconds",
            "Time from an event being recorded to its commit being visible to watchers.",
            buckets=COMMIT_BUCKETS_S,
        )
        self.breaker_state = Gauge(
            "aura_breaker_state",
            "Circuit breaker per backend endpoint: 0 closed, 1 half-open, 2 open.",
            ["service", "endpoint"],
            registry=r,
        )
        self.breaker_trips = Counter(
            "aura_breaker_trips_total",
            "Times a backend endpoint's breaker opened.",
            ["service", "endpoint"],
            registry=r,
        )
        self.runs_in_flight = Gauge(
            "aura_runs_in_flight", "Runs executing on this orchestrator.", registry=r
        )
        self.runs_owned = Gauge(
            "aura_replica_owned_runs",
            "Unfinished runs this replica owns and executes, labelled with its AURA_REPLICA_ID "
            "(summed over the replicas' scrapes: the cluster's runs in flight).",
            ["replica"],
            registry=r,
        )
        self.runs_queued = Gauge(
            "aura_runs_queued",
            "Runs waiting in the run queue (QUEUED), as this orchestrator last counted them.",
            registry=r,
        )
        self.watchers = Gauge(
            "aura_event_subscribers", "Open live-event subscriptions (watch streams).", registry=r
        )
        self.watcher_lag = Gauge(
            "aura_event_subscriber_lag_events",
            "Events delivered to the slowest watcher and not yet sent by it.",
            registry=r,
        )
        EventMetricsCollector(
            (
                self.runs_started,
                self.runs_resumed,
                self.runs_finished,
                self.run_duration,
                self.step_attempts,
                self.step_retries,
                self.step_attempt_duration,
                self.step_duration,
                self.steps_finished,
                self.calls_in_flight,
                self.committed_events,
                self.commit_latency,
            ),
            r,
        )
        self.transactions = TransactionMetrics(r)
        ProcessCollector(registry=r)
        self._runs: dict[str, _RunTrack] = {}

    # -- wiring -------------------------------------------------------------------------

    def bind_gauges(
        self,
        *,
        runs_in_flight: Callable[[], int],
        subscribers: Callable[[], int],
        subscriber_lag: Callable[[], int],
        runs_queued: Callable[[], int] = lambda: 0,
        replica_id: str = "local",
    ) -> None:
        """Snapshot gauges, read when scraped (from the HTTP thread: keep them cheap)."""
        self.runs_in_flight.set_function(_tolerant(runs_in_flight))
        self.runs_owned.labels(replica_id).set_function(_tolerant(runs_in_flight))
        self.runs_queued.set_function(_tolerant(runs_queued))
        self.watchers.set_function(_tolerant(subscribers))
        self.watcher_lag.set_function(_tolerant(subscriber_lag))

    def adopt(self, events: Sequence[run_pb2.RunEvent]) -> None:
        """Learns an unfinished run's history without counting it (before it resumes)."""
        for event in events:
            if event.HasField("run_created"):
                self._track(event)

    # -- hooks for the mesh ---------------------------------------------------------------

    def observe_breaker(
        self, service: str, endpoint: str, previous: enum.Enum, to: enum.Enum, reason: str
    ) -> None:
        """A `BackendPool` breaker listener (`pool.add_breaker_listener`)."""
        self.observe_breaker_state(service, endpoint, str(to.value).lower())

    def observe_breaker_state(self, service: str, endpoint: str, state: str) -> None:
        """Breaker of one endpoint is now "closed", "half_open" or "open"."""
        self.breaker_state.labels(service, endpoint).set(BREAKER_STATES[state])
        if state == "open":
            self.breaker_trips.labels(service, endpoint).inc()

    # -- the commit listener ------------------------------------------------------------

    def observe(self, events: Sequence[run_pb2.RunEvent]) -> None:
        now = time.time()
        commit_latency = self.commit_latency
        for event in events:
            at = seconds_of(event.time)
            if at:
                commit_latency.observe(max(0.0, now - at))
            self._observe(event, at)
        self.committed_events.inc((), len(events))

    def _methods_of(self, created: run_pb2.RunCreated) -> dict[str, tuple[str, str]]:
        """Step id -> (service, method), one map per definition (they never change)."""
        methods = self._definition_methods.get(created.workflow_definition)
        if methods is None:
            methods = {step.step_id: _split_method(step.method) for step in created.steps}
            self._definition_methods[created.workflow_definition] = methods
        return methods

    def _track(self, event: run_pb2.RunEvent) -> _RunTrack:
        created = event.run_created
        track = _RunTrack(
            definition=created.workflow_definition.removeprefix(
                DEFINITION_PREFIX
            ),  # labels carry the bare id
            created_at=seconds_of(event.time),
            methods=self._methods_of(created),
        )
        self._runs[event.run] = track
        return track

    def _observe(self, event: run_pb2.RunEvent, at: float) -> None:
        kind = event.WhichOneof("event")
        if kind == "run_created":
            self.runs_started.inc((self._track(event).definition,))
            return
        track = self._runs.get(event.run)
        if track is None:
            return
        if kind == "step_started":
            step_id = event.step_started.step_id
            service, _ = track.methods.get(step_id, ("", ""))
            if step_id not in track.attempt_started:
                self.calls_in_flight.inc((service,))
            track.attempt_started[step_id] = at
            track.step_started.setdefault(step_id, at)
        elif kind == "step_succeeded":
            done = event.step_succeeded
            latency = seconds_of(done.latency) if done.HasField("latency") else None
            self._attempt_done(track, done.step_id, at, "OK", latency)
            self._step_done(track, done.step_id, at, "SUCCEEDED")
        elif kind == "step_attempt_failed":
            failed = event.step_attempt_failed
            self._attempt_done(track, failed.step_id, at, _code_name(failed.error.code))
            self.step_retries.inc(track.methods.get(failed.step_id, ("", "")))
        elif kind == "step_failed":
            final = event.step_failed
            self._attempt_done(track, final.step_id, at, _code_name(final.error.code))
            self._step_done(track, final.step_id, at, "FAILED")
        elif kind == "step_cancelled":
            step_id = event.step_cancelled.step_id
            self._attempt_done(track, step_id, at, "CANCELLED")
            self._step_done(track, step_id, at, "CANCELLED")
        elif kind == "step_skipped":
            self._step_done(track, event.step_skipped.step_id, at, "SKIPPED")
        elif kind == "run_resumed":
            self.runs_resumed.inc((track.definition,))
        elif kind in TRANSACTION_METRIC_EVENTS:
            self.transactions.observe(event, track.definition, at)
        elif kind == "run_finished":
            state = run_pb2.RunState.Name(event.run_finished.state).removeprefix("RUN_STATE_")
            self.runs_finished.inc((track.definition, state))
            self.run_duration.observe(max(0.0, at - track.created_at), (track.definition, state))
            for step_id in list(track.attempt_started):
                self._attempt_done(track, step_id, at, None)
            self.transactions.forget_run(event.run.removeprefix(RUN_PREFIX))
            del self._runs[event.run]

    def _attempt_done(
        self,
        track: _RunTrack,
        step_id: str,
        at: float,
        code: str | None,
        latency_s: float | None = None,
    ) -> None:
        started = track.attempt_started.pop(step_id, None)
        if started is None:
            return  # no attempt in flight (e.g. failed before its first call)
        service, method = track.methods.get(step_id, ("", ""))
        self.calls_in_flight.dec((service,))
        if code is None:
            return
        self.step_attempts.inc((service, method, code))
        duration = latency_s if latency_s is not None else max(0.0, at - started)
        self.step_attempt_duration.observe(duration, (service, method))

    def _step_done(self, track: _RunTrack, step_id: str, at: float, state: str) -> None:
        service, method = track.methods.get(step_id, ("", ""))
        self.steps_finished.inc((service, method, state))
        first = track.step_started.pop(step_id, None)
        if first is not None:
            self.step_duration.observe(max(0.0, at - first), (service, method, state))


def _tolerant(read: Callable[[], int]) -> Callable[[], float]:
    """Scrapes run on another thread: a dict resized meanwhile reads as the next scrape."""

    def value() -> float:
        for _ in range(3):
            try:
                return float(read())
            except RuntimeError:
                continue
        return float("nan")

    return value


class MetricsEndpoint:
    """`/metrics` over HTTP on a daemon thread; `port` is known after `start`."""

    def __init__(self, registry: CollectorRegistry, host: str, port: int) -> None:
        self.registry = registry
        self.host = host
        self.port = port
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> MetricsEndpoint:
        self._server, self._thread = start_http_server(self.port, self.host, self.registry)
        self.port = int(self._server.server_port)
        log.info("metrics on http://%s:%d/metrics", self.host, self.port)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
