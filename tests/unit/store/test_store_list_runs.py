"""Listing runs: newest first, AIP-160 filters in SQL, stable keyset paging."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from aura.orchestrator.v1 import run_pb2
from orchestrator.errors import InvalidArgument
from orchestrator.runs import EVERY_TENANT, RunFilter, parse_run_filter
from orchestrator.store import RunRecord, SqliteRunStore

T0 = 1_767_225_600  # 2026-01-01T00:00:00Z
HOUR = 3600


def created(
    run_id: str, at: float, *, definition: str = "demo", labels: dict[str, str] | None = None
) -> run_pb2.RunEvent:
    event = run_pb2.RunEvent(
        run=f"workflowRuns/{run_id}",
        seq=1,
        run_created={
            "workflow_definition": f"workflowDefinitions/{definition}",
            "labels": labels or {},
        },
    )
    event.time.FromMicroseconds(round(at * 1_000_000))
    return event


def finished(run_id: str, state: int) -> list[run_pb2.RunEvent]:
    run = f"workflowRuns/{run_id}"
    return [
        run_pb2.RunEvent(run=run, seq=2, run_started={}),
        run_pb2.RunEvent(run=run, seq=3, run_finished={"state": state}),
    ]


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


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteRunStore]:
    async with SqliteRunStore(tmp_path / "runs.db") as opened:
        for run_id, hours, definition, labels, state in FLEET:
            await opened.create_run(
                created(run_id, T0 + hours * HOUR, definition=definition, labels=labels)
            )
            if state is not None:
                await opened.append(finished(run_id, state))
            else:
                await opened.append(finished(run_id, 0)[:1])
        yield opened


async def list_all(
    store: SqliteRunStore, run_filter: RunFilter, page_size: int = 1000
) -> list[RunRecord]:
    """Follows next_page_token to the end."""
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


async def test_no_filter_lists_every_run_newest_first(store: SqliteRunStore) -> None:
    page, token = await store.list_runs(RunFilter(), 100, "", scope=EVERY_TENANT)

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
        ('workflow_definition = "workflowDefinitions/complete_style_analysis"', "geba"),
        ("workflow_definition != quick_look", "geba"),
        ("workflow_definition = never_registered", ""),
        ('labels.team = "ml"', "hgfca"),
        ("labels.team != ml", "edb"),  # includes runs without the label
        ("labels.env = prod", "ec"),
        ("labels.nobody = x", ""),
        ('create_time > "2026-01-01T05:00:00Z"', "hg"),
        ('create_time >= "2026-01-01T05:00:00Z"', "hgf"),
        ('create_time < "2026-01-01T01:00:00Z"', "a"),
        ('create_time <= "2026-01-01T01:00:00Z"', "ba"),
        ('create_time >= "2026-01-01T03:00:00+01:00"', "hgfedc"),
        (
            'state = SUCCEEDED AND labels.team = "ml" AND create_time > "2026-01-01T00:00:00Z"',
            "hc",
        ),
        ("workflow_definition = quick_look AND labels.team != ml", "d"),
    ],
)
async def test_each_filter_kind_selects_in_sql(
    store: SqliteRunStore, text: str, expected: str
) -> None:
    run_filter = parse_run_filter(text)

    selected = await list_all(store, run_filter)

    assert ids(selected) == list(expected)
    everything = await list_all(store, RunFilter())
    assert ids(selected) == ids([r for r in everything if run_filter.matches(r)])


async def test_paging_with_a_filter_visits_every_match_once(store: SqliteRunStore) -> None:
    run_filter = parse_run_filter("labels.team = ml")

    first, token = await store.list_runs(run_filter, 2, "", scope=EVERY_TENANT)
    assert ids(first) == ["h", "g"]
    assert token

    assert ids(await list_all(store, run_filter, page_size=2)) == ["h", "g", "f", "c", "a"]
    assert ids(await list_all(store, run_filter, page_size=1)) == ["h", "g", "f", "c", "a"]
    assert ids(await list_all(store, run_filter, page_size=5)) == ["h", "g", "f", "c", "a"]


async def test_the_last_full_page_has_no_next_token(store: SqliteRunStore) -> None:
    page, token = await store.list_runs(RunFilter(), 8, "", scope=EVERY_TENANT)

    assert len(page) == 8
    assert token == ""


async def test_page_size_zero_means_the_default(tmp_path: Path) -> None:
    async with SqliteRunStore(tmp_path / "runs.db") as store:
        await asyncio.gather(*(store.create_run(created(f"r{i:03}", T0 + i)) for i in range(60)))

        page, token = await store.list_runs(RunFilter(), 0, "", scope=EVERY_TENANT)

        assert len(page) == 50
        assert token


async def test_ties_on_create_time_are_broken_by_name(tmp_path: Path) -> None:
    async with SqliteRunStore(tmp_path / "runs.db") as store:
        for run_id in ["m", "z", "a", "q"]:
            await store.create_run(created(run_id, T0))

        assert ids(await list_all(store, RunFilter(), page_size=1)) == ["z", "q", "m", "a"]


async def test_paging_is_stable_while_runs_are_inserted(store: SqliteRunStore) -> None:
    run_filter = parse_run_filter("labels.team = ml")
    seen: list[RunRecord] = []
    page, token = await store.list_runs(run_filter, 2, "", scope=EVERY_TENANT)
    seen += page
    inserted = 0
    while token:
        # Meanwhile: new runs arrive, newer than everything and at the cursor's exact time.
        inserted += 1
        await store.create_run(created(f"new{inserted}", T0 + 100 * HOUR, labels={"team": "ml"}))
        cursor_time = seen[-1].create_time
        await store.create_run(created(f"tie{inserted}", cursor_time, labels={"team": "ml"}))
        page, token = await store.list_runs(run_filter, 2, token, scope=EVERY_TENANT)
        seen += page

    originals = [name for name in ids(seen) if not name.startswith(("new", "tie"))]
    assert originals == ["h", "g", "f", "c", "a"]
    assert len(ids(seen)) == len(set(ids(seen)))


async def test_a_token_from_another_filter_is_rejected(store: SqliteRunStore) -> None:
    _, token = await store.list_runs(
        parse_run_filter("labels.team = ml"), 2, "", scope=EVERY_TENANT
    )

    with pytest.raises(InvalidArgument) as raised:
        await store.list_runs(parse_run_filter("labels.team = ops"), 2, token, scope=EVERY_TENANT)

    assert [v.field for v in raised.value.violations] == ["page_token"]


@pytest.mark.parametrize("token", ["garbage", "eyJ2IjoxfQ", "%%%"])
async def test_a_malformed_token_is_rejected(store: SqliteRunStore, token: str) -> None:
    with pytest.raises(InvalidArgument) as raised:
        await store.list_runs(RunFilter(), 2, token, scope=EVERY_TENANT)

    assert [v.field for v in raised.value.violations] == ["page_token"]
