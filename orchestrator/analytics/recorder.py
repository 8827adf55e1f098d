"""Success rates and latency percentiles, folded from committed run events.

Fed by the store's commit listener, so it counts exactly what is durable. It
keeps the newest samples per definition and per step in memory (bounded);
after a restart it starts empty. Resilience figures (failures by service,
method, code and reason; retries; cache hits) come from the same events, and
circuit breaker trips from the mesh's transition listener (`observe_breaker`).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from aura.orchestrator.v1 import orchestrator_pb2, run_pb2
from orchestrator.analytics.resilience import ResilienceTally
from orchestrator.resilience import CircuitState, LatencyWindow

MAX_SAMPLES = 4096


@dataclass
class _Outcome:
    at: float  # unix seconds
    state: int
    latency_s: float


@dataclass
class _Series:
    outcomes: deque[_Outcome] = field(default_factory=lambda: deque(maxlen=MAX_SAMPLES))
    retries: deque[tuple[float, int]] = field(default_factory=lambda: deque(maxlen=MAX_SAMPLES))


class AnalyticsRecorder:
    def __init__(self) -> None:
        self._run_definition: dict[str, str] = {}
        self._run_started: dict[str, float] = {}
        self._step_started: dict[tuple[str, str], float] = {}
        self._definitions: dict[str, _Series] = {}
        self._steps: dict[tuple[str, str], _Series] = {}
        # Step id -> method, per definition (definitions never change once created).
        self._methods: dict[str, dict[str, str]] = {}
        self.resilience = ResilienceTally()

    def observe_breaker(
        self, service: str, address: str, previous: CircuitState, to: CircuitState, reason: str
    ) -> None:
        """Mesh listener: counts a trip each time an endpoint's breaker opens."""
        if to is CircuitState.OPEN:
            self.resilience.trip(time.time(), service)

    def observe(self, events: Sequence[run_pb2.RunEvent]) -> None:
        for event in events:
            self._observe(event)

    def _observe(self, event: run_pb2.RunEvent) -> None:
        kind = event.WhichOneof("event")
        at = event.time.ToNanoseconds() / 1e9
        if kind == "run_created":
            created = event.run_created
            self._run_definition[event.run] = created.workflow_definition
            self._run_started[event.run] = at
            if created.workflow_definition not in self._methods:
                self._methods[created.workflow_definition] = {
                    step.step_id: step.method for step in created.steps
                }
            return
        definition = self._run_definition.get(event.run)
        if definition is None:
            return
        self._observe_resilience(event, kind, at)
        if kind == "step_started":
            key = (event.run, event.step_started.step_id)
            self._step_started.setdefault(key, at)
        elif kind == "step_succeeded":
            self._step_done(
                definition,
                event.run,
                event.step_succeeded.step_id,
                at,
                run_pb2.STEP_STATE_SUCCEEDED,
                event.step_succeeded.attempt,
            )
        elif kind == "step_failed":
            self._step_done(
                definition,
                event.run,
                event.step_failed.step_id,
                at,
                run_pb2.STEP_STATE_FAILED,
                event.step_failed.attempt,
            )
        elif kind == "run_finished":
            started = self._run_started.pop(event.run, at)
            self._run_definition.pop(event.run, None)
            series = self._definitions.setdefault(definition, _Series())
            series.outcomes.append(_Outcome(at, event.run_finished.state, at - started))

    def _observe_resilience(self, event: run_pb2.RunEvent, kind: str | None, at: float) -> None:
        methods = self._methods.get(self._run_definition.get(event.run, ""), {})
        if kind == "step_succeeded":
            done = event.step_succeeded
            method = methods.get(done.step_id, "")
            self.resilience.succeeded(at, method, done.cache_result)
        elif kind == "step_attempt_failed":
            failed = event.step_attempt_failed
            self.resilience.attempt_failed(
                at, methods.get(failed.step_id, ""), failed.error, retried=True
            )
        elif kind == "step_failed":
            final = event.step_failed
            self.resilience.attempt_failed(
                at,
                methods.get(final.step_id, ""),
                final.error,
                retried=False,
                attempted=final.attempt > 0,
                throttled=final.retry_throttled,
            )

    def _step_done(
        self, definition: str, run: str, step_id: str, at: float, state: int, attempt: int
    ) -> None:
        started = self._step_started.pop((run, step_id), at)
        series = self._steps.setdefault((definition, step_id), _Series())
        series.outcomes.append(_Outcome(at, state, at - started))
        series.retries.append((at, max(0, attempt - 1)))

    def report(
        self, *, window_s: float | None = None, definition: str = ""
    ) -> orchestrator_pb2.GetAnalyticsResponse:
        since = time.time() - window_s if window_s else 0.0
        response = orchestrator_pb2.GetAnalyticsResponse()
        for name in sorted(self._definitions):
            if definition and name != definition:
                continue
            outcomes = [o for o in self._definitions[name].outcomes if o.at >= since]
            if not outcomes:
                continue
            entry = response.definitions.add(workflow_definition=name, run_count=len(outcomes))
            entry.success_rate = _share(outcomes, run_pb2.RUN_STATE_SUCCEEDED)
            entry.partial_rate = _share(outcomes, run_pb2.RUN_STATE_PARTIALLY_SUCCEEDED)
            window = _window(outcomes)
            entry.latency_p50.FromNanoseconds(int(window.percentile(50) * 1e9))
            entry.latency_p90.FromNanoseconds(int(window.percentile(90) * 1e9))
            entry.latency_p99.FromNanoseconds(int(window.percentile(99) * 1e9))
        for name, step_id in sorted(self._steps):
            if definition and name != definition:
                continue
            series = self._steps[(name, step_id)]
            outcomes = [o for o in series.outcomes if o.at >= since]
            if not outcomes:
                continue
            step = response.steps.add(
                workflow_definition=name, step_id=step_id, execution_count=len(outcomes)
            )
            step.success_rate = _share(outcomes, run_pb2.STEP_STATE_SUCCEEDED)
            step.retry_count = sum(n for at, n in series.retries if at >= since)
            window = _window(outcomes)
            step.latency_p50.FromNanoseconds(int(window.percentile(50) * 1e9))
            step.latency_p90.FromNanoseconds(int(window.percentile(90) * 1e9))
            step.latency_p99.FromNanoseconds(int(window.percentile(99) * 1e9))
        self.resilience.report(response, since=since)
        return response


def _share(outcomes: list[_Outcome], state: int) -> float:
    return sum(1 for o in outcomes if o.state == state) / len(outcomes)


def _window(outcomes: list[_Outcome]) -> LatencyWindow:
    window = LatencyWindow(size=len(outcomes))
    for outcome in outcomes:
        window.add(outcome.latency_s)
    return window
