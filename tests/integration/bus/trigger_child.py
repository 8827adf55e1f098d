"""A trigger consumer process for the kill tests. Its start_run records each start in
Redis like an idempotent run store (trigger_helpers.recording_start_run).

    python -m tests.integration.bus.trigger_child URL PREFIX CONSUMER
"""

from __future__ import annotations

import asyncio
import dataclasses
import sys

from orchestrator.bus import BusConnection, TriggerConsumer
from tests.integration.bus.trigger_helpers import recording_start_run, seed_workflows
from tests.redis_fixtures import TEST_SETTINGS


async def main(url: str, prefix: str, name: str) -> None:
    connection = BusConnection.from_url(url, dataclasses.replace(TEST_SETTINGS, prefix=prefix))
    workflows = seed_workflows()
    consumer = TriggerConsumer(
        connection,
        consumer=name,
        definitions=lambda: workflows,
        start_run=recording_start_run(connection),
    )
    await consumer.start()
    print("ready", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
