"""StoreAnalytics over a store it only lists and reads: the window and definition
filters reach the store, the cap keeps the newest runs, the count says how many
matched, and a finished run's history is read once."""

from __future__ import annotations

from typing import Any, cast

from aura.orchestrator.v1 import run_pb2
from orchestrator.analytics import AnalyticsRecorder, StoreAnalytics
from orchestrator.runs import EVERY_TENANT, RunFilter, TenantScope
from orchestrator.store import RunRecord, RunStore
from tests.unit.analytics.histories import STYLE, style_run, style_workflow

NOW = 10_000.0


class ListingStore:
    """list_runs and read_events over histories in memory, as a RunStore answers them."""

    def __init__(self, histories: list[list[run_pb2.RunEvent]]) -> None:
        self.histories = {events[0].run: events for events in histories}
        self.reads: list[str] = []
        self.filters: list[RunFilter] = []

    def _record(self, events: list[run_pb2.RunEvent]) -> RunRecord:
        finished = events[-1].WhichOneof("event") == "run_finished"
        return RunRecord(
            name=events[0].run,
            workflow_definition=events[0].run_created.workflow_definition,
            state=events[-1].run_finished.state if finished else run_pb2.RUN_STATE_RUNNING,
            create_time=events[0].time.ToNanoseconds() / 1e9,
            end_time=None,
            labels={},
            request_id="",
            last_seq=events[-1].seq,
        )

    async def list_runs(
        self, run_filter: RunFilter, page_size: int, page_token: str, *, scope: TenantScope
    ) -> tuple[list[RunRecord], str]:
        self.filters.append(run_filter)
        records = sorted(
            (self._record(e) for e in self.histories.values()),
            key=lambda r: (r.create_time, r.name),
            reverse=True,
        )
        matching = [r for r in records if run_filter.matches(r)]
        start = int(page_token or 0)
        page = matching[start : start + page_size]
        more = start + page_size < len(matching)
        return page, str(start + page_size) if more else ""

    async def read_events(
        self, run: str, after_seq: int = 0, *, scope: TenantScope
    ) -> list[run_pb2.RunEvent]:
        self.reads.append(run)
        return self.histories[run]


def analytics(store: ListingStore, **caps: Any) -> StoreAnalytics:
    return StoreAnalytics(
        cast(RunStore, store),
        lambda name: style_workflow() if name == STYLE else None,
        AnalyticsRecorder(),
        clock=lambda: NOW,
        **caps,
    )


def runs(count: int, *, start: float = NOW - 100) -> list[list[run_pb2.RunEvent]]:
    return [style_run(f"workflowRuns/r{n:03}", start=start + n) for n in range(count)]


async def test_the_newest_runs_up_to_the_cap_are_analysed_and_all_matches_counted() -> None:
    store = ListingStore(runs(30))
    response = await analytics(store, max_analyzed_runs=7, max_counted_runs=25).report(
        scope=EVERY_TENANT
    )
    assert (response.runs_matched, response.runs_analyzed) == (25, 7)
    assert (response.max_analyzed_runs, response.max_counted_runs) == (7, 25)
    assert sorted(store.reads) == [f"workflowRuns/r{n:03}" for n in range(23, 30)]
    assert response.definitions[0].run_count == 7 and response.advice[0].run_count == 7


async def test_the_window_and_the_definition_go_into_the_store_filter() -> None:
    old = runs(3, start=NOW - 3600)
    store = ListingStore([*old, *runs(4)])
    response = await analytics(store).report(window_s=600, definition=STYLE, scope=EVERY_TENANT)
    assert (response.runs_matched, response.runs_analyzed) == (4, 4)
    text = str(store.filters[0])
    assert "create_time >=" in text and f'workflow_definition = "{STYLE}"' in text
    assert "state != RUN_STATE_RUNNING" in text


async def test_unfinished_runs_are_not_counted() -> None:
    running = style_run("workflowRuns/live")[:-1]
    store = ListingStore([*runs(2), running])
    response = await analytics(store).report(scope=EVERY_TENANT)
    assert (response.runs_matched, response.runs_analyzed) == (2, 2)


async def test_a_finished_run_is_read_once_for_every_later_request() -> None:
    store = ListingStore(runs(5))
    service = analytics(store)
    first = await service.report(scope=EVERY_TENANT)
    second = await service.report(scope=EVERY_TENANT)
    assert len(store.reads) == 5
    assert first == second


async def test_the_fold_cache_is_bounded() -> None:
    store = ListingStore(runs(6))
    service = analytics(store, max_cached_runs=2)
    await service.report(scope=EVERY_TENANT)
    await service.report(scope=EVERY_TENANT)
    assert len(store.reads) == 6 + 4  # the two folds kept served the second request
