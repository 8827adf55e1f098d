"""The fold of a queued run: QUEUED until its run_started, then its own deadline."""

from __future__ import annotations

from aura.orchestrator.v1 import run_pb2
from orchestrator.runs import fold_run

T0_NS = 1_767_225_600 * 10**9


def _event(seq: int, at_s: float, **kind: object) -> run_pb2.RunEvent:
    event = run_pb2.RunEvent(run="workflowRuns/r1", seq=seq, **kind)  # type: ignore[arg-type]
    event.time.FromNanoseconds(T0_NS + int(at_s * 1e9))
    return event


def _created(*, queued: bool) -> run_pb2.RunEvent:
    event = _event(
        1,
        0,
        run_created={
            "workflow_definition": "workflowDefinitions/d",
            "steps": [{"step_id": "nlu", "method": "aura.nlu.v1.NluService/AnalyzeText"}],
            "queued": queued,
            "priority": 7,
        },
    )
    event.run_created.expire_time.FromNanoseconds(T0_NS + 60 * 10**9)
    return event


def test_a_queued_run_is_queued_until_it_starts_with_the_deadline_from_its_start() -> None:
    created = _created(queued=True)
    started = _event(2, 100, run_started={})
    started.run_started.expire_time.FromNanoseconds(T0_NS + 160 * 10**9)

    waiting = fold_run([created])
    running = fold_run([created, started])

    assert waiting.state == run_pb2.RUN_STATE_QUEUED
    assert waiting.priority == 7
    assert waiting.steps[0].state == run_pb2.STEP_STATE_PENDING
    assert running.state == run_pb2.RUN_STATE_RUNNING
    assert running.start_time == started.time
    assert running.expire_time.ToNanoseconds() == T0_NS + 160 * 10**9


def test_a_run_started_at_once_is_pending_and_keeps_its_creation_deadline() -> None:
    created = _created(queued=False)

    assert fold_run([created]).state == run_pb2.RUN_STATE_PENDING
    running = fold_run([created, _event(2, 0.001, run_started={})])
    assert running.expire_time == created.run_created.expire_time
