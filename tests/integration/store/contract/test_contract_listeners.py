"""Contract, both stores: commit listeners see committed events only, in commit order,
before the appender's future resolves; a failing listener breaks nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from aura.orchestrator.v1 import run_pb2
from orchestrator.runs import EVERY_TENANT
from orchestrator.store import RunStore
from tests.unit.store.run_events import created, event, started

pytestmark = pytest.mark.integration


async def test_listeners_see_each_run_in_seq_order(store: RunStore) -> None:
    seen: list[tuple[str, int]] = []
    store.add_commit_listener(lambda events: seen.extend((e.run, e.seq) for e in events))

    await asyncio.gather(store.create_run(created("a")), store.create_run(created("b")))
    await asyncio.gather(
        *(
            store.append([event(run, seq, step_scheduled={})])
            for seq in range(2, 30)
            for run in "ab"
        )
    )

    for run in "ab":
        assert [seq for name, seq in seen if name == f"workflowRuns/{run}"] == list(range(1, 30))


async def test_a_listener_has_the_events_before_the_append_future_resolves(store: RunStore) -> None:
    seen: list[int] = []
    store.add_commit_listener(lambda events: seen.extend(e.seq for e in events))
    await store.create_run(created("r1"))

    await store.append([started("r1")])

    assert seen == [1, 2]


async def test_a_listener_sees_only_events_already_readable(store: RunStore) -> None:
    unreadable: list[int] = []
    checks: list[asyncio.Task[None]] = []

    async def check(committed: run_pb2.RunEvent) -> None:
        stored = await store.read_events(
            committed.run, after_seq=committed.seq - 1, scope=EVERY_TENANT
        )
        if not stored or stored[0] != committed:
            unreadable.append(committed.seq)

    def listener(events: Sequence[run_pb2.RunEvent]) -> None:
        checks.extend(asyncio.ensure_future(check(e)) for e in events)

    store.add_commit_listener(listener)
    await store.create_run(created("r1"))
    await asyncio.gather(
        *(store.append([event("r1", seq, step_scheduled={})]) for seq in range(2, 12))
    )
    await asyncio.gather(*checks)

    assert len(checks) == 11 and unreadable == []


async def test_a_failing_listener_does_not_break_the_store(store: RunStore) -> None:
    def broken(events: Sequence[run_pb2.RunEvent]) -> None:
        raise RuntimeError("listener bug")

    seen: list[int] = []
    store.add_commit_listener(broken)
    store.add_commit_listener(lambda events: seen.extend(e.seq for e in events))

    await store.create_run(created("r1"))
    await store.append([started("r1")])

    assert seen == [1, 2]
