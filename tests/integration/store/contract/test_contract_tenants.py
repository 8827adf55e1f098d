"""Runs belong to a tenant, and a read names whose runs it may see: on both stores, a run
of tenant A reads as no run at all for tenant B (record, events, listing), while the
engine's own reads (every tenant) see them all. Request ids are per tenant."""

from __future__ import annotations

import pytest

from orchestrator.runs import EVERY_TENANT, RunFilter, TenantScope, parse_run_filter, request_key
from orchestrator.store import RunStore
from tests.unit.store.run_events import created, started

pytestmark = pytest.mark.integration

ACME, GLOBEX = TenantScope.of("acme"), TenantScope.of("globex")


async def _create(store: RunStore, run_id: str, tenant: str, request_id: str = "") -> str:
    event = created(run_id)
    event.run_created.tenant = tenant
    name, _ = await store.create_run(
        event, request_id=request_key(tenant, request_id), fingerprint=tenant
    )
    return name


async def test_a_run_is_seen_by_its_tenant_only(store: RunStore) -> None:
    name = await _create(store, "a1", "acme")
    await store.append([started("a1")])

    record = await store.get_run_record(name, scope=ACME)
    assert record is not None and record.tenant == "acme"
    assert [e.seq for e in await store.read_events(name, scope=ACME)] == [1, 2]

    assert await store.get_run_record(name, scope=GLOBEX) is None
    assert await store.read_events(name, scope=GLOBEX) == []
    assert await store.read_events(name, after_seq=1, scope=GLOBEX) == []
    everyone = await store.get_run_record(name, scope=EVERY_TENANT)
    assert everyone is not None and everyone.tenant == "acme"


async def test_a_listing_holds_its_tenants_runs_only_and_pages_within_them(
    store: RunStore,
) -> None:
    for index in range(5):
        await _create(store, f"a{index}", "acme")
        await _create(store, f"g{index}", "globex")

    seen, token = [], ""
    while True:
        page, token = await store.list_runs(RunFilter(()), 2, token, scope=ACME)
        seen += page
        if not token:
            break
    assert sorted(r.name for r in seen) == [f"workflowRuns/a{i}" for i in range(5)]
    assert {r.tenant for r in seen} == {"acme"}
    filtered, _ = await store.list_runs(
        parse_run_filter('workflow_definition = "workflowDefinitions/demo"'), 50, "", scope=GLOBEX
    )
    assert sorted(r.name for r in filtered) == [f"workflowRuns/g{i}" for i in range(5)]
    every, _ = await store.list_runs(RunFilter(()), 50, "", scope=EVERY_TENANT)
    assert len(every) == 10


async def test_the_same_request_id_in_two_tenants_makes_two_runs(store: RunStore) -> None:
    first = await _create(store, "a1", "acme", request_id="order-7")
    second = await _create(store, "g1", "globex", request_id="order-7")
    again = await _create(store, "a2", "acme", request_id="order-7")

    assert (first, second, again) == ("workflowRuns/a1", "workflowRuns/g1", "workflowRuns/a1")
    record = await store.get_run_record(second, scope=GLOBEX)
    assert record is not None and record.request_id == "order-7"
