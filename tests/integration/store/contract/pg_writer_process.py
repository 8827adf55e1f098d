"""A child process writing runs through the PostgreSQL store, for the kill -9 test.

Prints one line per write the store acknowledged (`c <run>` for a creation, `e <run>
<seq>` for an event), flushed at once, so the parent knows what it was told is durable.
Run: `python -m tests.integration.store.contract.pg_writer_process <url>`.
"""

from __future__ import annotations

import asyncio
import itertools
import sys

from orchestrator.store import PostgresRunStore
from tests.unit.store.run_events import created, scheduled

RUNS_AT_ONCE = 20
EVENTS_PER_RUN = 6


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


async def write_run(store: PostgresRunStore, number: int) -> None:
    run_id = f"k{number}"
    await store.create_run(created(run_id))
    say(f"c workflowRuns/{run_id}")
    for seq in range(2, 2 + EVENTS_PER_RUN):
        await store.append([scheduled(run_id, seq)])
        say(f"e workflowRuns/{run_id} {seq}")


async def main(url: str) -> None:
    async with PostgresRunStore(url, replica_id="child") as store:
        say("ready")
        numbers = itertools.count()
        while True:  # until killed
            await asyncio.gather(*(write_run(store, next(numbers)) for _ in range(RUNS_AT_ONCE)))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
