"""The five seed workflows shipped as data files."""

from __future__ import annotations

import networkx as nx
import pytest

from orchestrator.workflows import (
    CompiledWorkflow,
    MethodRegistry,
    compile_workflow,
    seed_definitions,
)

SEED_NAMES = [
    "workflowDefinitions/adopt_outfit",
    "workflowDefinitions/complete_style_analysis",
    "workflowDefinitions/outfit_recommendation",
    "workflowDefinitions/personalized_shopping",
    "workflowDefinitions/style_evolution_analysis",
    "workflowDefinitions/trend_analysis",
]

# Pairs of steps that must be able to run at the same time in each seed.
PARALLEL_BRANCHES = {
    "adopt_outfit": [("learn", "wardrobe"), ("wardrobe", "feedback"), ("learn", "feedback")],
    "complete_style_analysis": [("image", "nlu")],
    "outfit_recommendation": [("profile", "nlu"), ("trends", "profile"), ("trends", "nlu")],
    "personalized_shopping": [("nlu", "profile"), ("trends", "nlu"), ("trends", "profile")],
    "style_evolution_analysis": [("history", "trends"), ("outfits", "recommendations")],
    "trend_analysis": [("trends", "profile"), ("recommendations", "outfits")],
}


@pytest.fixture(scope="module")
def seeds() -> dict[str, CompiledWorkflow]:
    registry = MethodRegistry.default()
    compiled = [compile_workflow(definition, registry) for definition in seed_definitions()]
    return {workflow.definition_id: workflow for workflow in compiled}


def test_the_seeds_are_shipped_and_all_compile(seeds: dict[str, CompiledWorkflow]) -> None:
    assert sorted(workflow.name for workflow in seeds.values()) == SEED_NAMES


@pytest.mark.parametrize("seed", sorted(PARALLEL_BRANCHES))
def test_each_seed_has_parallel_branches(seeds: dict[str, CompiledWorkflow], seed: str) -> None:
    graph = seeds[seed].graph

    for left, right in PARALLEL_BRANCHES[seed]:
        assert not nx.has_path(graph, left, right), (left, right)
        assert not nx.has_path(graph, right, left), (right, left)


@pytest.mark.parametrize("seed", sorted(PARALLEL_BRANCHES))
def test_each_seed_is_described_for_people(seeds: dict[str, CompiledWorkflow], seed: str) -> None:
    definition = seeds[seed].definition

    assert definition.description
    assert all(step.description for step in definition.steps)


def test_complete_style_analysis_calls_all_five_services_in_order(
    seeds: dict[str, CompiledWorkflow],
) -> None:
    workflow = seeds["complete_style_analysis"]

    assert {step.method.service for step in workflow.steps.values()} == {
        "aura.image.v1.ImageProcessingService",
        "aura.nlu.v1.NluService",
        "aura.style.v1.StyleProfileService",
        "aura.combination.v1.CombinationEngineService",
        "aura.recommendation.v1.RecommendationEngineService",
    }
    assert workflow.steps["profile"].deps == {"image", "nlu"}
    assert workflow.steps["outfits"].deps == {"profile", "nlu"}
    assert workflow.steps["recommendations"].deps == {"profile", "outfits", "nlu"}
    assert workflow.topological_order[:2] == ("image", "nlu")
    assert workflow.topological_order[2:] == ("profile", "outfits", "recommendations")
    assert workflow.required_inputs == ("user_id", "image_uri", "text")


def test_trends_enrichment_is_optional_where_it_only_enriches(
    seeds: dict[str, CompiledWorkflow],
) -> None:
    assert seeds["outfit_recommendation"].steps["trends"].optional
    assert seeds["personalized_shopping"].steps["trends"].optional
    assert seeds["outfit_recommendation"].steps["outfits"].deps >= {"trends"}


def test_style_evolution_builds_on_the_current_profile_and_trends(
    seeds: dict[str, CompiledWorkflow],
) -> None:
    workflow = seeds["style_evolution_analysis"]

    for step_id in ("outfits", "recommendations"):
        inputs = workflow.definition.steps[workflow.steps[step_id].index].inputs
        assert inputs["profile"].ref == "steps.history.current_profile"
        assert inputs["trends"].ref == "steps.trends.trends"


def test_a_seed_runs_a_step_only_when_the_text_states_a_budget(
    seeds: dict[str, CompiledWorkflow],
) -> None:
    within_budget = seeds["personalized_shopping"].steps["within_budget"]

    assert within_budget.condition is not None
    assert within_budget.condition.ref == "steps.nlu.budget"


def test_seeds_have_timeouts_and_retry_policies(seeds: dict[str, CompiledWorkflow]) -> None:
    for workflow in seeds.values():
        assert 0 < workflow.timeout_s <= 60
        assert workflow.critical_path_s() <= workflow.timeout_s
        assert all(0 < step.timeout_s <= 10 for step in workflow.steps.values())
    image = seeds["complete_style_analysis"].steps["image"]
    assert image.retry.max_attempts == 3
    assert image.retry.initial_backoff_s == pytest.approx(0.2)


def test_adopt_outfit_is_one_transaction_of_its_three_changes(
    seeds: dict[str, CompiledWorkflow],
) -> None:
    workflow = seeds["adopt_outfit"]

    assert list(workflow.transactions) == ["adopt"]
    assert workflow.transactions["adopt"].steps == ("learn", "wardrobe", "feedback")
    assert {step: group.id for step, group in workflow.transaction_of.items()} == {
        "learn": "adopt",
        "wardrobe": "adopt",
        "feedback": "adopt",
    }
