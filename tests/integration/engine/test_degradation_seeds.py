"""Each seed definition with each of its services unavailable: the run ends as the
definition's degradation says (an optional input missing, a fallback answering, or
FAILED with the service's error), and the history says which call answered.

A service is "down" when it answers UNAVAILABLE to every call (its health still
says SERVING, so only call outcomes speak). A "warm" case first runs the same input
once with every service up, so the last good answers are there to fall back on.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import grpc
import pytest

from aura.orchestrator.v1 import run_pb2
from mock_services.mesh import MockMesh
from tests.integration.orchestrator_helpers import STYLE_INPUT, Stub, execute, step

SUCCEEDED = run_pb2.RUN_STATE_SUCCEEDED
PARTIAL = run_pb2.RUN_STATE_PARTIALLY_SUCCEEDED
FAILED = run_pb2.RUN_STATE_FAILED

PRIMARY = run_pb2.ANSWERED_BY_PRIMARY
FALLBACK_METHOD = run_pb2.ANSWERED_BY_FALLBACK_METHOD
LAST_GOOD = run_pb2.ANSWERED_BY_LAST_GOOD_ANSWER
STEP_FAILED = "FAILED"
STEP_SKIPPED = "SKIPPED"

# No budget in the text: personalized_shopping's within_budget is skipped by its
# condition, so its outcome is about the services, not the text.
INPUTS: dict[str, dict[str, object]] = {
    "complete_style_analysis": STYLE_INPUT,
    "outfit_recommendation": {"user_id": "ada", "text": "Outfit for an office meeting, navy"},
    "personalized_shopping": {"user_id": "ada", "text": "Outfit for an office meeting, navy"},
    "style_evolution_analysis": {"user_id": "ada", "occasion": "OCCASION_OFFICE"},
    "trend_analysis": {"user_id": "ada", "occasion": "OCCASION_OFFICE"},
}


@dataclass(frozen=True)
class Case:
    definition: str
    down: str
    """The mock service that answers UNAVAILABLE."""
    state: int
    steps: dict[str, int | str] = field(default_factory=dict)
    """Step id -> who answered (AnsweredBy), or STEP_FAILED / STEP_SKIPPED."""
    failed_step: str = ""
    """For a FAILED run: the step whose error the run carries."""
    warm: bool = False
    fail_next: int = 0
    """When set, only the next N calls to the service fail (one method's attempts)."""
    note: str = ""
    """Words the failed step's error message must hold."""

    @property
    def id(self) -> str:
        how = f"first-{self.fail_next}-calls" if self.fail_next else "down"
        return f"{self.definition}-{self.down}-{how}" + ("-warm" if self.warm else "")


CASES = [
    # complete_style_analysis: every service is needed; the stored profile stands
    # in for an update only when just BuildStyleProfile is unavailable.
    Case("complete_style_analysis", "image", FAILED, failed_step="image"),
    Case("complete_style_analysis", "nlu", FAILED, failed_step="nlu"),
    Case(
        "complete_style_analysis",
        "style",
        FAILED,
        failed_step="profile",
        note="fallback aura.style.v1.StyleProfileService/GetStyleProfile failed too",
    ),
    Case(
        "complete_style_analysis",
        "style",
        SUCCEEDED,
        {"profile": FALLBACK_METHOD, "outfits": PRIMARY, "recommendations": PRIMARY},
        fail_next=3,
    ),
    Case("complete_style_analysis", "combination", FAILED, failed_step="outfits"),
    Case("complete_style_analysis", "recommendation", FAILED, failed_step="recommendations"),
    # outfit_recommendation: trends are an optional input of the outfits.
    Case("outfit_recommendation", "style", FAILED, failed_step="profile", note="to fall back on"),
    Case("outfit_recommendation", "style", SUCCEEDED, {"profile": LAST_GOOD}, warm=True),
    Case("outfit_recommendation", "nlu", FAILED, failed_step="nlu"),
    Case(
        "outfit_recommendation",
        "recommendation",
        PARTIAL,
        {"trends": STEP_FAILED, "outfits": PRIMARY},
    ),
    Case(
        "outfit_recommendation",
        "recommendation",
        SUCCEEDED,
        {"trends": LAST_GOOD, "outfits": PRIMARY},
        warm=True,
    ),
    Case("outfit_recommendation", "combination", FAILED, failed_step="outfits"),
    # personalized_shopping: trends are an optional input of the recommendations.
    Case("personalized_shopping", "nlu", FAILED, failed_step="nlu"),
    Case("personalized_shopping", "style", FAILED, failed_step="profile"),
    Case(
        "personalized_shopping",
        "style",
        SUCCEEDED,
        {"profile": LAST_GOOD, "recommendations": PRIMARY},
        warm=True,
    ),
    Case(
        "personalized_shopping",
        "recommendation",
        FAILED,
        {"trends": STEP_FAILED},
        failed_step="recommendations",
    ),
    Case(
        "personalized_shopping",
        "recommendation",
        FAILED,
        {"trends": LAST_GOOD},
        failed_step="recommendations",
        warm=True,
    ),
    Case(
        "personalized_shopping",
        "recommendation",
        PARTIAL,
        {"trends": STEP_FAILED, "recommendations": PRIMARY, "within_budget": STEP_SKIPPED},
        fail_next=2,
    ),
    # style_evolution_analysis: history and trends fall back on their last good answers.
    Case("style_evolution_analysis", "style", FAILED, failed_step="history"),
    Case(
        "style_evolution_analysis",
        "style",
        SUCCEEDED,
        {"history": LAST_GOOD, "outfits": PRIMARY, "recommendations": PRIMARY},
        warm=True,
    ),
    Case("style_evolution_analysis", "recommendation", FAILED, failed_step="trends"),
    Case(
        "style_evolution_analysis",
        "recommendation",
        FAILED,
        {"trends": LAST_GOOD},
        failed_step="recommendations",
        warm=True,
    ),
    Case("style_evolution_analysis", "combination", FAILED, failed_step="outfits"),
    # trend_analysis: the outfits are an optional step.
    Case("trend_analysis", "recommendation", FAILED, failed_step="trends"),
    Case(
        "trend_analysis",
        "recommendation",
        FAILED,
        {"trends": LAST_GOOD},
        failed_step="recommendations",
        warm=True,
    ),
    Case("trend_analysis", "style", FAILED, failed_step="profile"),
    Case(
        "trend_analysis",
        "style",
        SUCCEEDED,
        {"profile": LAST_GOOD, "recommendations": PRIMARY, "outfits": PRIMARY},
        warm=True,
    ),
    Case(
        "trend_analysis",
        "combination",
        PARTIAL,
        {"outfits": STEP_FAILED, "recommendations": PRIMARY},
    ),
]


def test_the_table_covers_every_service_of_every_seed() -> None:
    services = {
        "complete_style_analysis": {"image", "nlu", "style", "combination", "recommendation"},
        "outfit_recommendation": {"style", "nlu", "recommendation", "combination"},
        "personalized_shopping": {"nlu", "style", "recommendation"},
        "style_evolution_analysis": {"style", "recommendation", "combination"},
        "trend_analysis": {"recommendation", "style", "combination"},
    }
    covered: dict[str, set[str]] = {}
    for case in CASES:
        if not case.fail_next:
            covered.setdefault(case.definition, set()).add(case.down)
    assert covered == services


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
async def test_a_seed_with_a_service_down_ends_as_its_degradation_says(
    mesh: MockMesh,
    stub: Stub,
    case: Case,
) -> None:
    run_input = INPUTS[case.definition]
    if case.warm:
        warm_up = await execute(stub, case.definition, run_input)
        assert warm_up.state == SUCCEEDED, warm_up.error
    faults = mesh.servers[case.down].faults
    if case.fail_next:
        faults.fail_next = case.fail_next
    else:
        faults.error_rate = 1.0  # error_code is UNAVAILABLE

    run = await execute(stub, case.definition, run_input)

    assert run_pb2.RunState.Name(run.state) == run_pb2.RunState.Name(case.state), run.error
    for step_id, expected in case.steps.items():
        ran = step(run, step_id)
        if expected == STEP_FAILED:
            assert ran.state == run_pb2.STEP_STATE_FAILED, step_id
            assert ran.error.code == grpc.StatusCode.UNAVAILABLE.value[0]
        elif expected == STEP_SKIPPED:
            assert ran.state == run_pb2.STEP_STATE_SKIPPED, step_id
        else:
            assert ran.state == run_pb2.STEP_STATE_SUCCEEDED, (step_id, ran.error)
            assert run_pb2.AnsweredBy.Name(ran.answered_by) == run_pb2.AnsweredBy.Name(
                expected  # type: ignore[arg-type]
            ), step_id
    if case.state == FAILED:
        assert run.error.code == grpc.StatusCode.UNAVAILABLE.value[0]
        assert run.error.message.startswith(f"step {case.failed_step} failed"), run.error
        failed = step(run, case.failed_step)
        assert failed.state == run_pb2.STEP_STATE_FAILED
        assert case.note in failed.error.message
    else:
        assert not run.HasField("error")
