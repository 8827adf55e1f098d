"""Run events as the engine writes them, for store tests: a created run, its steps, its end."""

from __future__ import annotations

from typing import Any

from aura.orchestrator.v1 import run_pb2

T0 = 1_767_225_600  # 2026-01-01T00:00:00Z


def created(
    run_id: str, *, at: float = T0, labels: dict[str, str] | None = None
) -> run_pb2.RunEvent:
    event = run_pb2.RunEvent(
        run=f"workflowRuns/{run_id}",
        seq=1,
        run_created={
            "workflow_definition": "workflowDefinitions/demo",
            "labels": labels or {},
            "steps": [{"step_id": "parse", "method": "aura.demo.v1.Demo/Parse"}],
        },
    )
    event.time.FromNanoseconds(int(at * 1e9))
    return event


def event(run_id: str, seq: int, *, at: float = T0, **kind: Any) -> run_pb2.RunEvent:
    built = run_pb2.RunEvent(run=f"workflowRuns/{run_id}", seq=seq, **kind)
    built.time.FromNanoseconds(int(at * 1e9))
    return built


def started(run_id: str, seq: int = 2) -> run_pb2.RunEvent:
    return event(run_id, seq, run_started={})


def scheduled(run_id: str, seq: int) -> run_pb2.RunEvent:
    return event(run_id, seq, step_scheduled={"step_id": "parse"})


def finished(
    run_id: str, seq: int, state: int = run_pb2.RUN_STATE_SUCCEEDED, *, at: float = T0
) -> run_pb2.RunEvent:
    return event(run_id, seq, at=at, run_finished={"state": state})
