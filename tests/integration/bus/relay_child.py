"""A producer and relay process for the kill -9 trials (started from a forkserver that
has the product imported, so a trial costs milliseconds, not an interpreter start):
opens the SQLite store (outbox on) and its relay, sets `ready`, then creates and
finishes runs `<tag>-<n>` one after another until it is killed. With tag "-" it only
publishes what is pending, and exits."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
from typing import Protocol

from orchestrator.bus import EventBus
from orchestrator.store import SqliteRunStore
from tests.redis_fixtures import TEST_SETTINGS
from tests.unit.store.run_events import created, finished


class Flag(Protocol):
    def set(self) -> None: ...


async def main(path: str, url: str, prefix: str, tag: str, ready: Flag) -> None:
    bus = EventBus.from_url(url, dataclasses.replace(TEST_SETTINGS, prefix=prefix))
    async with SqliteRunStore(path, outbox=True, linger_s=0.0) as store:
        relay = bus.relay(store)
        if tag == "-":
            await relay.drain()
            await bus.close()
            return
        store.add_commit_listener(lambda _: relay.notify())
        await relay.start()
        ready.set()
        for n in itertools.count():
            await store.create_run(created(f"{tag}-{n}"))
            await store.append([finished(f"{tag}-{n}", 2)])


def run(path: str, url: str, prefix: str, tag: str, ready: Flag) -> None:
    asyncio.run(main(path, url, prefix, tag, ready))
