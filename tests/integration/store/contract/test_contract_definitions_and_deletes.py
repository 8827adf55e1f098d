"""Contract, both stores: definitions stored once, deletes of runs and definitions, and
retention deleting what ended long enough ago."""

from __future__ import annotations

import time

import pytest

from aura.orchestrator.v1 import run_pb2, workflow_pb2
from orchestrator.errors import AlreadyExists, FailedPrecondition, NotFound
from orchestrator.runs import EVERY_TENANT
from orchestrator.store import RunStore
from tests.helpers import eventually
from tests.integration.store.contract.store_opener import StoreOpener
from tests.unit.store.run_events import T0, created, event, finished, started

pytestmark = pytest.mark.integration
DAY_S = 24 * 3600.0


def definition(name: str, description: str = "") -> workflow_pb2.WorkflowDefinition:
    return workflow_pb2.WorkflowDefinition(
        name=f"workflowDefinitions/{name}",
        description=description,
        steps=[
            {
                "id": "parse",
                "method": "aura.nlu.v1.NluService/AnalyzeText",
                "inputs": {"text": {"ref": "input.text"}, "lang": {"ref": "input.lang"}},
            }
        ],
    )


async def finished_run(store: RunStore, run_id: str, *, ended_at: float) -> None:
    await store.create_run(created(run_id, at=ended_at))
    await store.append([started(run_id), event(run_id, 3, at=ended_at, step_started={})])
    await store.append([finished(run_id, 4, at=ended_at)])


async def test_definitions_are_stored_once_and_listed_by_name(store: RunStore) -> None:
    assert await store.put_definition(definition("zeta")) is True
    assert await store.put_definition(definition("alpha")) is True
    assert await store.put_definition(definition("zeta")) is False

    with pytest.raises(AlreadyExists):
        await store.put_definition(definition("zeta", description="changed"))

    listed = await store.list_definitions()
    assert [d.name for d in listed] == ["workflowDefinitions/alpha", "workflowDefinitions/zeta"]
    assert listed[1] == definition("zeta")


async def test_a_deleted_run_is_gone_with_its_events(store: RunStore) -> None:
    await finished_run(store, "r1", ended_at=time.time())
    assert (
        len(await store.read_events("workflowRuns/r1", scope=EVERY_TENANT)) == 4
    )  # also kept in memory

    await store.delete_run("workflowRuns/r1")

    assert await store.read_events("workflowRuns/r1", scope=EVERY_TENANT) == []
    assert await store.get_run_record("workflowRuns/r1", scope=EVERY_TENANT) is None
    with pytest.raises(NotFound):
        await store.delete_run("workflowRuns/r1")


async def test_an_unfinished_run_cannot_be_deleted(store: RunStore) -> None:
    await store.create_run(created("r1"))
    await store.append([started("r1")])

    with pytest.raises(FailedPrecondition) as refused:
        await store.delete_run("workflowRuns/r1")

    assert refused.value.reason == "RUN_NOT_FINISHED"
    assert [e.seq for e in await store.read_events("workflowRuns/r1", scope=EVERY_TENANT)] == [1, 2]


async def test_a_request_id_is_free_again_once_its_run_is_deleted(store: RunStore) -> None:
    await store.create_run(created("r1"), request_id="once", fingerprint="a")
    await store.append([finished("r1", 2)])
    await store.delete_run("workflowRuns/r1")

    assert await store.create_run(created("r2"), request_id="once", fingerprint="b") == (
        "workflowRuns/r2",
        True,
    )


async def test_a_definition_with_an_unfinished_run_cannot_be_deleted(store: RunStore) -> None:
    await store.put_definition(workflow_pb2.WorkflowDefinition(name="workflowDefinitions/demo"))
    await store.create_run(created("r1"))  # a run of workflowDefinitions/demo

    with pytest.raises(FailedPrecondition) as refused:
        await store.delete_definition("workflowDefinitions/demo")
    assert refused.value.reason == "DEFINITION_IN_USE"

    await store.append([finished("r1", 2)])
    assert await store.delete_definition("workflowDefinitions/demo") is True
    assert await store.list_definitions() == []
    assert await store.delete_definition("workflowDefinitions/demo") is False


async def test_runs_that_ended_longer_ago_than_the_retention_are_deleted(
    open_store: StoreOpener,
) -> None:
    writer = await open_store()
    for index in range(130):  # more than one purge batch (100)
        await finished_run(writer, f"old{index}", ended_at=T0)
    await finished_run(writer, "recent", ended_at=time.time() - 60)
    await writer.create_run(created("unfinished", at=T0))
    await writer.close()

    store = await open_store(retention_s=DAY_S, purge_interval_s=0.05)

    async def old_ones_gone() -> bool:
        return await store.get_run_record("workflowRuns/old129", scope=EVERY_TENANT) is None

    await eventually(old_ones_gone, timeout_s=20, message="expired runs were not deleted")
    for index in (0, 99, 100, 129):
        assert await store.read_events(f"workflowRuns/old{index}", scope=EVERY_TENANT) == []
    assert await store.get_run_record("workflowRuns/recent", scope=EVERY_TENANT) is not None
    assert await store.get_run_record("workflowRuns/unfinished", scope=EVERY_TENANT) is not None
    final = await store.get_run_record("workflowRuns/recent", scope=EVERY_TENANT)
    assert final is not None and final.state == run_pb2.RUN_STATE_SUCCEEDED
