"""The advice's maths on synthetic histories: critical path and each step's share of it,
ideal against measured parallel speedup, cache candidates, retry and breaker hot spots."""

from __future__ import annotations

import pytest

from aura.orchestrator.v1 import run_pb2
from orchestrator.analytics import LiveBreakers
from orchestrator.analytics.advice import definition_advice
from orchestrator.analytics.facts import RunFacts, run_facts
from orchestrator.analytics.findings import (
    breaker_findings,
    cache_findings,
    critical_path_finding,
    parallelism_finding,
    retry_findings,
)
from orchestrator.workflows import CompiledWorkflow
from tests.unit.analytics.histories import (
    CIRCUIT_OPEN,
    STYLE,
    UNAVAILABLE,
    History,
    style_run,
    style_workflow,
)

NLU = "aura.nlu.v1.NluService"


def facts(events: list[run_pb2.RunEvent], workflow: CompiledWorkflow | None = None) -> RunFacts:
    found = run_facts(events, workflow or style_workflow())
    assert found is not None
    return found


def test_a_run_folds_into_its_critical_path_step_time_and_duration() -> None:
    run = facts(style_run("workflowRuns/a", image=0.3, nlu=0.1, gap=0.01))
    assert run.critical_path == ("image", "profile", "outfits", "recommendations")
    assert run.critical_length_s == pytest.approx(0.45, abs=1e-6)
    assert run.step_time_s == pytest.approx(0.55, abs=1e-6)
    # 4 gaps of 10 ms before the steps and one before the end
    assert run.duration_s == pytest.approx(0.45 + 0.05, abs=1e-6)


def test_an_unfinished_history_has_no_facts() -> None:
    history = History("workflowRuns/u").step("image", 0.0, 0.1)
    assert run_facts(history.events, style_workflow()) is None


def test_a_definition_that_changed_since_the_run_gives_no_critical_path() -> None:
    events = style_run("workflowRuns/a")
    del events[0].run_created.steps[-1]  # the run had one step fewer than the definition now
    found = run_facts(events, style_workflow())
    assert found is not None and found.critical_path is None
    assert all(step.request_digest is None for step in found.steps)


def test_the_chain_critical_in_most_runs_is_reported_with_each_steps_share() -> None:
    image_bound = [facts(style_run(f"workflowRuns/i{n}", image=0.3, nlu=0.1)) for n in range(3)]
    nlu_bound = facts(style_run("workflowRuns/n", image=0.1, nlu=0.5))
    path = critical_path_finding([*image_bound, nlu_bound])
    assert path is not None
    assert [s.step_id for s in path.steps] == ["image", "profile", "outfits", "recommendations"]
    assert (path.run_count, path.runs_measured) == (3, 4)
    assert path.mean_length_s == pytest.approx(0.45, abs=1e-6)
    shares = {s.step_id: s.share for s in path.steps}
    assert shares["image"] == pytest.approx(0.3 / 0.45, abs=1e-6)
    assert shares["profile"] == pytest.approx(0.05 / 0.45, abs=1e-6)
    assert sum(shares.values()) == pytest.approx(1.0)


def test_ideal_speedup_is_step_time_over_critical_path_and_measured_over_run_duration() -> None:
    runs = [
        facts(style_run("workflowRuns/a", image=0.3, nlu=0.3, gap=0.0)),
        facts(style_run("workflowRuns/b", image=0.3, nlu=0.3, gap=0.05)),
    ]
    found = parallelism_finding(runs)
    assert found is not None
    step_time = 2 * (0.3 + 0.3 + 0.15)
    critical = 2 * 0.45
    durations = 0.45 + (0.45 + 5 * 0.05)
    assert found.ideal_speedup == pytest.approx(step_time / critical, rel=1e-5)
    assert found.measured_speedup == pytest.approx(step_time / durations, rel=1e-5)
    assert found.mean_run_s == pytest.approx(durations / 2, rel=1e-5)


def test_identical_requests_to_a_method_are_cache_candidates_with_the_time_they_cost() -> None:
    same = [
        facts(style_run(f"workflowRuns/s{n}", nlu=0.1 + n / 100, start=1000.0 + 10 * n))
        for n in range(3)
    ]
    other = facts(style_run("workflowRuns/o", nlu=0.5, text="a red dress", start=1005.0))
    found = {f.step_id: f for f in cache_findings([*same, other])}
    nlu = found["nlu"]
    assert (nlu.calls, nlu.distinct, nlu.repeated_calls) == (4, 2, 2)
    # the two repeats of the first request took 0.11 s and 0.12 s
    assert nlu.repeated_time_s == pytest.approx(0.23, abs=1e-6)
    assert nlu.median_gap_s == pytest.approx(10.0, abs=1e-6)
    assert nlu.method == "aura.nlu.v1.NluService/AnalyzeText" and not nlu.cached
    # image gets the same image_uri and user_id in every run: four calls, one request
    assert (found["image"].calls, found["image"].distinct) == (4, 1)


def test_cache_hits_are_not_calls_and_a_cached_step_is_flagged() -> None:
    first = facts(style_run("workflowRuns/a", start=1000.0))
    hit = History("workflowRuns/b", start=1001.0).step("nlu", 0.0, 0.001, cache_hit=True)
    second = facts(hit.finish(0.01, run_pb2.RUN_STATE_FAILED))
    third = facts(style_run("workflowRuns/c", start=1002.0))
    found = {f.step_id: f for f in cache_findings([first, second, third], frozenset({"nlu"}))}
    assert (found["nlu"].calls, found["nlu"].repeated_calls) == (2, 1)
    assert found["nlu"].cached


def test_retry_hot_spots_count_retries_and_the_time_between_first_and_last_attempt() -> None:
    history = History("workflowRuns/r")
    history.step("nlu", 0.0, 0.9, failures=((0.2, UNAVAILABLE), (0.6, UNAVAILABLE)))
    history.step("image", 0.0, 0.1)
    retried = facts(history.finish(1.0, run_pb2.RUN_STATE_FAILED))
    plain = facts(style_run("workflowRuns/p"))
    [found] = retry_findings([retried, plain])
    assert (found.step_id, found.executions, found.retries, found.failed) == ("nlu", 2, 2, 0)
    assert found.retry_time_s == pytest.approx(0.6, abs=1e-6)
    assert found.top_error == "UNAVAILABLE (INJECTED_FAULT)"
    assert found.service == NLU


def test_breaker_hot_spots_join_stored_refusals_with_live_trips() -> None:
    history = History("workflowRuns/b").step("image", 0.0, 0.1)
    history.failed_step("nlu", 0.0, CIRCUIT_OPEN, attempted=False)
    refused = facts(history.finish(0.2, run_pb2.RUN_STATE_FAILED))
    services = [NLU, "aura.image.v1.ImageProcessingService"]
    [found] = breaker_findings([refused], services, {NLU: 2}, frozenset({NLU}))
    assert (found.service, found.rejections, found.failed_steps) == (NLU, 1, 1)
    assert (found.trips, found.open_now) == (2, True)
    assert breaker_findings([refused], services, {}, frozenset())[0].trips == 0


def test_the_advice_message_reads_the_findings_out() -> None:
    runs = [
        facts(style_run(f"workflowRuns/a{n}", image=0.37, nlu=0.1, start=1000.0 + n))
        for n in range(4)
    ]
    advice = definition_advice(STYLE, runs, style_workflow(), LiveBreakers())
    assert advice.run_count == 4
    path = advice.critical_path
    assert [s.step_id for s in path.steps] == ["image", "profile", "outfits", "recommendations"]
    assert path.recommendation.startswith("step image is 71% of the critical path")
    # image got the same request in all four runs: the path's advice points at the cache
    assert "3 of its calls repeated an earlier request" in path.recommendation
    assert path.steps[0].mean_duration.ToMilliseconds() == 370
    assert advice.parallelism.ideal_speedup == pytest.approx((0.37 + 0.1 + 0.15) / 0.52, rel=1e-5)
    assert "measured speedup" in advice.parallelism.recommendation
    nlu = next(c for c in advice.cache_candidates if c.step_id == "nlu")
    assert (nlu.call_count, nlu.repeated_call_count) == (4, 3)
    assert "cache policy" in nlu.recommendation
    assert not advice.retry_hot_spots and not advice.breaker_hot_spots


def test_a_chain_of_steps_is_advised_that_nothing_runs_in_parallel() -> None:
    history = History("workflowRuns/c").step("image", 0.0, 0.2)
    for step_id, begin in (("profile", 0.2), ("outfits", 0.3), ("recommendations", 0.4)):
        history.step(step_id, begin, begin + 0.1)
    advice = definition_advice(
        STYLE, [facts(history.finish(0.5))], style_workflow(), LiveBreakers()
    )
    assert advice.parallelism.ideal_speedup == pytest.approx(1.0)
    assert "one after another" in advice.parallelism.recommendation
