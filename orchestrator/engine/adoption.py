"""Runs that execute elsewhere: reading the histories of runs taken over, and following a
run that another replica executes until it ends.

Several replicas share a store (PostgreSQL): a run this replica does not execute may be
executing on another one, or queued. Waiting for it (ExecuteWorkflowRun after a
takeover, Cancel of a run executing elsewhere) follows it through the store: a watch on
the hub when one is attached (the remote feed brings other replicas' commits to it),
else a bounded poll of the run's record.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from aura.orchestrator.v1 import run_pb2
from orchestrator.errors import run_not_found
from orchestrator.events import EventHub, watch_run
from orchestrator.runs import EVERY_TENANT, is_final_state
from orchestrator.store import ReplicatedRunStore, RunStore

__all__ = ["HISTORY_READS_AT_ONCE", "RunFollower", "read_histories", "replicated"]

# Histories of claimed runs read concurrently (each read is one query on its own
# connection of the store's pool).
HISTORY_READS_AT_ONCE = 16
# Without a hub: how often the record of a followed run is read.
FOLLOW_POLL_S = 0.25


def replicated(store: RunStore) -> ReplicatedRunStore | None:
    """The store as a `ReplicatedRunStore` when several replicas share it, else None."""
    if callable(getattr(store, "claim_orphans", None)) and callable(
        getattr(store, "request_cancel", None)
    ):
        return store  # type: ignore[return-value]
    return None


async def read_histories(
    store: RunStore, names: Sequence[str]
) -> list[list[run_pb2.RunEvent] | BaseException]:
    """Each run's events (or why they could not be read), in the order of `names`."""
    gate = asyncio.Semaphore(HISTORY_READS_AT_ONCE)

    async def read(name: str) -> list[run_pb2.RunEvent]:
        async with gate:
            return await store.read_events(name, scope=EVERY_TENANT)

    return await asyncio.gather(*(read(name) for name in names), return_exceptions=True)


class RunFollower:
    """Waits until a run, executing anywhere, has committed its `run_finished`."""

    def __init__(self, store: RunStore, hub: EventHub | None = None) -> None:
        self.store = store
        self.hub = hub

    async def wait_finished(self, name: str) -> None:
        """Returns once the run is final; `NotFound` if there is no such run."""
        record = await self.store.get_run_record(name, scope=EVERY_TENANT)
        if record is None:
            raise run_not_found(name)
        if is_final_state(record.state):
            return
        if self.hub is not None:
            # From its last event on: the watch ends when the final one commits.
            watching = watch_run(self.store, self.hub, name, record.last_seq, scope=EVERY_TENANT)
            async for event in watching:
                if event.HasField("run_finished"):
                    return
            return
        while True:
            await asyncio.sleep(FOLLOW_POLL_S)
            record = await self.store.get_run_record(name, scope=EVERY_TENANT)
            if record is None:
                raise run_not_found(name)
            if is_final_state(record.state):
                return
