"""The fold of a run's events into its WorkflowRun state."""

from __future__ import annotations

from typing import Any

from google.protobuf import any_pb2, struct_pb2
from google.rpc import code_pb2, status_pb2

from aura.orchestrator.v1 import run_pb2
from orchestrator.runs import RunFolder, fold_run

RUN = "workflowRuns/r1"
T0 = 1_767_225_600  # 2026-01-01T00:00:00Z


class History:
    """Builds a run's events with consecutive seqs and times T0+1s, T0+2s, ..."""

    def __init__(self) -> None:
        self.events: list[run_pb2.RunEvent] = []

    def add(self, **kind: Any) -> run_pb2.RunEvent:
        seq = len(self.events) + 1
        event = run_pb2.RunEvent(run=RUN, seq=seq, **kind)
        event.time.FromSeconds(T0 + seq)
        self.events.append(event)
        return event


def created(history: History, *steps: tuple[str, bool]) -> None:
    run_input = struct_pb2.Struct()
    run_input.update({"text": "navy blazer"})
    history.add(
        run_created={
            "workflow_definition": "workflowDefinitions/demo",
            "input": run_input,
            "labels": {"team": "ml"},
            "request_id": "req-1",
            "expire_time": {"seconds": T0 + 60},
            "steps": [
                {"step_id": step_id, "method": f"aura.demo.v1.Demo/{step_id}", "optional": optional}
                for step_id, optional in steps
            ],
        }
    )


def output(text: str) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(struct_pb2.Value(string_value=text))
    return packed


def unavailable(message: str) -> status_pb2.Status:
    return status_pb2.Status(code=code_pb2.UNAVAILABLE, message=message)


def step(run: run_pb2.WorkflowRun, step_id: str) -> run_pb2.StepRun:
    return next(s for s in run.steps if s.step_id == step_id)


def successful_run() -> History:
    history = History()
    created(history, ("parse", False), ("style", False))
    history.add(run_started={})
    for step_id in ("parse", "style"):
        history.add(step_scheduled={"step_id": step_id})
        history.add(step_started={"step_id": step_id, "attempt": 1})
        history.add(step_succeeded={"step_id": step_id, "attempt": 1, "output": output(step_id)})
    history.add(run_finished={"state": run_pb2.RUN_STATE_SUCCEEDED})
    return history


def test_run_created_sets_identity_input_and_pending_steps() -> None:
    history = History()
    created(history, ("parse", False), ("enrich", True))

    run = fold_run(history.events)

    assert run.name == RUN
    assert run.workflow_definition == "workflowDefinitions/demo"
    assert run.input["text"] == "navy blazer"
    assert dict(run.labels) == {"team": "ml"}
    assert run.request_id == "req-1"
    assert run.create_time.seconds == T0 + 1
    assert run.expire_time.seconds == T0 + 60
    assert run.state == run_pb2.RUN_STATE_PENDING
    assert [(s.step_id, s.method, s.optional, s.state) for s in run.steps] == [
        ("parse", "aura.demo.v1.Demo/parse", False, run_pb2.STEP_STATE_PENDING),
        ("enrich", "aura.demo.v1.Demo/enrich", True, run_pb2.STEP_STATE_PENDING),
    ]
    assert run.last_event_seq == 1


def test_full_successful_run() -> None:
    history = successful_run()

    run = fold_run(history.events)

    assert run.state == run_pb2.RUN_STATE_SUCCEEDED
    assert run.start_time.seconds == T0 + 2
    assert run.end_time.seconds == T0 + 9
    assert not run.HasField("error")
    assert run.last_event_seq == 9
    for step_id, started_at, ended_at in (("parse", 4, 5), ("style", 7, 8)):
        folded = step(run, step_id)
        assert folded.state == run_pb2.STEP_STATE_SUCCEEDED
        assert folded.attempts == 1
        assert folded.start_time.seconds == T0 + started_at
        assert folded.end_time.seconds == T0 + ended_at
        value = struct_pb2.Value()
        assert folded.output.Unpack(value)
        assert value.string_value == step_id


def test_partial_run_reflects_each_step_in_flight() -> None:
    history = History()
    created(history, ("parse", False), ("style", False), ("rank", False))
    history.add(run_started={})
    history.add(step_scheduled={"step_id": "parse"})
    history.add(step_started={"step_id": "parse", "attempt": 1})
    history.add(step_succeeded={"step_id": "parse", "attempt": 1, "output": output("p")})
    history.add(step_scheduled={"step_id": "style"})
    history.add(step_started={"step_id": "style", "attempt": 1})
    history.add(step_scheduled={"step_id": "rank"})

    run = fold_run(history.events)

    assert run.state == run_pb2.RUN_STATE_RUNNING
    assert not run.HasField("end_time")
    assert step(run, "parse").state == run_pb2.STEP_STATE_SUCCEEDED
    assert step(run, "style").state == run_pb2.STEP_STATE_RUNNING
    assert step(run, "rank").state == run_pb2.STEP_STATE_SCHEDULED
    assert run.last_event_seq == 8


def test_retries_count_attempts_keep_first_start_and_clear_error_on_success() -> None:
    history = History()
    created(history, ("style", False))
    history.add(run_started={})
    history.add(step_scheduled={"step_id": "style"})
    history.add(step_started={"step_id": "style", "attempt": 1})
    history.add(step_attempt_failed={"step_id": "style", "attempt": 1, "error": unavailable("a")})

    retrying = fold_run(history.events)
    assert step(retrying, "style").state == run_pb2.STEP_STATE_RUNNING
    assert step(retrying, "style").error.code == code_pb2.UNAVAILABLE

    history.add(step_started={"step_id": "style", "attempt": 2})
    history.add(step_attempt_failed={"step_id": "style", "attempt": 2, "error": unavailable("b")})
    history.add(step_started={"step_id": "style", "attempt": 3})
    history.add(step_succeeded={"step_id": "style", "attempt": 3, "output": output("s")})

    folded = step(fold_run(history.events), "style")
    assert folded.state == run_pb2.STEP_STATE_SUCCEEDED
    assert folded.attempts == 3
    assert folded.start_time.seconds == T0 + 4  # the first attempt
    assert not folded.HasField("error")


def test_optional_step_failure_skips_dependents_and_finishes_partially() -> None:
    history = History()
    created(history, ("parse", False), ("enrich", True), ("rank", False))
    history.add(run_started={})
    history.add(step_started={"step_id": "enrich", "attempt": 1})
    history.add(step_failed={"step_id": "enrich", "attempt": 1, "error": unavailable("down")})
    history.add(step_skipped={"step_id": "rank", "reason": "dependency enrich failed"})
    history.add(step_started={"step_id": "parse", "attempt": 1})
    history.add(step_succeeded={"step_id": "parse", "attempt": 1, "output": output("p")})
    history.add(run_finished={"state": run_pb2.RUN_STATE_PARTIALLY_SUCCEEDED})

    run = fold_run(history.events)

    assert run.state == run_pb2.RUN_STATE_PARTIALLY_SUCCEEDED
    enrich = step(run, "enrich")
    assert enrich.state == run_pb2.STEP_STATE_FAILED
    assert enrich.error.message == "down"
    assert enrich.end_time.seconds == T0 + 4
    rank = step(run, "rank")
    assert rank.state == run_pb2.STEP_STATE_SKIPPED
    assert rank.skip_reason == "dependency enrich failed"


def test_cancellation_cancels_running_steps_and_finishes_with_the_error() -> None:
    history = History()
    created(history, ("parse", False), ("style", False))
    history.add(run_started={})
    history.add(step_started={"step_id": "parse", "attempt": 1})
    history.add(step_cancelled={"step_id": "parse", "reason": "user asked"})
    history.add(step_cancelled={"step_id": "style", "reason": "user asked"})
    cancelled = status_pb2.Status(code=code_pb2.CANCELLED, message="user asked")
    history.add(run_finished={"state": run_pb2.RUN_STATE_CANCELLED, "error": cancelled})

    run = fold_run(history.events)

    assert run.state == run_pb2.RUN_STATE_CANCELLED
    assert run.error == cancelled
    assert run.end_time.seconds == T0 + 6
    for step_id in ("parse", "style"):
        folded = step(run, step_id)
        assert folded.state == run_pb2.STEP_STATE_CANCELLED
        assert folded.error.code == code_pb2.CANCELLED
        assert folded.error.message == "user asked"


def test_resume_keeps_running_and_the_first_start_time() -> None:
    history = History()
    created(history, ("parse", False))
    history.add(run_started={})
    history.add(run_resumed={"restarted_steps": ["parse"]})
    history.add(run_started={})

    run = fold_run(history.events)

    assert run.state == run_pb2.RUN_STATE_RUNNING
    assert run.start_time.seconds == T0 + 2


def test_unknown_step_ids_do_not_crash_the_fold() -> None:
    history = History()
    created(history, ("parse", False))
    for kind in ("step_scheduled", "step_skipped", "step_cancelled"):
        history.add(**{kind: {"step_id": "ghost"}})
    history.add(step_started={"step_id": "ghost", "attempt": 1})
    history.add(step_attempt_failed={"step_id": "ghost", "attempt": 1})
    history.add(step_succeeded={"step_id": "ghost", "attempt": 1})
    history.add(step_failed={"step_id": "ghost", "attempt": 1})

    run = fold_run(history.events)

    assert [s.step_id for s in run.steps] == ["parse"]
    assert step(run, "parse").state == run_pb2.STEP_STATE_PENDING
    assert run.last_event_seq == 8


def test_outputs_can_be_left_out_for_listings() -> None:
    run = fold_run(successful_run().events, include_outputs=False)

    assert all(s.state == run_pb2.STEP_STATE_SUCCEEDED for s in run.steps)
    assert not any(s.HasField("output") for s in run.steps)


def test_incremental_folder_matches_a_full_fold_at_every_prefix() -> None:
    events = successful_run().events
    folder = RunFolder()
    for count, event in enumerate(events, start=1):
        folder.apply(event)
        assert folder.run == fold_run(events[:count])
