"""Contract, both stores: `append_durable` appends like `append` (in order, fenced on seq)
and resolves once the events are forced to disk (a transaction's decision)."""

from __future__ import annotations

import pytest

from aura.orchestrator.v1 import run_pb2
from orchestrator.runs import EVERY_TENANT
from orchestrator.store import EventSequenceConflict, RunStore
from tests.unit.store.run_events import created, event, started

pytestmark = pytest.mark.integration


async def test_a_durable_append_commits_in_order_with_the_appends_before_it(
    store: RunStore,
) -> None:
    await store.create_run(created("r1"))
    store.append([started("r1", 2)])
    decided = run_pb2.TransactionDecided(
        transaction_id="r1/adopt", decision=run_pb2.TRANSACTION_DECISION_COMMIT
    )
    await store.append_durable([event("r1", 3, transaction_decided=decided)])

    events = await store.read_events("workflowRuns/r1", scope=EVERY_TENANT)
    assert [e.seq for e in events] == [1, 2, 3]
    assert events[-1].transaction_decided == decided
    assert store.forced_syncs == 1  # type: ignore[attr-defined]


async def test_a_durable_append_out_of_sequence_fails_and_stores_nothing(store: RunStore) -> None:
    await store.create_run(created("r1"))
    with pytest.raises(EventSequenceConflict):
        await store.append_durable([event("r1", 7, run_started={})])
    assert [e.seq for e in await store.read_events("workflowRuns/r1", scope=EVERY_TENANT)] == [1]
