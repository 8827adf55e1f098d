"""A consumer process for the takeover tests: joins the group, takes entries, prints
their event ids and then hangs in its handler until it is killed (SIGKILL).

    python -m tests.integration.bus.consumer_child URL PREFIX TOPIC GROUP CONSUMER
"""

from __future__ import annotations

import asyncio
import dataclasses
import sys

from orchestrator.bus import BusConnection, BusEvent, GroupConsumer
from tests.redis_fixtures import TEST_SETTINGS


async def main(url: str, prefix: str, topic: str, group: str, name: str) -> None:
    settings = dataclasses.replace(TEST_SETTINGS, prefix=prefix, batch_size=10)
    connection = BusConnection.from_url(url, settings)

    async def hang(event: BusEvent, deliveries: int) -> None:
        print(event.event_id, flush=True)
        await asyncio.Event().wait()

    consumer = GroupConsumer(
        connection, group=group, consumer=name, topics=lambda: [topic], handler=hang
    )
    await consumer.start()
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:6]))
