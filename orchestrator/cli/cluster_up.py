"""`aura up --replicas N`: the mock mesh and N orchestrator replicas on one shared store.

For a demo or a test of a cluster on one machine: each replica is its own `aura serve`
process (its own interpreter, so the replicas really use several cores), listening on
AURA_PORT + i with its metrics on AURA_METRICS_PORT + i, all naming the same
PostgreSQL store. Killing one (its pid is printed) shows the takeover of its runs.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from rich.console import Console

from orchestrator.config import Settings
from orchestrator.envvars import redact_url
from orchestrator.telemetry import TelemetrySettings

# How long a replica may take to stop once asked, before it is killed.
REPLICA_STOP_S = 15.0


@dataclass(frozen=True)
class ReplicaPlan:
    """One replica to start: its id, address and environment."""

    replica_id: str
    address: str
    env: dict[str, str]


def plan_replicas(
    settings: Settings, telemetry: TelemetrySettings, count: int
) -> list[ReplicaPlan]:
    """Ports AURA_PORT + i (and metrics + i); refuses what cannot share a store."""
    if count < 1:
        raise RuntimeError("--replicas takes a whole number >= 1")
    if count > 1 and not settings.store_url:
        raise RuntimeError(
            "several replicas need a shared store: pass --store postgresql://... or set "
            "AURA_STORE_URL (the SQLite store belongs to one process)"
        )
    prefix = settings.replica_id or "replica"
    plans = []
    for index in range(count):
        env = {
            "AURA_STORE_URL": settings.store_url,
            "AURA_PORT": str(settings.port + index),
            "AURA_REPLICA_ID": f"{prefix}-{index + 1}",
            "AURA_METRICS_PORT": (
                "off" if telemetry.metrics_port is None else str(telemetry.metrics_port + index)
            ),
            # The parent serves the one console of the cluster.
            "AURA_CONSOLE_ADDRESS": "off",
        }
        plans.append(
            ReplicaPlan(env["AURA_REPLICA_ID"], f"{settings.host}:{env['AURA_PORT']}", env)
        )
    return plans


async def run_replicas(
    settings: Settings,
    plans: list[ReplicaPlan],
    stop: asyncio.Event,
    wait_serving: Callable[..., Awaitable[None]],
) -> int:
    """Starts every replica, waits until each serves (`wait_serving(address,
    timeout_s=...)`), then until `stop` is set or one exits."""
    console = Console(stderr=True)
    children: list[tuple[ReplicaPlan, asyncio.subprocess.Process]] = []
    try:
        for plan in plans:
            child = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "orchestrator.cli", "serve", env={**os.environ, **plan.env}
            )
            children.append((plan, child))
        await asyncio.gather(*(wait_serving(plan.address, timeout_s=60) for plan in plans))
        console.print(
            f"[bold]{len(plans)} replicas[/bold] on {redact_url(settings.store_url)}: "
            + ", ".join(f"{p.replica_id} {p.address} (pid {c.pid})" for p, c in children)
        )
        exits = [asyncio.ensure_future(child.wait()) for _, child in children]
        stopped = asyncio.ensure_future(stop.wait())
        await asyncio.wait([stopped, *exits], return_when=asyncio.FIRST_COMPLETED)
        for (plan, child), exited in zip(children, exits, strict=True):
            if exited.done() and not stopped.done():
                console.print(f"{plan.replica_id} exited with status {child.returncode}")
        stopped.cancel()
        return 0 if stop.is_set() else 1
    finally:
        for _, child in children:
            if child.returncode is None:
                child.send_signal(signal.SIGTERM)
        for _, child in children:
            if child.returncode is None:
                try:
                    await asyncio.wait_for(child.wait(), timeout=REPLICA_STOP_S)
                except TimeoutError:
                    child.kill()
                    await child.wait()
