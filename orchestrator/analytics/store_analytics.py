"""GetAnalytics from the run store: the stored histories of finished runs, whichever
replica or process ran them, through the `RunStore` protocol alone (`list_runs` with a
create_time and state filter, then `read_events` per run).

Bounded per request: runs are listed newest first and counted up to `max_counted_runs`;
the newest `max_analyzed_runs` of them are analysed. Histories are read a few at a time
and folded in small chunks, yielding to the event loop between chunks. A finished run
never changes, so its folded facts are kept (LRU, `max_cached_runs`) and reused.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence

from aura.orchestrator.v1 import orchestrator_pb2, run_pb2
from orchestrator.analytics.advice import LiveBreakers, add_advice
from orchestrator.analytics.facts import RunFacts, run_facts
from orchestrator.analytics.figures import add_figures
from orchestrator.analytics.recorder import AnalyticsRecorder
from orchestrator.analytics.resilience import add_resilience
from orchestrator.runs import (
    EVERY_TENANT,
    Condition,
    CreateTimeCondition,
    DefinitionCondition,
    Operator,
    RunFilter,
    StateCondition,
    TenantScope,
)
from orchestrator.store import RunRecord, RunStore
from orchestrator.workflows import CompiledWorkflow

#: Runs analysed per request at most: the newest finished ones in the window.
MAX_ANALYZED_RUNS = 5_000
#: Runs counted per request at most (GetAnalyticsResponse.runs_matched).
MAX_COUNTED_RUNS = 100_000
#: Folded runs kept for later requests.
MAX_CACHED_RUNS = 10_000
#: Histories read from the store at once; the loop is yielded after each such chunk.
READ_CHUNK = 16
LIST_PAGE_SIZE = 1_000
_UNFINISHED = (run_pb2.RUN_STATE_PENDING, run_pb2.RUN_STATE_RUNNING, run_pb2.RUN_STATE_QUEUED)

WorkflowLookup = Callable[[str], CompiledWorkflow | None]


class StoreAnalytics:
    def __init__(
        self,
        store: RunStore,
        workflow_of: WorkflowLookup,
        recorder: AnalyticsRecorder,
        *,
        max_analyzed_runs: int = MAX_ANALYZED_RUNS,
        max_counted_runs: int = MAX_COUNTED_RUNS,
        max_cached_runs: int = MAX_CACHED_RUNS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._workflow_of = workflow_of
        self._recorder = recorder
        self.max_analyzed_runs = max_analyzed_runs
        self.max_counted_runs = max(max_counted_runs, max_analyzed_runs)
        self._max_cached = max_cached_runs
        self._clock = clock
        self._cache: OrderedDict[str, RunFacts] = OrderedDict()
        # One analysis at a time: a request arriving during another reuses its folds.
        self._lock = asyncio.Lock()

    async def report(
        self,
        *,
        scope: TenantScope,
        window_s: float | None = None,
        definition: str = "",
        open_now: frozenset[str] = frozenset(),
    ) -> orchestrator_pb2.GetAnalyticsResponse:
        """Finished runs of `scope` created within `window_s` before now (all when None),
        of `definition` (full name; all when empty). `open_now`: services whose circuit is
        open on this replica now (the services are every tenant's)."""
        since = self._clock() - window_s if window_s else 0.0
        async with self._lock:
            records, matched = await self._newest(since, definition, scope)
            runs = await self._facts(records)
        workflows = {name: self._workflow_of(name) for name in {run.definition for run in runs}}
        live = LiveBreakers(self._recorder.trips_since(since), open_now)
        # Summing thousands of runs takes a while (about 0.1 s for 5,000): in a thread, so
        # the event loop gets the GIL back every switch interval meanwhile.
        response = await asyncio.to_thread(_summarize, runs, workflows, live)
        response.runs_matched = matched
        response.max_analyzed_runs = self.max_analyzed_runs
        response.max_counted_runs = self.max_counted_runs
        return response

    async def _newest(
        self, since: float, definition: str, scope: TenantScope
    ) -> tuple[list[RunRecord], int]:
        """The newest `max_analyzed_runs` matching runs, and how many match (counted up to
        `max_counted_runs`)."""
        conditions: list[Condition] = [StateCondition(Operator.NE, s) for s in _UNFINISHED]
        if since:
            conditions.append(CreateTimeCondition(Operator.GE, int(since * 1_000_000)))
        if definition:
            conditions.append(DefinitionCondition(Operator.EQ, definition))
        run_filter = RunFilter(tuple(conditions))
        newest: list[RunRecord] = []
        matched = 0
        token = ""
        while True:
            size = min(LIST_PAGE_SIZE, self.max_counted_runs - matched)
            page, token = await self._store.list_runs(run_filter, size, token, scope=scope)
            matched += len(page)
            newest.extend(page[: max(0, self.max_analyzed_runs - len(newest))])
            if not token or matched >= self.max_counted_runs:
                return newest, matched

    async def _facts(self, records: Sequence[RunRecord]) -> list[RunFacts]:
        found: dict[str, RunFacts] = {}
        missing = []
        for record in records:
            cached = self._cache.get(record.name)
            if cached is not None and cached.last_seq == record.last_seq:
                self._cache.move_to_end(record.name)
                found[record.name] = cached
            else:
                missing.append(record)
        for start in range(0, len(missing), READ_CHUNK):
            chunk = missing[start : start + READ_CHUNK]
            histories = await asyncio.gather(
                *(self._store.read_events(record.name, scope=EVERY_TENANT) for record in chunk)
            )
            for record, events in zip(chunk, histories, strict=True):
                facts = run_facts(events, self._workflow_of(record.workflow_definition))
                if facts is not None:
                    found[record.name] = facts
                    self._keep(facts)
            await asyncio.sleep(0)
        return [found[record.name] for record in records if record.name in found]

    def _keep(self, facts: RunFacts) -> None:
        self._cache[facts.name] = facts
        self._cache.move_to_end(facts.name)
        while len(self._cache) > self._max_cached:
            self._cache.popitem(last=False)


def _summarize(
    runs: Sequence[RunFacts],
    workflows: Mapping[str, CompiledWorkflow | None],
    live: LiveBreakers,
) -> orchestrator_pb2.GetAnalyticsResponse:
    response = orchestrator_pb2.GetAnalyticsResponse(runs_analyzed=len(runs))
    add_figures(response, runs)
    add_resilience(response, (record for run in runs for record in run.records), live.trips)
    add_advice(response, runs, lambda name: workflows.get(name), live)
    return response
