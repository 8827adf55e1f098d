"""Triggers of a definition: validated with the definition, matched by topic, key glob
and filter, mapped onto the run input, with a request_id per (trigger, event)."""

from __future__ import annotations

import pytest

from aura.orchestrator.v1 import workflow_pb2
from orchestrator.errors import InvalidArgument, ViolationCollector
from orchestrator.workflows import (
    EventView,
    MethodRegistry,
    compile_triggers,
    compile_workflow,
    seed_definitions,
)

DEFINITION = "workflowDefinitions/outfit_recommendation"
FINISHED = EventView(
    topic="run.finished",
    key="workflowDefinitions/complete_style_analysis",
    event_id="run-finished:r1",
    payload={
        "run": "workflowRuns/r1",
        "state": "SUCCEEDED",
        "input": {"user_id": "u1", "text": "dinner", "count": 3},
    },
)


def _compile(**fields: object) -> tuple[list[object], list[str]]:
    trigger = workflow_pb2.Trigger(**fields)  # type: ignore[arg-type]
    collector = ViolationCollector()
    compiled = compile_triggers(DEFINITION, [trigger], collector)
    return list(compiled), [f"{v.field}: {v.description}" for v in collector.violations]


def _one(**fields: object):  # type: ignore[no-untyped-def]
    compiled, problems = _compile(**fields)
    assert problems == []
    return compiled[0]


def test_a_trigger_matches_topic_key_glob_and_every_filter_clause() -> None:
    trigger = _one(
        id="after",
        topic="run.finished",
        key_pattern="workflowDefinitions/complete_*",
        filter='payload.state = "SUCCEEDED" AND payload.input.count != 4 AND payload.x = null',
    )
    assert trigger.matches(FINISHED)
    assert not trigger.matches(EventView("run.created", FINISHED.key, "e", FINISHED.payload))
    assert not trigger.matches(EventView("run.finished", "workflowDefinitions/trend", "e", {}))
    failed = {**FINISHED.payload, "state": "FAILED"}
    assert not trigger.matches(EventView(FINISHED.topic, FINISHED.key, "e", failed))


def test_numbers_compare_by_value_and_absent_paths_as_null() -> None:
    assert _one(id="t", topic="run.finished", filter="payload.input.count = 3.0").matches(FINISHED)
    assert not _one(id="t", topic="run.finished", filter="payload.nope != null").matches(FINISHED)
    assert _one(
        id="t", topic="run.finished", filter='key != "x" AND topic = "run.finished"'
    ).matches(FINISHED)


def test_the_input_mapping_reads_payload_paths_and_leaves_absent_ones_out() -> None:
    trigger = _one(
        id="t",
        topic="run.finished",
        input={"user_id": "payload.input.user_id", "locale": "payload.input.locale", "why": "key"},
    )
    assert trigger.run_input(FINISHED) == {
        "user_id": "u1",
        "why": "workflowDefinitions/complete_style_analysis",
    }
    assert _one(id="t", topic="run.finished").run_input(FINISHED) == FINISHED.payload


def test_the_request_id_is_stable_per_event_and_distinct_per_trigger() -> None:
    a, b = _one(id="a", topic="run.finished"), _one(id="b", topic="run.finished")
    assert a.request_id("e1") == a.request_id("e1")
    assert len({a.request_id("e1"), a.request_id("e2"), b.request_id("e1")}) == 3
    assert len(a.request_id("x" * 128)) <= 128


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"topic": "run.finished"}, "triggers[0].id: trigger id '' must match"),
        ({"id": "t", "topic": "Run Finished"}, "triggers[0].topic: topic 'Run Finished'"),
        ({"id": "t", "topic": "a", "filter": "state == 1"}, "triggers[0].filter: clause"),
        ({"id": "t", "topic": "a", "filter": "payload.a = SUCCEEDED"}, "must be a JSON literal"),
        ({"id": "t", "topic": "a", "filter": "payload.a = [1]"}, "must be a string, number"),
        ({"id": "t", "topic": "a", "input": {"k": "input.x"}}, "triggers[0].input[k]: source"),
        ({"id": "t", "topic": "a", "key_pattern": "k" * 300}, "triggers[0].key_pattern"),
    ],
)
def test_bad_triggers_are_reported_with_their_field(
    fields: dict[str, object], problem: str
) -> None:
    compiled, problems = _compile(**fields)
    assert compiled == []
    assert any(p.startswith(problem) or problem in p for p in problems), problems


def test_a_definition_with_a_bad_trigger_is_rejected_with_all_its_problems() -> None:
    definition = next(d for d in seed_definitions() if d.name == DEFINITION)
    definition.triggers.add(id="after_style_analysis", topic="run.finished")
    definition.triggers.add(id="x", topic="")
    with pytest.raises(InvalidArgument) as raised:
        compile_workflow(definition, MethodRegistry.default())
    fields = [v.field for v in raised.value.violations]
    assert fields == ["triggers[1].id", "triggers[2].topic"]


def test_the_seed_chain_follows_a_successful_style_analysis_with_outfits() -> None:
    registry = MethodRegistry.default()
    compiled = {d.name: compile_workflow(d, registry) for d in seed_definitions()}
    (trigger,) = compiled[DEFINITION].triggers
    assert trigger.matches(FINISHED)
    assert trigger.run_input(FINISHED) == {"user_id": "u1", "text": "dinner"}
    compiled[DEFINITION].check_input(trigger.run_input(FINISHED))
    analysis = compiled["workflowDefinitions/complete_style_analysis"]
    assert analysis.triggers == ()
