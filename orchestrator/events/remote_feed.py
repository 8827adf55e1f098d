"""Brings events committed by other replicas to this replica's hub, for watched runs.

When several replicas share a store, a run executing on replica A may be watched on B.
B's hub only sees B's commits; this feed publishes A's too, for runs that have
subscribers on B and only for them:

- a hint from the store (another replica committed `run` up to `last_seq`, from
  LISTEN/NOTIFY) makes it read the run's events after the last seq it published and
  publish them;
- a bounded poll (every `poll_s`, at most 1 s) looks at each watched run that does not
  execute here and has had no news for `poll_s`, so a lost hint (a dropped listening
  connection) never leaves a Watch stuck. With `last_seqs` (the store's one-query look
  at many runs' last seq) the poll costs one query, and reads only the runs that moved;
  without it, it reads each of them.

Watchers tolerate what this can do (see `watch_run`): an event published twice (the
first read of a run starts at its beginning) is skipped; a hole makes them read the
store. So every Watch stays gap-free and exactly-once on any replica.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence

from aura.orchestrator.v1 import run_pb2
from orchestrator.events.hub import EventHub
from orchestrator.runs import EVERY_TENANT
from orchestrator.store import RunStore

__all__ = ["DEFAULT_POLL_S", "RemoteEventFeed"]

log = logging.getLogger(__name__)

DEFAULT_POLL_S = 0.5
MAX_POLL_S = 1.0
READS_AT_ONCE = 16


class RemoteEventFeed:
    """`start()`, then `stop()`. Give it the store's remote-commit hints
    (`on_remote_commit`) and its local commits (`on_local_commit`)."""

    def __init__(
        self,
        store: RunStore,
        hub: EventHub,
        *,
        executes_here: Callable[[str], bool],
        last_seqs: Callable[[Sequence[str]], Awaitable[dict[str, int]]] | None = None,
        poll_s: float = DEFAULT_POLL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._hub = hub
        self._executes_here = executes_here
        self._last_seqs = last_seqs
        self.poll_s = min(poll_s, MAX_POLL_S)
        self._clock = clock
        self._published: dict[str, int] = {}  # watched run -> highest seq the hub has seen
        self._news_at: dict[str, float] = {}  # watched run -> when we last read or heard of it
        self._due: dict[str, None] = {}  # runs to read, in order of arrival
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="remote-event-feed")

    async def stop(self) -> None:
        """Idempotent."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def on_remote_commit(self, run: str, last_seq: int) -> None:
        """Another replica committed events of `run` up to `last_seq` (a hint)."""
        if not self._hub.subscriber_count(run):
            return
        self._news_at[run] = self._clock()
        if last_seq > self._published.get(run, 0):
            self._due[run] = None
            self._wake.set()

    def on_local_commit(self, events: Sequence[run_pb2.RunEvent]) -> None:
        """What this replica committed reaches the hub by itself: only noted here."""
        published = self._published
        for event in events:
            seen = published.get(event.run)
            if seen is not None and event.seq > seen:
                published[event.run] = event.seq

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.poll_s):  # wait_for may swallow a cancel (3.11)
                    await self._wake.wait()
            self._wake.clear()
            await self._poll_quiet_runs()
            due, self._due = list(self._due), {}
            for start in range(0, len(due), READS_AT_ONCE):
                batch = due[start : start + READS_AT_ONCE]
                await asyncio.gather(*(self._catch_up(run) for run in batch))

    async def _poll_quiet_runs(self) -> None:
        now = self._clock()
        watched = set(self._hub.subscribed_runs())
        for run in [run for run in self._news_at if run not in watched]:
            self._published.pop(run, None)
            del self._news_at[run]
        quiet = [
            run
            for run in watched
            if not self._executes_here(run)
            and now - self._news_at.get(run, float("-inf")) >= self.poll_s
        ]
        if not quiet:
            return
        if self._last_seqs is None:
            self._due.update(dict.fromkeys(quiet))
            return
        try:
            last = await self._last_seqs(quiet)
        except Exception:
            log.warning("cannot poll watched runs; retrying", exc_info=True)
            return
        for run in quiet:
            seen = self._published.get(run)
            if seen is None or last.get(run, 0) > seen:
                self._due[run] = None  # moved, or not read yet
            else:
                self._news_at[run] = now

    async def _catch_up(self, run: str) -> None:
        after = self._published.get(run, 0)
        self._news_at[run] = self._clock()
        try:
            events = await self._store.read_events(run, after_seq=after, scope=EVERY_TENANT)
        except Exception:
            log.warning("cannot read events of %s for its watchers; retrying", run, exc_info=True)
            return
        seen = self._published.get(run, after)
        fresh = [event for event in events if event.seq > seen]
        if fresh:
            self._hub.publish(fresh)
            seen = fresh[-1].seq
        if self._hub.subscriber_count(run):
            self._published[run] = seen
