"""Where a fallback's answer comes from and how the history shows it: the stale read
of the answer cache within a step's own bound, and the fold of `answered_by`."""

from __future__ import annotations

from google.protobuf import struct_pb2

from aura.orchestrator.v1 import run_pb2
from orchestrator.resilience import ResponseCache, cache_key
from orchestrator.runs import fold_run

RUN = "workflowRuns/r1"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def message(text: str) -> struct_pb2.Struct:
    value = struct_pb2.Struct()
    value.update({"q": text})
    return value


def test_a_stale_read_returns_the_answer_and_its_age_within_the_callers_bound() -> None:
    clock = Clock()
    answers = ResponseCache(max_entries=4, clock=clock)
    key = cache_key("/pkg.S/M", message("a"))
    answers.put(key, message("answer"), ttl_s=3600)
    clock.now += 90

    assert answers.get_within(key, struct_pb2.Struct, max_age_s=120) == (message("answer"), 90)
    assert answers.get_within(key, struct_pb2.Struct, max_age_s=60) is None  # too old for it
    assert answers.get_within(key, struct_pb2.Struct, max_age_s=120) is not None  # still kept
    assert answers.get_within(cache_key("/pkg.S/M", message("b")), struct_pb2.Struct, 120) is None
    assert (answers.hits, answers.misses) == (0, 0)


def test_a_stale_read_never_outlives_the_entry_and_stays_bounded_in_size() -> None:
    clock = Clock()
    answers = ResponseCache(max_entries=2, clock=clock)
    keys = [cache_key("/S/M", message(str(n))) for n in range(3)]
    for key in keys:
        answers.put(key, message("x"), ttl_s=10)

    assert len(answers) == 2
    assert answers.get_within(keys[0], struct_pb2.Struct, max_age_s=60) is None  # evicted
    clock.now += 10
    assert answers.get_within(keys[2], struct_pb2.Struct, max_age_s=60) is None  # expired
    assert len(answers) == 1


def history(*succeeded: run_pb2.StepSucceeded) -> list[run_pb2.RunEvent]:
    created = run_pb2.RunCreated(
        workflow_definition="workflowDefinitions/demo",
        steps=[
            run_pb2.StepRun(step_id=s.step_id, method=f"aura.demo.v1.Demo/{s.step_id}")
            for s in succeeded
        ],
    )
    events = [run_pb2.RunEvent(run=RUN, seq=1, run_created=created)]
    for seq, event in enumerate(succeeded, start=2):
        events.append(run_pb2.RunEvent(run=RUN, seq=seq, step_succeeded=event))
    return events


def test_the_fold_says_which_call_answered_each_step() -> None:
    run = fold_run(
        history(
            run_pb2.StepSucceeded(step_id="own", attempt=1, answered_by="ANSWERED_BY_PRIMARY"),
            run_pb2.StepSucceeded(step_id="older", attempt=1),  # before fallbacks existed
            run_pb2.StepSucceeded(
                step_id="stored",
                attempt=4,
                answered_by="ANSWERED_BY_FALLBACK_METHOD",
                answered_by_method="aura.demo.v1.Demo/Stored",
            ),
            run_pb2.StepSucceeded(
                step_id="cached",
                attempt=2,
                answered_by="ANSWERED_BY_LAST_GOOD_ANSWER",
                answered_by_method="aura.demo.v1.Demo/cached",
            ),
        )
    )

    assert [
        (s.step_id, run_pb2.AnsweredBy.Name(s.answered_by), s.answered_by_method) for s in run.steps
    ] == [
        ("own", "ANSWERED_BY_PRIMARY", "aura.demo.v1.Demo/own"),
        ("older", "ANSWERED_BY_PRIMARY", "aura.demo.v1.Demo/older"),
        ("stored", "ANSWERED_BY_FALLBACK_METHOD", "aura.demo.v1.Demo/Stored"),
        ("cached", "ANSWERED_BY_LAST_GOOD_ANSWER", "aura.demo.v1.Demo/cached"),
    ]
