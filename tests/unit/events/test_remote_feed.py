"""The remote feed: events another replica committed reach watchers here, from hints or,
when hints are lost, from a bounded poll; only runs watched here are read."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from aura.orchestrator.v1 import run_pb2
from orchestrator.events import EventHub, RemoteEventFeed
from orchestrator.runs import EVERY_TENANT, TenantScope
from orchestrator.store import SqliteRunStore
from tests.unit.events.watch_helpers import collect, commit, script

POLL_S = 0.05


class CountingStore(SqliteRunStore):
    """This replica's view of the shared store, counting the feed's reads."""

    reads: list[str]

    async def read_events(
        self, run: str, after_seq: int = 0, *, scope: TenantScope
    ) -> list[run_pb2.RunEvent]:
        self.reads.append(run)
        return await super().read_events(run, after_seq, scope=scope)


@pytest.fixture
async def stores(tmp_path: Path) -> AsyncIterator[tuple[SqliteRunStore, CountingStore]]:
    """(the other replica's store, ours): two writers' views of one database file."""
    path = tmp_path / "shared.db"
    async with SqliteRunStore(path) as theirs, CountingStore(path) as ours:
        ours.reads = []
        yield theirs, ours


async def test_hints_bring_another_replicas_commits_to_watchers_here(
    stores: tuple[SqliteRunStore, CountingStore],
) -> None:
    theirs, ours = stores
    hub = EventHub()
    feed = RemoteEventFeed(ours, hub, executes_here=lambda run: False, poll_s=10.0)
    theirs.add_commit_listener(lambda events: feed.on_remote_commit(events[-1].run, events[-1].seq))
    events = script("remote")
    await commit(theirs, events[:3])
    feed.start()
    try:
        watch = asyncio.create_task(collect(ours, hub, events[0].run))
        await asyncio.sleep(0.05)
        for event in events[3:]:
            await commit(theirs, [event])
        watched = await asyncio.wait_for(watch, timeout=5)
    finally:
        await feed.stop()
    assert [e.seq for e in watched] == list(range(1, 13))


async def last_seqs_of(store: SqliteRunStore, runs: Sequence[str]) -> dict[str, int]:
    """What a replicated store answers in one query, here from the records."""
    records = [await store.get_run_record(run, scope=EVERY_TENANT) for run in runs]
    return {record.name: record.last_seq for record in records if record is not None}


@pytest.mark.parametrize("one_query", [False, True], ids=["reads", "last-seqs"])
async def test_a_watch_never_stalls_when_hints_are_lost(
    stores: tuple[SqliteRunStore, CountingStore], one_query: bool
) -> None:
    theirs, ours = stores
    hub = EventHub()
    feed = RemoteEventFeed(
        ours,
        hub,
        executes_here=lambda run: False,
        last_seqs=(lambda runs: last_seqs_of(ours, runs)) if one_query else None,
        poll_s=POLL_S,
    )
    events = script("no-hints")
    await commit(theirs, events[:2])
    feed.start()
    try:
        watch = asyncio.create_task(collect(ours, hub, events[0].run))
        await asyncio.sleep(0.05)
        await commit(theirs, events[2:])  # nobody tells the feed
        watched = await asyncio.wait_for(watch, timeout=5)
    finally:
        await feed.stop()
    assert [e.seq for e in watched] == list(range(1, 13))


async def test_only_runs_watched_here_and_not_executing_here_are_read(
    stores: tuple[SqliteRunStore, CountingStore],
) -> None:
    theirs, ours = stores
    hub = EventHub()
    local = script("local")[0].run
    feed = RemoteEventFeed(ours, hub, executes_here=lambda run: run == local, poll_s=POLL_S)
    for run_id in ("unwatched", "local"):
        await commit(theirs, script(run_id)[:2])
    feed.start()
    try:
        with hub.subscribe(local):
            feed.on_remote_commit(script("unwatched")[0].run, 2)
            await asyncio.sleep(5 * POLL_S)
    finally:
        await feed.stop()
    assert ours.reads == []
    assert RemoteEventFeed(ours, hub, executes_here=bool, poll_s=5.0).poll_s == 1.0


async def test_with_last_seqs_the_poll_reads_only_runs_that_moved(
    stores: tuple[SqliteRunStore, CountingStore],
) -> None:
    theirs, ours = stores
    hub = EventHub()
    feed = RemoteEventFeed(
        ours,
        hub,
        executes_here=lambda run: False,
        last_seqs=lambda runs: last_seqs_of(ours, runs),
        poll_s=POLL_S,
    )
    events = script("still")
    await commit(theirs, events[:2])
    feed.start()
    try:
        with hub.subscribe(events[0].run):
            await asyncio.sleep(10 * POLL_S)
    finally:
        await feed.stop()
    assert ours.reads == [events[0].run]  # the first look; nothing moved after it
