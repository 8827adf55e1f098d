"""Run ids stay unique whatever else the process does with the global `random` module."""

from __future__ import annotations

import random

import pytest

from aura.orchestrator.v1 import orchestrator_pb2
from tests.integration.orchestrator_fixtures import (
    STYLE_INPUT,
    Stub,
    mesh,
    orchestrator,
    struct,
    stub,
)

pytestmark = pytest.mark.integration
__all__ = ["mesh", "orchestrator", "stub"]


async def test_runs_get_new_ids_when_something_reseeds_the_global_random(stub: Stub) -> None:
    names = set()
    for _ in range(3):
        random.seed(1234)  # e.g. a property-testing library between examples
        response = await stub.StartWorkflowRun(
            orchestrator_pb2.StartWorkflowRunRequest(
                workflow_definition="complete_style_analysis", input=struct(STYLE_INPUT)
            )
        )
        names.add(response.workflow_run.name)
    assert len(names) == 3
