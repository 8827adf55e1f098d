"""The `store` scenario: the same orchestrator on SQLite and on PostgreSQL, one run.

Per backend latency one mesh serves both; the two orchestrators run one after the other
(never at once: on 2 cores they would share them), each a fresh process with a fresh store
(a temporary SQLite file; a new PostgreSQL schema, dropped after). The hand-written limit
is measured on the same mesh, so both overheads are read against the same baseline.
Targets (issue 12): PostgreSQL >= 0.5x SQLite's runs/s at c=100 with 20 ms backends, and
its c=1 p50 overhead over the limit within 2 ms of SQLite's.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import AsyncIterator
from typing import Any

from benchmarks.procs import start_mesh, start_orchestrator
from benchmarks.scenarios import CpuMeter, Plan, limit_load, orchestrated_load

#: Where the scenario finds PostgreSQL (AURA_BENCH_POSTGRES_URL overrides).
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"


def postgres_url() -> str:
    return os.environ.get("AURA_BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL)


@contextlib.asynccontextmanager
async def fresh_schema(url: str) -> AsyncIterator[str]:
    """A new schema, dropped afterwards; yields the store URL that names it."""
    import asyncpg  # the store's own driver

    schema = f"aura_bench_{secrets.token_hex(4)}"
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(f'CREATE SCHEMA "{schema}"')
        separator = "&" if "?" in url else "?"
        yield f"{url}{separator}search_path={schema}"
    finally:
        await connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await connection.close()


async def _orchestrator_load(
    addresses: dict[str, str], mesh: Any, store_env: dict[str, str], loads: dict[str, Any]
) -> dict[str, Any]:
    orchestrator = await start_orchestrator(addresses, extra_env=store_env)
    try:
        meter = CpuMeter([orchestrator.child, mesh])
        return {
            key: await orchestrated_load(orchestrator.address, meter, **load)
            for key, load in loads.items()
        }
    finally:
        await orchestrator.stop()


async def compare_stores(plan: Plan, level: int = 100) -> dict[str, Any]:
    """{"limit": ..., "sqlite": ..., "postgres": ...}, keyed c1_0ms / c<level>_20ms."""
    out: dict[str, Any] = {"limit": {}, "sqlite": {}, "postgres": {}}
    c1 = {"concurrency": 1, "warmup_s": plan.c1_warmup_s, "duration_s": plan.c1_duration_s}
    load = {"concurrency": level, "warmup_s": plan.warmup_s, "duration_s": plan.duration_s}
    for latency_ms, key, shape in ((0.0, "c1_0ms", c1), (plan.latency_ms, f"c{level}_20ms", load)):
        mesh, addresses = await start_mesh(latency_ms)
        try:
            out["limit"][key] = await limit_load(addresses, CpuMeter([mesh]), **shape)
            out["sqlite"].update(await _orchestrator_load(addresses, mesh, {}, {key: shape}))
            async with fresh_schema(postgres_url()) as store_url:
                env = {"AURA_STORE_URL": store_url}
                out["postgres"].update(await _orchestrator_load(addresses, mesh, env, {key: shape}))
        finally:
            await mesh.stop()
    return out


def store_checks(store: dict[str, Any]) -> list[tuple[str, float | None, str, bool | None]]:
    """(check, value, target, met) for the report."""
    out: list[tuple[str, float | None, str, bool | None]] = []
    limit, sqlite, postgres = store["limit"], store["sqlite"], store["postgres"]
    for key in sorted(k for k in postgres if k != "c1_0ms"):
        ratio = None
        if sqlite.get(key, {}).get("runs_per_s"):
            ratio = postgres[key]["runs_per_s"] / sqlite[key]["runs_per_s"]
        ok = None if ratio is None else ratio >= 0.5
        out.append((f"{key} PostgreSQL runs/s / SQLite runs/s", ratio, ">= 0.5x", ok))
    if "c1_0ms" in postgres and "c1_0ms" in sqlite and "c1_0ms" in limit:
        base = limit["c1_0ms"]["p50_ms"]
        extra = (postgres["c1_0ms"]["p50_ms"] - base) - (sqlite["c1_0ms"]["p50_ms"] - base)
        out.append(
            ("c1_0ms p50 overhead, PostgreSQL minus SQLite (ms)", extra, "<= 2 ms", extra <= 2.0)
        )
    return out
