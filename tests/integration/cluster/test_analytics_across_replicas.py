"""GetAnalytics on any replica counts the runs of every replica: it reads the shared store."""

from __future__ import annotations

from pathlib import Path

import pytest

from aura.orchestrator.v1 import orchestrator_pb2, run_pb2
from mock_services.mesh import MockMesh
from tests.integration.cluster.replicas import start_replicas
from tests.integration.orchestrator_helpers import STYLE_INPUT, struct

pytestmark = pytest.mark.integration

STYLE = "workflowDefinitions/complete_style_analysis"


async def test_analytics_on_one_replica_count_the_runs_of_all(
    mesh: MockMesh, empty_pg_dsn: str, tmp_path: Path
) -> None:
    replicas = await start_replicas(mesh, empty_pg_dsn, tmp_path, ["a", "b"], 5.0)
    try:
        execute = orchestrator_pb2.ExecuteWorkflowRunRequest(
            workflow_definition="complete_style_analysis", input=struct(STYLE_INPUT)
        )
        for replica, count in zip(replicas, (2, 1), strict=True):
            for _ in range(count):
                answer = await replica.stub.ExecuteWorkflowRun(execute, timeout=20)
                assert answer.workflow_run.state == run_pb2.RUN_STATE_SUCCEEDED

        for replica in replicas:
            analytics = await replica.stub.GetAnalytics(orchestrator_pb2.GetAnalyticsRequest())
            style = next(d for d in analytics.definitions if d.workflow_definition == STYLE)
            assert style.run_count == 3, replica.replica_id
            assert analytics.runs_analyzed == 3
    finally:
        for replica in replicas:
            await replica.close()
