"""Contract, both stores: listing runs newest first with AIP-160 filters in the query and
keyset page tokens; the unfinished runs to resume."""

from __future__ import annotations

import asyncio

import pytest

from aura.orchestrator.v1 import run_pb2
from orchestrator.errors import InvalidArgument
from orchestrator.runs import EVERY_TENANT, RunFilter, parse_run_filter
from orchestrator.store import RunRecord, RunStore
from tests.unit.store.run_events import T0, created, finished, started

pytestmark = pytest.mark.integration
HOUR = 3600

# (id, hours after T0, definition, labels, final state or None while running)
FLEET: list[tuple[str, float, str, dict[str, str], int | None]] = [
    ("a", 0, "complete_style_analysis", {"team": "ml"}, run_pb2.RUN_STATE_SUCCEEDED),
    ("b", 1, "complete_style_analysis", {"team": "ops"}, run_pb2.RUN_STATE_FAILED),
    ("c", 2, "quick_look", {"team": "ml", "env": "prod"}, run_pb2.RUN_STATE_SUCCEEDED),
    ("d", 3, "quick_look", {}, None),
    ("e", 4, "complete_style_analysis", {"env": "prod"}, run_pb2.RUN_STATE_CANCELLED),
    ("f", 5, "quick_look", {"team": "ml"}, run_pb2.RUN_STATE_PARTIALLY_SUCCEEDED),
    ("g", 6, "complete_style_analysis", {"team": "ml"}, None),
    ("h", 7, "quick_look", {"team": "ml"}, run_pb2.RUN_STATE_SUCCEEDED),
]


def of_definition(
    run_id: str, at: float, definition: str, labels: dict[str, str]
) -> run_pb2.RunEvent:
    event = created(run_id, at=at, labels=labels)
    event.run_created.workflow_definition = f"workflowDefinitions/{definition}"
    return event


@pytest.fixture
async def fleet(store: RunStore) -> RunStore:
    for run_id, hours, definition, labels, state in FLEET:
        await store.create_run(of_definition(run_id, T0 + hours * HOUR, definition, labels))
        await store.append([started(run_id)])
        if state is not None:
            await store.append([finished(run_id, 3, state)])
    return store


async def list_all(
    store: RunStore, run_filter: RunFilter, page_size: int = 1000
) -> list[RunRecord]:
    records: list[RunRecord] = []
    token = ""
    while True:
        page, token = await store.list_runs(run_filter, page_size, token, scope=EVERY_TENANT)
        assert len(page) <= page_size
        records += page
        if not token:
            return records


def ids(records: list[RunRecord]) -> list[str]:
    return [record.name.removeprefix("workflowRuns/") for record in records]


async def test_no_filter_lists_every_run_newest_first(fleet: RunStore) -> None:
    page, token = await fleet.list_runs(RunFilter(), 100, "", scope=EVERY_TENANT)

    assert ids(page) == ["h", "g", "f", "e", "d", "c", "b", "a"]
    assert token == ""
    assert page[0].create_time == T0 + 7 * HOUR
    assert page[0].labels == {"team": "ml"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("state = SUCCEEDED", "hca"),
        ("state = RUN_STATE_RUNNING", "gd"),
        ("state != SUCCEEDED", "gfedb"),
        ("workflow_definition = quick_look", "hfdc"),
        ("workflow_definition != quick_look", "geba"),
        ('labels.team = "ml"', "hgfca"),
        ("labels.team != ml", "edb"),  # includes runs without the label
        ("labels.nobody = x", ""),
        ('create_time > "2026-01-01T05:00:00Z"', "hg"),
        ('create_time <= "2026-01-01T01:00:00Z"', "ba"),
        ('state = SUCCEEDED AND labels.team = "ml" AND create_time > "2026-01-01T00:00:00Z"', "hc"),
        ("workflow_definition = quick_look AND labels.team != ml", "d"),
    ],
)
async def test_each_filter_kind_selects_in_the_query(
    fleet: RunStore, text: str, expected: str
) -> None:
    run_filter = parse_run_filter(text)

    selected = await list_all(fleet, run_filter)

    assert ids(selected) == list(expected)
    everything = await list_all(fleet, RunFilter())
    assert ids(selected) == ids([r for r in everything if run_filter.matches(r)])


async def test_paging_with_a_filter_visits_every_match_once(fleet: RunStore) -> None:
    run_filter = parse_run_filter("labels.team = ml")

    first, token = await fleet.list_runs(run_filter, 2, "", scope=EVERY_TENANT)
    assert ids(first) == ["h", "g"] and token
    for size in (1, 2, 5):
        assert ids(await list_all(fleet, run_filter, page_size=size)) == ["h", "g", "f", "c", "a"]
    page, token = await fleet.list_runs(RunFilter(), 8, "", scope=EVERY_TENANT)
    assert len(page) == 8 and token == ""  # the last full page has no next token


async def test_page_size_zero_means_the_default_and_ties_go_by_name(store: RunStore) -> None:
    await asyncio.gather(*(store.create_run(created(f"r{i:03}", at=T0 + i)) for i in range(60)))
    for run_id in ["m", "z", "a", "q"]:
        await store.create_run(created(run_id, at=T0 - 1))

    page, token = await store.list_runs(RunFilter(), 0, "", scope=EVERY_TENANT)
    assert len(page) == 50 and token
    oldest = (await list_all(store, RunFilter(), page_size=1))[-4:]
    assert ids(oldest) == ["z", "q", "m", "a"]


async def test_paging_is_stable_while_runs_are_inserted(fleet: RunStore) -> None:
    run_filter = parse_run_filter("labels.team = ml")
    seen: list[RunRecord] = []
    page, token = await fleet.list_runs(run_filter, 2, "", scope=EVERY_TENANT)
    seen += page
    inserted = 0
    while token:
        inserted += 1
        await fleet.create_run(created(f"new{inserted}", at=T0 + 100 * HOUR, labels={"team": "ml"}))
        await fleet.create_run(
            created(f"tie{inserted}", at=seen[-1].create_time, labels={"team": "ml"})
        )
        page, token = await fleet.list_runs(run_filter, 2, token, scope=EVERY_TENANT)
        seen += page

    originals = [name for name in ids(seen) if not name.startswith(("new", "tie"))]
    assert originals == ["h", "g", "f", "c", "a"]
    assert len(ids(seen)) == len(set(ids(seen)))


@pytest.mark.parametrize("token", ["garbage", "eyJ2IjoxfQ", "other-filter"])
async def test_a_bad_token_is_rejected(fleet: RunStore, token: str) -> None:
    if token == "other-filter":
        _, token = await fleet.list_runs(
            parse_run_filter("labels.team = ml"), 2, "", scope=EVERY_TENANT
        )
    with pytest.raises(InvalidArgument) as raised:
        await fleet.list_runs(parse_run_filter("labels.team = ops"), 2, token, scope=EVERY_TENANT)

    assert [v.field for v in raised.value.violations] == ["page_token"]


async def test_unfinished_runs_lists_pending_and_running_oldest_first(store: RunStore) -> None:
    for index, run_id in enumerate(["pending", "running", "done", "failed"]):
        await store.create_run(created(run_id, at=T0 + index))
    await store.append([started("running"), started("done"), started("failed")])
    await store.append([finished("done", 3), finished("failed", 3, run_pb2.RUN_STATE_FAILED)])

    assert await store.unfinished_runs() == ["workflowRuns/pending", "workflowRuns/running"]
