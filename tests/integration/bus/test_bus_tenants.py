"""The event bus under bearer tokens: every event is one tenant's. A client's publish is
its token's tenant's, a run's events are the run's tenant's, and subscribe, list, dead
letters and replay show one tenant's streams only. A created definition's trigger hears
its own tenant's events only; a shipped (shared) definition's trigger hears every
tenant's and starts each run in the event's tenant. Real Redis, real tokens, mTLS."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from google.protobuf import json_format

from aura.events.v1 import events_pb2, events_pb2_grpc
from aura.orchestrator.v1 import orchestrator_pb2, orchestrator_pb2_grpc, run_pb2
from mock_services.mesh import MockMesh
from orchestrator.bus import BusConnection, BusEvent, GroupConsumer, PermanentFailure
from orchestrator.security import Permission, issue_token, make_signing_key
from orchestrator.server import OrchestratorServer
from tests.helpers import REPO_ROOT, eventually
from tests.integration.bus.trigger_helpers import OUTFITS
from tests.integration.orchestrator_helpers import STYLE_INPUT, struct
from tests.integration.security.secured_settings import secured_settings
from tests.redis_fixtures import require_redis

pytestmark = pytest.mark.integration

STYLE = "workflowDefinitions/complete_style_analysis"
ORDERS = "orders.placed"


@dataclass
class Client:
    runs: orchestrator_pb2_grpc.OrchestratorServiceStub
    events: events_pb2_grpc.EventServiceStub


@dataclass
class Tenants:
    acme: Client
    globex: Client


@pytest.fixture(name="tenants")
async def tenants_fixture(
    mesh: MockMesh, tmp_path: Path, bus: BusConnection
) -> AsyncIterator[Tenants]:
    private, public = make_signing_key(tmp_path / "keys")
    secured = secured_settings(mesh, tmp_path, public, redis_url=require_redis())
    server = await OrchestratorServer(secured.settings, bus_settings=bus.settings).start()
    channels: list[grpc.aio.Channel] = []

    def client(tenant: str) -> Client:
        token = issue_token(
            private,
            tenant=tenant,
            permissions=[Permission.ADMIN],
            issuer="aura",
            audience="aura-orchestrator",
        )
        channel = grpc.aio.secure_channel(
            server.address,
            grpc.composite_channel_credentials(
                secured.credentials, grpc.access_token_call_credentials(token)
            ),
        )
        channels.append(channel)
        return Client(
            orchestrator_pb2_grpc.OrchestratorServiceStub(channel),
            events_pb2_grpc.EventServiceStub(channel),
        )

    try:
        yield Tenants(client("acme"), client("globex"))
    finally:
        for channel in channels:
            await channel.close()
        await server.stop(0.5)


async def _publish(
    client: Client, topic: str, event_id: str, **payload: object
) -> events_pb2.Event:
    answer = await client.events.PublishEvent(
        events_pb2.PublishEventRequest(
            topic=topic, key="k", event_id=event_id, payload=struct(dict(payload))
        ),
        timeout=5,
    )
    assert not answer.duplicate
    return answer.event


async def _listed(client: Client, topic: str) -> list[events_pb2.Event]:
    answer = await client.events.ListEvents(events_pb2.ListEventsRequest(topic=topic), timeout=5)
    return list(answer.events)


async def _first_events(client: Client, topic: str, count: int) -> list[events_pb2.Event]:
    """The first `count` events of `topic` the client's subscription from the oldest sees."""
    seen: list[events_pb2.Event] = []
    call = client.events.SubscribeEvents(
        events_pb2.SubscribeEventsRequest(topic=topic, cursor="0"), timeout=30
    )
    async for answer in call:
        seen.append(answer.event)
        if len(seen) == count:
            break
    call.cancel()
    return seen


async def _code(call: object) -> grpc.StatusCode:
    try:
        await call  # type: ignore[misc]
    except grpc.aio.AioRpcError as error:
        return error.code()
    return grpc.StatusCode.OK


async def _triggered(client: Client, trigger: str) -> list[run_pb2.WorkflowRun]:
    answer = await client.runs.ListWorkflowRuns(
        orchestrator_pb2.ListWorkflowRunsRequest(
            filter=f'labels.aura_trigger = "{trigger}"',
            view=orchestrator_pb2.WORKFLOW_RUN_VIEW_FULL,
        ),
        timeout=5,
    )
    return list(answer.workflow_runs)


async def test_a_tenants_events_are_never_seen_by_another_tenants_subscribe_or_list(
    tenants: Tenants,
) -> None:
    acme, globex = tenants.acme, tenants.globex
    mine = await _publish(acme, ORDERS, "order-1", order="acme-1")
    assert mine.tenant == "acme"
    # The same event_id in another tenant is another event, not a duplicate of acme's.
    theirs = await _publish(globex, ORDERS, "order-1", order="globex-1")
    assert theirs.tenant == "globex"

    (first,) = await _first_events(globex, ORDERS, 1)
    assert (first.tenant, first.payload["order"]) == ("globex", "globex-1")
    assert [(e.tenant, e.payload["order"]) for e in await _listed(globex, ORDERS)] == [
        ("globex", "globex-1")
    ]
    assert [(e.tenant, e.payload["order"]) for e in await _listed(acme, ORDERS)] == [
        ("acme", "acme-1")
    ]
    (own,) = await _first_events(acme, ORDERS, 1)
    assert own.payload["order"] == "acme-1" and own.cursor == mine.cursor


async def test_another_tenants_dead_letter_is_not_listed_and_its_replay_is_not_found(
    tenants: Tenants, bus: BusConnection
) -> None:
    acme, globex = tenants.acme, tenants.globex

    async def refuse(event: BusEvent, deliveries: int) -> None:
        raise PermanentFailure(f"cannot handle {event.event_id} of {event.tenant}")

    consumer = GroupConsumer(
        bus, group="billing", consumer="c1", topics=lambda: [("acme", "jobs")], handler=refuse
    )
    async with consumer:
        await _publish(acme, "jobs", "job-1", n=1)

        async def acme_letters() -> list[events_pb2.DeadLetter]:
            answer = await acme.events.ListDeadLetters(
                events_pb2.ListDeadLettersRequest(topic="jobs"), timeout=5
            )
            return list(answer.dead_letters)

        (letter,) = await eventually(acme_letters, timeout_s=10)
    assert letter.event.tenant == "acme" and "of acme" in letter.reason

    listed = await globex.events.ListDeadLetters(
        events_pb2.ListDeadLettersRequest(topic="jobs"), timeout=5
    )
    assert list(listed.dead_letters) == []
    replay = globex.events.ReplayDeadLetter(
        events_pb2.ReplayDeadLetterRequest(topic="jobs", id=letter.id), timeout=5
    )
    assert await _code(replay) == grpc.StatusCode.NOT_FOUND
    assert await _listed(globex, "jobs") == [], "nothing was put on globex's stream"

    replayed = await acme.events.ReplayDeadLetter(
        events_pb2.ReplayDeadLetterRequest(topic="jobs", id=letter.id), timeout=5
    )
    assert replayed.event.tenant == "acme" and replayed.event.event_id == "job-1"
    assert [e.event_id for e in await _listed(acme, "jobs")] == ["job-1", "job-1"]


async def test_a_finished_run_reaches_its_own_tenants_subscriber_only(tenants: Tenants) -> None:
    acme, globex = tenants.acme, tenants.globex
    executed = await acme.runs.ExecuteWorkflowRun(
        orchestrator_pb2.ExecuteWorkflowRunRequest(
            workflow_definition=STYLE, input=struct(STYLE_INPUT)
        ),
        timeout=20,
    )
    acme_run = executed.workflow_run
    assert acme_run.tenant == "acme"
    (finished,) = await _first_events(acme, "run.finished", 1)
    assert finished.payload["run"] == acme_run.name
    assert finished.tenant == "acme" and finished.payload["tenant"] == "acme"

    executed = await globex.runs.ExecuteWorkflowRun(
        orchestrator_pb2.ExecuteWorkflowRunRequest(
            workflow_definition=STYLE, input=struct(STYLE_INPUT)
        ),
        timeout=20,
    )
    # globex's subscription from its oldest event starts with its own run, not acme's.
    (first,) = await _first_events(globex, "run.finished", 1)
    assert (first.tenant, first.payload["run"]) == ("globex", executed.workflow_run.name)
    created = await _listed(globex, "run.created")
    assert acme_run.name not in {e.payload["run"] for e in created}
    assert {e.tenant for e in created} == {"globex"}


async def test_a_created_definitions_trigger_ignores_another_tenants_events(
    tenants: Tenants,
) -> None:
    acme, globex = tenants.acme, tenants.globex
    request = json_format.Parse(
        (REPO_ROOT / "examples/definition.json").read_text(),
        orchestrator_pb2.CreateWorkflowDefinitionRequest(),
    )
    request.validate_only = False
    definition = request.workflow_definition
    definition.name = "workflowDefinitions/acme_on_order"
    definition.triggers.add(
        id="on_order",
        topic=ORDERS,
        input={"user_id": "payload.user_id", "text": "payload.text"},
    )
    await acme.runs.CreateWorkflowDefinition(request, timeout=5)

    # globex's order first, acme's next: only acme's starts a run, and in acme.
    await _publish(globex, ORDERS, "order-g", user_id="from-globex", text="a blazer")
    await _publish(acme, ORDERS, "order-a", user_id="from-acme", text="a blazer")
    (run,) = await eventually(lambda: _triggered(acme, "on_order"), timeout_s=15)
    assert run.tenant == "acme"
    assert json_format.MessageToDict(run.input)["user_id"] == "from-acme"
    assert await _triggered(globex, "on_order") == []

    # A second acme order does start a second run; globex's still started none.
    await _publish(acme, ORDERS, "order-a2", user_id="from-acme-2", text="a blazer")

    async def two() -> list[run_pb2.WorkflowRun] | None:
        runs = await _triggered(acme, "on_order")
        return runs if len(runs) == 2 else None

    users = {json_format.MessageToDict(r.input)["user_id"] for r in await eventually(two)}
    assert users == {"from-acme", "from-acme-2"}
    assert await _triggered(globex, "on_order") == []


async def test_a_shared_definitions_trigger_starts_its_run_in_the_events_tenant(
    tenants: Tenants,
) -> None:
    acme, globex = tenants.acme, tenants.globex
    executed = await globex.runs.ExecuteWorkflowRun(
        orchestrator_pb2.ExecuteWorkflowRunRequest(
            workflow_definition=STYLE, input=struct(STYLE_INPUT)
        ),
        timeout=20,
    )
    assert executed.workflow_run.state == run_pb2.RUN_STATE_SUCCEEDED
    # outfit_recommendation (shipped, every tenant's) listens to every tenant's run.finished.
    (run,) = await eventually(lambda: _triggered(globex, "after_style_analysis"), timeout_s=15)
    assert run.workflow_definition == OUTFITS and run.tenant == "globex"
    assert await _triggered(acme, "after_style_analysis") == []

    # The same in acme: its own run, in acme; globex still has its one.
    await acme.runs.ExecuteWorkflowRun(
        orchestrator_pb2.ExecuteWorkflowRunRequest(
            workflow_definition=STYLE, input=struct(STYLE_INPUT)
        ),
        timeout=20,
    )
    (mine,) = await eventually(lambda: _triggered(acme, "after_style_analysis"), timeout_s=15)
    assert mine.tenant == "acme" and mine.name != run.name
    assert [r.name for r in await _triggered(globex, "after_style_analysis")] == [run.name]
