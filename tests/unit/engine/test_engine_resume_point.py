"""Where an unfinished run's history leaves it, for the executor that resumes it."""

from __future__ import annotations

from typing import Any

import pytest
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2

from aura.orchestrator.v1 import run_pb2
from orchestrator.engine.resume_point import resume_failed_status, resume_point
from orchestrator.errors import FailedPrecondition, NotFound
from orchestrator.workflows import (
    CompiledWorkflow,
    MethodRegistry,
    compile_workflow,
    seed_definitions,
)

RUN = "workflowRuns/r1"
T0_NS = 1_767_225_600 * 10**9


def _workflow() -> CompiledWorkflow:
    definition = next(
        d for d in seed_definitions() if d.name == "workflowDefinitions/outfit_recommendation"
    )
    return compile_workflow(definition, MethodRegistry.default())


def _history(*kinds: dict[str, Any]) -> list[run_pb2.RunEvent]:
    events = [
        run_pb2.RunEvent(
            run=RUN,
            seq=1,
            run_created={
                "workflow_definition": "workflowDefinitions/outfit_recommendation",
                "steps": [
                    {"step_id": step_id, "optional": step_id == "trends"}
                    for step_id in ("profile", "nlu", "trends", "outfits")
                ],
            },
        ),
        run_pb2.RunEvent(run=RUN, seq=2, run_started={}),
    ]
    for kind in kinds:
        events.append(run_pb2.RunEvent(run=RUN, seq=len(events) + 1, **kind))
    for event in events:
        event.time.FromNanoseconds(T0_NS + event.seq * 10**9)
    return events


def _aborted(message: str) -> status_pb2.Status:
    return status_pb2.Status(code=code_pb2.ABORTED, message=message)


def test_a_failed_required_step_decides_the_run_and_nothing_runs_again() -> None:
    point = resume_point(
        _history(
            {"step_started": {"step_id": "profile", "attempt": 1}},
            {"step_started": {"step_id": "nlu", "attempt": 1}},
            {"step_failed": {"step_id": "nlu", "attempt": 1, "error": _aborted("nlu broke")}},
        ),
        _workflow(),
    )

    assert point.failure == ("nlu", _aborted("nlu broke"))
    assert point.cancel_reason is None
    assert point.restarted == []


def test_a_failed_optional_step_does_not_decide_the_run() -> None:
    point = resume_point(
        _history(
            {"step_started": {"step_id": "trends", "attempt": 1}},
            {"step_failed": {"step_id": "trends", "attempt": 1, "error": _aborted("no trends")}},
            {"step_started": {"step_id": "nlu", "attempt": 1}},
        ),
        _workflow(),
    )

    assert point.failure is None
    assert point.states == {"trends": run_pb2.STEP_STATE_FAILED}
    assert point.restarted == ["nlu"]


def test_cancellations_without_a_required_failure_mean_the_run_was_being_cancelled() -> None:
    point = resume_point(
        _history(
            {"step_started": {"step_id": "profile", "attempt": 1}},
            {"step_cancelled": {"step_id": "profile", "reason": "user changed their mind"}},
        ),
        _workflow(),
    )

    assert point.cancel_reason == "user changed their mind"
    assert point.states == {"profile": run_pb2.STEP_STATE_CANCELLED}
    assert point.restarted == []


def test_attempts_go_on_from_the_highest_and_count_the_recorded_failures() -> None:
    point = resume_point(
        _history(
            {"step_started": {"step_id": "nlu", "attempt": 1}},
            {
                "step_attempt_failed": {
                    "step_id": "nlu",
                    "attempt": 1,
                    "error": _aborted("1"),
                    "backoff": {"seconds": 1},
                }
            },
            {"step_started": {"step_id": "nlu", "attempt": 2}},
        ),
        _workflow(),
        now_ns=T0_NS + 60 * 10**9,
    )

    prior = point.attempts["nlu"]
    assert (prior.last_number, prior.failed, prior.backoff_left_s) == (2, 1, 0.0)
    assert point.restarted == ["nlu"]


def test_a_backoff_cut_short_by_the_crash_is_waited_out_but_never_longer_than_asked() -> None:
    events = _history(
        {"step_started": {"step_id": "nlu", "attempt": 1}},
        {
            "step_attempt_failed": {
                "step_id": "nlu",
                "attempt": 1,
                "error": _aborted("1"),
                "backoff": {"seconds": 10},
            }
        },
    )
    failed_at = events[-1].time.ToNanoseconds()

    later = resume_point(events, _workflow(), now_ns=failed_at + 4 * 10**9)
    clock_set_back = resume_point(events, _workflow(), now_ns=failed_at - 3600 * 10**9)

    assert later.attempts["nlu"].backoff_left_s == pytest.approx(6.0)
    assert clock_set_back.attempts["nlu"].backoff_left_s == pytest.approx(10.0)


def test_an_output_that_does_not_unpack_as_the_steps_response_is_refused() -> None:
    wrong = any_pb2.Any(type_url="type.googleapis.com/aura.nlu.v1.AnalyzeTextResponse")
    events = _history({"step_succeeded": {"step_id": "profile", "attempt": 1, "output": wrong}})

    with pytest.raises(FailedPrecondition, match="profile"):
        resume_point(events, _workflow())


def test_the_error_of_a_run_that_cannot_be_resumed_names_reason_and_cause() -> None:
    status = resume_failed_status(NotFound("workflow definition x not found"))
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info)

    assert status.code == code_pb2.NOT_FOUND
    assert "workflow definition x not found" in status.message
    assert (info.reason, info.domain) == ("RESUME_FAILED", "orchestrator.aura")
    assert info.metadata["cause"] == "NotFound"
    assert resume_failed_status(ValueError("NaN")).code == code_pb2.INTERNAL
