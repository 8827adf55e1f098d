"""The outbox relay killed (SIGKILL) again and again while runs are written and published:
every finished run's event reaches the stream exactly once (0 lost, 0 duplicates)."""

from __future__ import annotations

import asyncio
import multiprocessing
import random
import sqlite3
from multiprocessing.process import BaseProcess
from pathlib import Path

import pytest

from orchestrator.bus import BusConnection
from tests.integration.bus import relay_child
from tests.redis_fixtures import redis_url

pytestmark = pytest.mark.integration

TRIALS = 20


CONTEXT = multiprocessing.get_context("forkserver")
CONTEXT.set_forkserver_preload(["tests.integration.bus.relay_child"])


KEEP: list[object] = []  # each child's Event lives until the test ends (the child opens it)


async def _child(path: Path, url: str, prefix: str, tag: str) -> BaseProcess:
    ready = CONTEXT.Event()
    KEEP.append(ready)
    child = CONTEXT.Process(target=relay_child.run, args=(str(path), url, prefix, tag, ready))
    child.start()
    if tag != "-":
        assert await asyncio.to_thread(ready.wait, 10), "the child did not start"
    return child


def _finished_runs(path: Path) -> list[str]:
    db = sqlite3.connect(path)
    try:
        rows = db.execute("SELECT name FROM runs WHERE end_time_us IS NOT NULL").fetchall()
    finally:
        db.close()
    return [str(row[0]).rpartition("/")[2] for row in rows]


async def test_kill_9_of_the_relay_loses_and_duplicates_nothing(
    bus: BusConnection, tmp_path: Path
) -> None:
    path = tmp_path / "aura.db"
    url = redis_url()
    prefix = bus.settings.prefix
    rng = random.Random(7)
    for trial in range(TRIALS):
        child = await _child(path, url, prefix, f"t{trial}")
        await asyncio.sleep(rng.uniform(0.02, 0.15))
        child.kill()  # SIGKILL
        await asyncio.to_thread(child.join, 10)
        assert child.exitcode == -9
    drain = await _child(path, url, prefix, "-")
    await asyncio.to_thread(drain.join, 20)
    assert drain.exitcode == 0

    entries = await bus.commands.xrange(bus.settings.stream("run.finished"))
    published = [fields["event_id"] for _, fields in entries]
    expected = {f"run-finished:{run}" for run in _finished_runs(path)}
    assert len(expected) > TRIALS  # events were flowing at every kill
    assert len(published) == len(set(published)), "a duplicate on the stream"
    assert set(published) == expected, "an event lost"
