"""The checks the SQLite run store makes when it opens its file (a real file per test)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from orchestrator.store import SqliteRunStore, StoreOpenError, sqlite_schema
from tests.unit.store.run_events import created, finished

PAGE_SIZE = 4096


async def a_store_with_runs(path: Path) -> None:
    async with SqliteRunStore(path) as store:
        for index in range(200):
            await store.create_run(created(f"r{index}", labels={"pad": "p" * 60}))
            await store.append([finished(f"r{index}", 2)])


def overwrite_page(path: Path, page: int) -> None:
    with path.open("r+b") as file:
        file.seek(PAGE_SIZE * (page - 1))
        file.write(b"\xff" * PAGE_SIZE)


def root_page(path: Path, table: str) -> int:
    with sqlite3.connect(path) as db:
        row = db.execute("SELECT rootpage FROM sqlite_schema WHERE name = ?", (table,)).fetchone()
    return int(row[0])


async def test_a_damaged_page_is_refused_at_open(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    await a_store_with_runs(path)
    overwrite_page(path, root_page(path, "runs"))

    with pytest.raises(StoreOpenError, match="is damaged"):
        await SqliteRunStore(path).open()


async def test_past_the_full_check_size_the_small_tables_are_still_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "runs.db"
    await a_store_with_runs(path)
    monkeypatch.setattr(sqlite_schema, "FULL_CHECK_MAX_BYTES", 0)

    async with SqliteRunStore(path):
        pass  # sound: opens
    overwrite_page(path, root_page(path, "runs"))
    with pytest.raises(StoreOpenError, match="is damaged"):
        await SqliteRunStore(path).open()
