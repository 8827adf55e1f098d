"""The event bus benchmark: events/s through the outbox relay, and trigger -> run start
latency, against the real Redis (AURA_BENCH_REDIS_URL, default redis://127.0.0.1:6379/0).

    python -m benchmarks.bus [--events 20000] [--latency-events 300] [--smoke] [--json]

- relay: N outbox entries (run.finished payloads, ~300 bytes) committed while the relay
  runs; events/s from the first commit to the last confirm (each published with the
  dedupe + XADD + trim script, in pipelined batches of 512).
- trigger -> start: events published one at a time, 5 ms apart (no queueing), consumed
  by a TriggerConsumer whose start_run makes one Redis round trip (HSETNX, like an
  idempotent store write); from the publish call to start_run being called.
- outbox -> start: the same, from the outbox commit (relay woken by notify) to start_run.
Every key is under a fresh prefix, deleted after.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import secrets
import statistics
import time
from typing import Any

from orchestrator.bus import (
    BusConnection,
    BusEvent,
    BusSettings,
    EventPublisher,
    InMemoryOutbox,
    OutboxRelay,
    TriggerConsumer,
    TriggeredRun,
)
from orchestrator.workflows import MethodRegistry, compile_workflow, seed_definitions

ANALYSIS = "workflowDefinitions/complete_style_analysis"


def redis_url() -> str:
    return os.environ.get("AURA_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")


def _payload(n: int) -> dict[str, Any]:
    return {
        "run": f"workflowRuns/r{n}",
        "workflow_definition": ANALYSIS,
        "state": "SUCCEEDED",
        "input": {"user_id": f"u{n}", "text": "an outfit for a summer wedding", "image_uri": "x"},
        "labels": {},
        "error_code": "",
        "error_message": "",
    }


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def relay_throughput(connection: BusConnection, events: int) -> dict[str, float]:
    outbox = InMemoryOutbox()
    relay = OutboxRelay(outbox, connection)
    await relay.start()
    started = time.perf_counter()
    for n in range(events):
        outbox.add("run.finished", ANALYSIS, f"run-finished:r{n}", _payload(n))
        if n % 500 == 0:
            relay.notify()
            await asyncio.sleep(0)
    relay.notify()
    while outbox.unconfirmed:  # noqa: ASYNC110 - the relay has no "drained" signal
        await asyncio.sleep(0.001)
    elapsed = time.perf_counter() - started
    await relay.stop()
    return {"events": events, "seconds": round(elapsed, 3), "events_per_s": round(events / elapsed)}


async def trigger_latency(
    connection: BusConnection, events: int, via_outbox: bool
) -> dict[str, float]:
    registry = MethodRegistry.default()
    workflows = [compile_workflow(d, registry) for d in seed_definitions()]
    sent: dict[str, float] = {}
    latencies_ms: list[float] = []
    done = asyncio.Event()
    key = f"{connection.settings.prefix}bench-runs"

    async def start_run(run: TriggeredRun) -> None:
        await connection.commands.hsetnx(key, run.request_id, "1")
        assert run.event is not None
        latencies_ms.append((time.perf_counter() - sent[run.event.event_id]) * 1000)
        if len(latencies_ms) == events:
            done.set()

    consumer = TriggerConsumer(
        connection, consumer="bench", definitions=lambda: workflows, start_run=start_run
    )
    outbox = InMemoryOutbox()
    relay = OutboxRelay(outbox, connection)
    publisher = EventPublisher(connection)
    tag = "o" if via_outbox else "p"
    await consumer.start()
    await relay.start()
    await asyncio.sleep(0.3)  # the group exists and the consumer blocks on it
    try:
        for n in range(events):
            event_id = f"run-finished:{tag}{n}"
            sent[event_id] = time.perf_counter()
            if via_outbox:
                outbox.add("run.finished", ANALYSIS, event_id, _payload(n))
                relay.notify()
            else:
                await publisher.publish(BusEvent("run.finished", ANALYSIS, event_id, _payload(n)))
            await asyncio.sleep(0.005)
        await asyncio.wait_for(done.wait(), 30)
    finally:
        await relay.stop()
        await consumer.stop()
    return {
        "events": events,
        "p50_ms": round(statistics.median(latencies_ms), 2),
        "p99_ms": round(_percentile(latencies_ms, 0.99), 2),
        "max_ms": round(max(latencies_ms), 2),
    }


async def _phase(url: str, measure: Any, *args: Any) -> dict[str, float]:
    """One measurement on keys of its own (a fresh prefix), deleted after."""
    settings = dataclasses.replace(BusSettings(), prefix=f"aura-bench-{secrets.token_hex(4)}:")
    connection = BusConnection.from_url(url, settings)
    try:
        figures: dict[str, float] = await measure(connection, *args)
        return figures
    finally:
        keys = [k async for k in connection.commands.scan_iter(match=f"{settings.prefix}*")]
        if keys:
            await connection.commands.delete(*keys)
        await connection.close()


async def run_benchmark(
    events: int = 20_000, latency_events: int = 300, url: str | None = None
) -> dict[str, Any]:
    url = url or redis_url()
    return {
        "relay": await _phase(url, relay_throughput, events),
        "trigger_start": await _phase(url, trigger_latency, latency_events, False),
        "outbox_to_start": await _phase(url, trigger_latency, latency_events, True),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bus", description=__doc__)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--latency-events", type=int, default=300)
    parser.add_argument("--smoke", action="store_true", help="small counts, for the test suite")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.smoke:
        args.events, args.latency_events = 500, 30
    figures = asyncio.run(run_benchmark(args.events, args.latency_events))
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    relay, direct, chain = figures["relay"], figures["trigger_start"], figures["outbox_to_start"]
    print(
        f"relay: {relay['events_per_s']} events/s ({relay['events']} events, {relay['seconds']} s)"
    )
    for name, row in (("trigger -> start", direct), ("outbox -> start", chain)):
        print(f"{name}: p50 {row['p50_ms']} ms, p99 {row['p99_ms']} ms, max {row['max_ms']} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
