"""Tenant A's token on each of tenant B's resources, over mTLS: never visible, never
changed. Runs, their events (Watch), definitions and analytics belong to the tenant of the
token that made them; another tenant's answers NOT_FOUND, exactly as a name that does not
exist, and List and GetAnalytics never show or count it."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from google.protobuf import json_format

from aura.orchestrator.v1 import orchestrator_pb2, orchestrator_pb2_grpc, run_pb2
from mock_services.mesh import MockMesh
from orchestrator.security import Permission, make_signing_key
from orchestrator.server import OrchestratorServer
from tests.helpers import REPO_ROOT
from tests.integration.orchestrator_helpers import STYLE_INPUT, struct
from tests.integration.security.secured_settings import secured_settings, tenant_token

pytestmark = pytest.mark.integration

STYLE = "workflowDefinitions/complete_style_analysis"
Stub = orchestrator_pb2_grpc.OrchestratorServiceStub


@dataclass
class Tenants:
    acme: Stub
    globex: Stub


def _definition(name: str) -> orchestrator_pb2.CreateWorkflowDefinitionRequest:
    request = json_format.Parse(
        (REPO_ROOT / "examples/definition.json").read_text(),
        orchestrator_pb2.CreateWorkflowDefinitionRequest(),
    )
    request.validate_only = False
    request.workflow_definition.name = name
    return request


@pytest.fixture(name="tenants")
async def tenants_fixture(mesh: MockMesh, tmp_path: Path) -> AsyncIterator[Tenants]:
    private, public = make_signing_key(tmp_path / "keys")
    secured = secured_settings(mesh, tmp_path, public)
    server = await OrchestratorServer(secured.settings).start()

    def stub(tenant: str) -> tuple[grpc.aio.Channel, Stub]:
        token = tenant_token(private, tenant, Permission.ADMIN)
        channel = grpc.aio.secure_channel(
            server.address,
            grpc.composite_channel_credentials(
                secured.credentials, grpc.access_token_call_credentials(token)
            ),
        )
        return channel, Stub(channel)

    (acme_channel, acme), (globex_channel, globex) = stub("acme"), stub("globex")
    try:
        yield Tenants(acme, globex)
    finally:
        await acme_channel.close()
        await globex_channel.close()
        await server.stop(0.5)


async def _code(call: object) -> grpc.StatusCode:
    try:
        await call  # type: ignore[misc]
    except grpc.aio.AioRpcError as error:
        return error.code()
    return grpc.StatusCode.OK


async def _watch_code(stub: Stub, name: str) -> grpc.StatusCode:
    try:
        async for _ in stub.WatchWorkflowRun(
            orchestrator_pb2.WatchWorkflowRunRequest(name=name), timeout=5
        ):
            return grpc.StatusCode.OK
    except grpc.aio.AioRpcError as error:
        return error.code()
    return grpc.StatusCode.OK


async def _execute(stub: Stub, **fields: object) -> run_pb2.WorkflowRun:
    answer = await stub.ExecuteWorkflowRun(
        orchestrator_pb2.ExecuteWorkflowRunRequest(
            workflow_definition=STYLE,
            input=struct(STYLE_INPUT),
            **fields,  # type: ignore[arg-type]
        ),
        timeout=20,
    )
    return answer.workflow_run


async def test_another_tenants_run_is_not_found_anywhere_and_stays_as_it_was(
    tenants: Tenants,
) -> None:
    acme, globex = tenants.acme, tenants.globex
    run = await _execute(acme)
    assert run.state == run_pb2.RUN_STATE_SUCCEEDED and run.tenant == "acme"
    name = run.name

    get = globex.GetWorkflowRun(orchestrator_pb2.GetWorkflowRunRequest(name=name))
    assert await _code(get) == grpc.StatusCode.NOT_FOUND
    assert await _watch_code(globex, name) == grpc.StatusCode.NOT_FOUND
    cancel = globex.CancelWorkflowRun(orchestrator_pb2.CancelWorkflowRunRequest(name=name))
    assert await _code(cancel) == grpc.StatusCode.NOT_FOUND
    delete = globex.DeleteWorkflowRun(orchestrator_pb2.DeleteWorkflowRunRequest(name=name))
    assert await _code(delete) == grpc.StatusCode.NOT_FOUND
    for view in (orchestrator_pb2.WORKFLOW_RUN_VIEW_BASIC, orchestrator_pb2.WORKFLOW_RUN_VIEW_FULL):
        listed = await globex.ListWorkflowRuns(orchestrator_pb2.ListWorkflowRunsRequest(view=view))
        assert name not in {r.name for r in listed.workflow_runs}

    kept = await acme.GetWorkflowRun(orchestrator_pb2.GetWorkflowRunRequest(name=name))
    assert kept.workflow_run.state == run_pb2.RUN_STATE_SUCCEEDED, "nothing of it changed"
    assert await _watch_code(acme, name) == grpc.StatusCode.OK
    mine = await acme.ListWorkflowRuns(orchestrator_pb2.ListWorkflowRunsRequest())
    assert [r.name for r in mine.workflow_runs] == [name]
    assert {r.tenant for r in mine.workflow_runs} == {"acme"}


async def test_a_running_run_cannot_be_cancelled_by_another_tenant(tenants: Tenants) -> None:
    started = await tenants.acme.StartWorkflowRun(
        orchestrator_pb2.StartWorkflowRunRequest(
            workflow_definition=STYLE, input=struct(STYLE_INPUT)
        )
    )
    name = started.workflow_run.name
    cancel = tenants.globex.CancelWorkflowRun(
        orchestrator_pb2.CancelWorkflowRunRequest(name=name, reason="not yours")
    )
    assert await _code(cancel) == grpc.StatusCode.NOT_FOUND
    async for _ in tenants.acme.WatchWorkflowRun(
        orchestrator_pb2.WatchWorkflowRunRequest(name=name), timeout=20
    ):
        pass
    ended = await tenants.acme.GetWorkflowRun(orchestrator_pb2.GetWorkflowRunRequest(name=name))
    assert ended.workflow_run.state == run_pb2.RUN_STATE_SUCCEEDED


async def test_another_tenants_definition_is_not_found_and_its_name_is_taken(
    tenants: Tenants,
) -> None:
    acme, globex = tenants.acme, tenants.globex
    created = await acme.CreateWorkflowDefinition(_definition("workflowDefinitions/acme_outfits"))
    name = created.workflow_definition.name
    assert created.workflow_definition.tenant == "acme"

    get = globex.GetWorkflowDefinition(orchestrator_pb2.GetWorkflowDefinitionRequest(name=name))
    assert await _code(get) == grpc.StatusCode.NOT_FOUND
    listed = await globex.ListWorkflowDefinitions(
        orchestrator_pb2.ListWorkflowDefinitionsRequest(page_size=1000)
    )
    names = {d.name for d in listed.workflow_definitions}
    assert name not in names and STYLE in names, "the shipped definitions are everyone's"
    start = globex.StartWorkflowRun(
        orchestrator_pb2.StartWorkflowRunRequest(
            workflow_definition=name, input=struct({"user_id": "u", "text": "t"})
        )
    )
    assert await _code(start) == grpc.StatusCode.NOT_FOUND
    delete = globex.DeleteWorkflowDefinition(
        orchestrator_pb2.DeleteWorkflowDefinitionRequest(name=name)
    )
    assert await _code(delete) == grpc.StatusCode.NOT_FOUND
    taken = globex.CreateWorkflowDefinition(_definition(name))
    assert await _code(taken) == grpc.StatusCode.ALREADY_EXISTS
    still = await acme.GetWorkflowDefinition(
        orchestrator_pb2.GetWorkflowDefinitionRequest(name=name)
    )
    assert still.workflow_definition.tenant == "acme"


async def test_analytics_count_the_callers_tenant_only(tenants: Tenants) -> None:
    for _ in range(3):
        await _execute(tenants.acme)
    await _execute(tenants.globex)

    acme = await tenants.acme.GetAnalytics(orchestrator_pb2.GetAnalyticsRequest())
    globex = await tenants.globex.GetAnalytics(orchestrator_pb2.GetAnalyticsRequest())
    assert (acme.runs_matched, globex.runs_matched) == (3, 1)


async def test_the_same_request_id_in_two_tenants_starts_two_runs(tenants: Tenants) -> None:
    ours = await _execute(tenants.acme, request_id="order-7")
    theirs = await _execute(tenants.globex, request_id="order-7")
    again = await _execute(tenants.acme, request_id="order-7")

    assert ours.name != theirs.name and again.name == ours.name
    assert (ours.tenant, theirs.tenant) == ("acme", "globex")
    assert json.loads(json_format.MessageToJson(theirs))["requestId"] == "order-7"
