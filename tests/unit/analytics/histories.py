"""Synthetic run histories for the analytics maths: events with chosen times, built the
way the engine records them (run_created ... run_finished)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

from google.protobuf import any_pb2, struct_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2

from aura.orchestrator.v1 import run_pb2
from orchestrator.workflows import (
    CompiledWorkflow,
    MethodRegistry,
    compile_workflow,
    seed_definitions,
)

STYLE = "workflowDefinitions/complete_style_analysis"
T0 = 1_800_000_000.0  # unix seconds


@cache
def style_workflow() -> CompiledWorkflow:
    """complete_style_analysis: image and nlu in parallel, then profile, outfits,
    recommendations (each depending on the one before)."""
    definition = next(d for d in seed_definitions() if d.name == STYLE)
    return compile_workflow(definition, MethodRegistry.default())


def error(code: int, reason: str) -> status_pb2.Status:
    status = status_pb2.Status(code=code, message=reason.lower())
    if reason:
        detail = any_pb2.Any()
        detail.Pack(error_details_pb2.ErrorInfo(reason=reason, domain="test"))
        status.details.append(detail)
    return status


UNAVAILABLE = error(code_pb2.UNAVAILABLE, "INJECTED_FAULT")
CIRCUIT_OPEN = error(code_pb2.UNAVAILABLE, "CIRCUIT_OPEN")


@dataclass
class History:
    """One run's events; times are seconds after `start`."""

    run: str
    start: float = T0
    text: str = "office, under 300 euros"
    workflow: CompiledWorkflow = field(default_factory=style_workflow)
    events: list[run_pb2.RunEvent] = field(default_factory=list)

    def __post_init__(self) -> None:
        run_input = struct_pb2.Struct()
        run_input.update({"user_id": "ada", "image_uri": "https://x/y.jpg", "text": self.text})
        created = run_pb2.RunCreated(workflow_definition=self.workflow.name, input=run_input)
        for step in self.workflow.steps.values():
            created.steps.add(step_id=step.id, method=step.method.full_name)
        self._add(0.0, run_created=created)
        self._add(0.0, run_started=run_pb2.RunStarted())

    def _add(self, at: float, **event: object) -> None:
        item = run_pb2.RunEvent(run=self.run, seq=len(self.events) + 1, **event)  # type: ignore[arg-type]
        item.time.FromNanoseconds(int((self.start + at) * 1e9))
        self.events.append(item)

    def step(
        self,
        step_id: str,
        begin: float,
        end: float,
        *,
        failures: tuple[tuple[float, status_pb2.Status], ...] = (),
        cache_hit: bool = False,
    ) -> History:
        """A step that succeeded at `end`; each failure is (time of the retry's start,
        error of the attempt before it). The response is the method's empty response."""
        response = self.workflow.steps[step_id].method.response_class()
        output = any_pb2.Any()
        output.Pack(response)
        if cache_hit:
            self._add(
                end,
                step_succeeded=run_pb2.StepSucceeded(
                    step_id=step_id, output=output, cache_result=run_pb2.CACHE_RESULT_HIT
                ),
            )
            return self
        attempt = 1
        self._add(begin, step_started=run_pb2.StepStarted(step_id=step_id, attempt=1))
        for retry_at, status in failures:
            self._add(
                retry_at,
                step_attempt_failed=run_pb2.StepAttemptFailed(
                    step_id=step_id, attempt=attempt, error=status
                ),
            )
            attempt += 1
            self._add(retry_at, step_started=run_pb2.StepStarted(step_id=step_id, attempt=attempt))
        self._add(
            end,
            step_succeeded=run_pb2.StepSucceeded(step_id=step_id, attempt=attempt, output=output),
        )
        return self

    def failed_step(
        self, step_id: str, at: float, status: status_pb2.Status, *, attempted: bool = True
    ) -> History:
        if attempted:
            self._add(at, step_started=run_pb2.StepStarted(step_id=step_id, attempt=1))
        self._add(
            at,
            step_failed=run_pb2.StepFailed(
                step_id=step_id, attempt=1 if attempted else 0, error=status
            ),
        )
        return self

    def finish(self, at: float, state: int = run_pb2.RUN_STATE_SUCCEEDED) -> list[run_pb2.RunEvent]:
        self._add(at, run_finished=run_pb2.RunFinished(state=state))  # type: ignore[arg-type]
        return self.events


def style_run(
    run: str,
    *,
    image: float = 0.3,
    nlu: float = 0.1,
    later: tuple[float, float, float] = (0.05, 0.05, 0.05),
    start: float = T0,
    text: str = "office, under 300 euros",
    gap: float = 0.0,
) -> list[run_pb2.RunEvent]:
    """A succeeded complete_style_analysis run: image and nlu from 0, then profile,
    outfits and recommendations one after another, `gap` seconds of overhead before each."""
    history = History(run, start=start, text=text)
    history.step("image", gap, gap + image).step("nlu", gap, gap + nlu)
    t = gap + max(image, nlu)
    for step_id, took in zip(("profile", "outfits", "recommendations"), later, strict=True):
        history.step(step_id, t + gap, t + gap + took)
        t += gap + took
    return history.finish(t + gap)
