"""The README's CreateWorkflowDefinition recipe reads examples/definition.json: it is valid."""

from __future__ import annotations

import pytest
from google.protobuf import json_format

from aura.orchestrator.v1 import orchestrator_pb2
from tests.helpers import REPO_ROOT
from tests.integration.orchestrator_helpers import Stub

pytestmark = pytest.mark.integration

EXAMPLE = REPO_ROOT / "examples/definition.json"


async def test_the_shipped_definition_validates_over_grpc_and_registers_nothing(
    stub: Stub,
) -> None:
    request = json_format.Parse(
        EXAMPLE.read_text(), orchestrator_pb2.CreateWorkflowDefinitionRequest()
    )
    assert request.validate_only, "the recipe validates only"

    response = await stub.CreateWorkflowDefinition(request)

    assert response.workflow_definition.name == "workflowDefinitions/quick_outfits"
    listed = await stub.ListWorkflowDefinitions(orchestrator_pb2.ListWorkflowDefinitionsRequest())
    assert request.workflow_definition.name not in {d.name for d in listed.workflow_definitions}


def test_the_readme_recipe_names_the_shipped_file() -> None:
    recipe = next(
        line
        for line in (REPO_ROOT / "README.md").read_text().splitlines()
        if "CreateWorkflowDefinition" in line and "grpcurl" in line
    )
    assert "examples/definition.json" in recipe
