"""What a fallback leaves in a run's history, when it applies and when it does not,
the bound on a last good answer, and a crash in between."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import grpc
import pytest
from google.protobuf import json_format

from aura.orchestrator.v1 import orchestrator_pb2, run_pb2, workflow_pb2
from aura.style.v1 import style_pb2
from mock_services.mesh import MockMesh
from orchestrator.engine import DefinitionCatalog, Engine, RunSpec
from orchestrator.mesh import BackendPool
from orchestrator.runs import EVERY_TENANT
from orchestrator.store import SqliteRunStore
from tests.integration.orchestrator_helpers import (
    STYLE_INPUT,
    Stub,
    collect_events,
    execute,
    step,
    struct,
)

pytestmark = pytest.mark.integration

GET_PROFILE = "aura.style.v1.StyleProfileService/GetStyleProfile"
BUILD_PROFILE = "aura.style.v1.StyleProfileService/BuildStyleProfile"
OUTFIT_INPUT = {"user_id": "ada", "text": "Outfit for an office meeting, navy"}
UNAVAILABLE = grpc.StatusCode.UNAVAILABLE.value[0]


def step_events(events: Sequence[run_pb2.RunEvent], step_id: str) -> list[tuple[str, int]]:
    """(event kind, attempt) of one step's events, in order."""
    found = []
    for event in events:
        kind = event.WhichOneof("event")
        assert kind is not None
        body = getattr(event, kind)
        if getattr(body, "step_id", None) == step_id:
            found.append((kind, getattr(body, "attempt", 0)))
    return found


def succeeded(events: Sequence[run_pb2.RunEvent], step_id: str) -> run_pb2.StepSucceeded:
    return next(
        e.step_succeeded
        for e in events
        if e.HasField("step_succeeded") and e.step_succeeded.step_id == step_id
    )


async def test_a_last_good_answer_follows_the_failed_attempt_and_says_how_old_it_is(
    mesh: MockMesh,
    stub: Stub,
) -> None:
    healthy = await execute(stub, "outfit_recommendation", OUTFIT_INPUT)
    mesh.servers["style"].faults.error_rate = 1.0

    run = await execute(stub, "outfit_recommendation", OUTFIT_INPUT)
    events = await collect_events(stub, run.name)

    assert run.state == run_pb2.RUN_STATE_SUCCEEDED
    kinds = step_events(events, "profile")
    attempts = kinds[-2][1]
    assert kinds[-2:] == [("step_attempt_failed", attempts), ("step_succeeded", attempts)]
    assert all(kind != "step_failed" for kind, _ in kinds)
    answer = succeeded(events, "profile")
    assert answer.answered_by == run_pb2.ANSWERED_BY_LAST_GOOD_ANSWER
    assert answer.answered_by_method == GET_PROFILE
    assert 0 < answer.answer_age.ToNanoseconds() < 3600 * 10**9
    assert answer.output == step(healthy, "profile").output
    profile = step(run, "profile")
    assert (profile.answered_by, profile.answered_by_method) == (
        run_pb2.ANSWERED_BY_LAST_GOOD_ANSWER,
        GET_PROFILE,
    )
    assert step(run, "nlu").answered_by == run_pb2.ANSWERED_BY_PRIMARY
    assert step(run, "nlu").answered_by_method == "aura.nlu.v1.NluService/AnalyzeText"


async def test_a_fallback_method_answers_as_one_more_attempt_in_the_step_response_type(
    mesh: MockMesh,
    stub: Stub,
) -> None:
    style = mesh.servers["style"]
    style.faults.fail_next = 3  # BuildStyleProfile's three attempts

    run = await execute(stub, "complete_style_analysis", STYLE_INPUT)
    events = await collect_events(stub, run.name)

    assert run.state == run_pb2.RUN_STATE_SUCCEEDED
    assert step_events(events, "profile") == [
        ("step_started", 1),
        ("step_attempt_failed", 1),
        ("step_started", 2),
        ("step_attempt_failed", 2),
        ("step_started", 3),
        ("step_attempt_failed", 3),
        ("step_started", 4),
        ("step_succeeded", 4),
    ]
    answer = succeeded(events, "profile")
    assert answer.answered_by == run_pb2.ANSWERED_BY_FALLBACK_METHOD
    assert answer.answered_by_method == GET_PROFILE
    profile = style_pb2.BuildStyleProfileResponse()
    assert answer.output.Unpack(profile)  # recorded as the step's own response type
    assert profile.profile.user_id == "ada"
    assert (style.calls["BuildStyleProfile"], style.calls["GetStyleProfile"]) == (3, 1)


@pytest.mark.parametrize(
    "code", [grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION]
)
async def test_no_fallback_after_an_error_other_than_unavailable(
    mesh: MockMesh,
    stub: Stub,
    code: grpc.StatusCode,
) -> None:
    style = mesh.servers["style"]
    style.faults.error_rate = 1.0
    style.faults.error_code = code

    run = await execute(stub, "complete_style_analysis", STYLE_INPUT)

    assert run.state == run_pb2.RUN_STATE_FAILED
    assert step(run, "profile").error.code == code.value[0]
    assert "fallback" not in step(run, "profile").error.message
    assert style.calls["GetStyleProfile"] == 0


def profile_only(name: str, max_age: str) -> workflow_pb2.WorkflowDefinition:
    return json_format.ParseDict(
        {
            "name": f"workflowDefinitions/{name}",
            "steps": [
                {
                    "id": "profile",
                    "method": GET_PROFILE,
                    "inputs": {"user_id": {"ref": "input.user_id"}},
                    "retry": {"max_attempts": 1},
                    "fallback": {"last_good_answer": {"max_age": max_age}},
                }
            ],
        },
        workflow_pb2.WorkflowDefinition(),
    )


async def test_a_last_good_answer_is_used_only_within_the_step_own_max_age(
    mesh: MockMesh,
    stub: Stub,
) -> None:
    for definition in (profile_only("lenient", "60s"), profile_only("strict", "0.3s")):
        await stub.CreateWorkflowDefinition(
            orchestrator_pb2.CreateWorkflowDefinitionRequest(workflow_definition=definition)
        )
    healthy = await execute(stub, "lenient", {"user_id": "ada"})
    assert healthy.state == run_pb2.RUN_STATE_SUCCEEDED
    await asyncio.sleep(0.5)  # the answer outgrows the strict bound
    mesh.servers["style"].faults.error_rate = 1.0

    strict = await execute(stub, "strict", {"user_id": "ada"})
    lenient = await execute(stub, "lenient", {"user_id": "ada"})
    other_user = await execute(stub, "lenient", {"user_id": "grace"})

    assert strict.state == run_pb2.RUN_STATE_FAILED
    assert strict.error.code == UNAVAILABLE
    assert "no answer to the same request within 0.3s" in step(strict, "profile").error.message
    assert lenient.state == run_pb2.RUN_STATE_SUCCEEDED
    assert step(lenient, "profile").answered_by == run_pb2.ANSWERED_BY_LAST_GOOD_ANSWER
    assert step(lenient, "profile").output == step(healthy, "profile").output
    assert other_user.state == run_pb2.RUN_STATE_FAILED  # another request, no answer


# --- a crash around a fallback --------------------------------------------------------


@pytest.fixture
async def pool(mesh: MockMesh) -> AsyncIterator[BackendPool]:
    addresses = {service: [address] for service, address in mesh.addresses().items()}
    pool = BackendPool(addresses)
    await pool.start()
    try:
        yield pool
    finally:
        await pool.stop()


async def resumed_from(
    pool: BackendPool, catalog: DefinitionCatalog, path: Path, prefix: Sequence[run_pb2.RunEvent]
) -> tuple[run_pb2.WorkflowRun, list[run_pb2.RunEvent]]:
    async with SqliteRunStore(path) as store:
        await store.create_run(prefix[0], request_id="", fingerprint="crashed")
        await store.append(prefix[1:])
        engine = Engine(store, pool, catalog)
        assert await engine.resume_unfinished() == [prefix[0].run]
        run = await asyncio.wait_for(engine.wait_finished(prefix[0].run), timeout=20)
        return run, await store.read_events(run.name, scope=EVERY_TENANT)


async def test_a_step_answered_by_its_fallback_keeps_that_answer_after_a_crash(
    mesh: MockMesh,
    pool: BackendPool,
    catalog: DefinitionCatalog,
    tmp_path: Path,
) -> None:
    style = mesh.servers["style"]
    style.faults.fail_next = 3
    async with SqliteRunStore(tmp_path / "uncrashed.db") as store:
        engine = Engine(store, pool, catalog)
        run, _ = await engine.start_run(RunSpec("complete_style_analysis", struct(STYLE_INPUT)))
        await engine.wait_finished(run.name)
        history = await store.read_events(run.name, scope=EVERY_TENANT)
    answered = next(
        k
        for k, e in enumerate(history)
        if e.HasField("step_succeeded") and e.step_succeeded.step_id == "profile"
    )
    style.reset_counters()

    after_answer, _ = await resumed_from(
        pool, catalog, tmp_path / "after.db", history[: answered + 1]
    )
    during_fallback, events = await resumed_from(
        pool, catalog, tmp_path / "during.db", history[:answered]
    )

    assert after_answer.state == run_pb2.RUN_STATE_SUCCEEDED
    kept = step(after_answer, "profile")
    assert kept.answered_by == run_pb2.ANSWERED_BY_FALLBACK_METHOD
    assert kept.output == history[answered].step_succeeded.output
    # Cut off mid-fallback, the step runs again: its own method first, under the next number.
    assert during_fallback.state == run_pb2.RUN_STATE_SUCCEEDED
    assert step(during_fallback, "profile").answered_by == run_pb2.ANSWERED_BY_PRIMARY
    assert step_events(events, "profile")[-2:] == [("step_started", 5), ("step_succeeded", 5)]
    assert style.calls["BuildStyleProfile"] == 1
    assert style.calls["GetStyleProfile"] == 0
