"""Which runs an event starts: one per matching trigger, with the derived request_id,
the mapped input and the trigger's labels."""

from __future__ import annotations

from orchestrator.bus import BusEvent, matching_runs, run_finished
from orchestrator.workflows import MethodRegistry, compile_workflow, seed_definitions

ANALYSIS = "workflowDefinitions/complete_style_analysis"


def _event(state: str) -> BusEvent:
    made = run_finished(
        "workflowRuns/r9", ANALYSIS, state, {"user_id": "u9", "text": "brunch"}, {"team": "x"}
    )
    return BusEvent(made.topic, made.key, made.event_id, made.payload)


def test_a_successful_analysis_starts_one_outfit_recommendation() -> None:
    registry = MethodRegistry.default()
    workflows = [compile_workflow(d, registry) for d in seed_definitions()]
    (run,) = matching_runs(workflows, _event("SUCCEEDED"))
    assert run.workflow_definition == "workflowDefinitions/outfit_recommendation"
    assert run.input == {"user_id": "u9", "text": "brunch"}
    assert run.request_id.startswith("trigger-") and len(run.request_id) == 72
    assert matching_runs(workflows, _event("SUCCEEDED"))[0].request_id == run.request_id
    assert matching_runs(workflows, _event("FAILED")) == []


def test_the_run_finished_event_names_its_run() -> None:
    event = _event("SUCCEEDED")
    assert (event.topic, event.key, event.event_id) == (
        "run.finished",
        ANALYSIS,
        "run-finished:r9",
    )
    assert event.payload["run"] == "workflowRuns/r9" and event.payload["labels"] == {"team": "x"}
