"""The `store` scenario: the same orchestrator on SQLite and on PostgreSQL, one run.

Per backend latency one mesh serves both; each orchestrator is a fresh process with a
fresh store (a temporary SQLite file; a new PostgreSQL schema, dropped after), and they are
measured one after the other, never at once (on 2 cores they would share them). The
hand-written limit is measured on the same mesh, so both overheads are read against the
same baseline. Targets (issue 12): PostgreSQL >= 0.5x SQLite's runs/s at c=100 with 20 ms
backends, and its c=1 p50 overhead over the limit within 2 ms of SQLite's.

c=1 is measured in `Plan.c1_rounds` alternating rounds (limit, SQLite, PostgreSQL, then
again), both orchestrators started once and idle while the other is measured: on shared
cores the machine's speed moves by several milliseconds within a minute, so one window
each compares two different machines. The check takes the median over rounds of
PostgreSQL's p50 minus SQLite's, each pair measured seconds apart; every round is kept.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import statistics
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
    addresses: dict[str, str], mesh: Any, store_env: dict[str, str], shape: dict[str, Any]
) -> dict[str, Any]:
    orchestrator = await start_orchestrator(addresses, extra_env=store_env)
    try:
        return await orchestrated_load(
            orchestrator.address, CpuMeter([orchestrator.child, mesh]), **shape
        )
    finally:
        await orchestrator.stop()


async def _alternating_c1(
    addresses: dict[str, str], mesh: Any, postgres_env: dict[str, str], plan: Plan
) -> tuple[dict[str, dict[str, Any]], list[dict[str, float | None]]]:
    """c=1 rounds of limit, SQLite, PostgreSQL: each side's median round, and every
    round's p50s."""
    rounds = max(1, plan.c1_rounds)
    shape = {
        "concurrency": 1,
        "warmup_s": plan.c1_warmup_s / 2,
        "duration_s": plan.c1_duration_s / 2 if rounds > 1 else plan.c1_duration_s,
    }
    sides: dict[str, list[dict[str, Any]]] = {"limit": [], "sqlite": [], "postgres": []}
    sqlite = await start_orchestrator(addresses)
    try:
        postgres = await start_orchestrator(addresses, extra_env=postgres_env)
        try:
            for _ in range(rounds):
                sides["limit"].append(await limit_load(addresses, CpuMeter([mesh]), **shape))
                for name, orchestrator in (("sqlite", sqlite), ("postgres", postgres)):
                    meter = CpuMeter([orchestrator.child, mesh])
                    summary = await orchestrated_load(orchestrator.address, meter, **shape)
                    sides[name].append(summary)
        finally:
            await postgres.stop()
    finally:
        await sqlite.stop()
    per_round = [{name: sides[name][i].get("p50_ms") for name in sides} for i in range(rounds)]
    return {name: _median_round(summaries) for name, summaries in sides.items()}, per_round


def _median_round(summaries: list[dict[str, Any]]) -> dict[str, Any]:
    ranked = sorted(summaries, key=lambda summary: summary.get("p50_ms") or 0.0)
    return ranked[(len(ranked) - 1) // 2]


async def compare_stores(plan: Plan, level: int = 100) -> dict[str, Any]:
    """{"limit": ..., "sqlite": ..., "postgres": ..., "c1_rounds": [...]}, the sides keyed
    c1_0ms / c<level>_20ms (c1_0ms: the side's median round)."""
    out: dict[str, Any] = {"limit": {}, "sqlite": {}, "postgres": {}}
    async with fresh_schema(postgres_url()) as store_url:
        mesh, addresses = await start_mesh(0.0)
        try:
            medians, out["c1_rounds"] = await _alternating_c1(
                addresses, mesh, {"AURA_STORE_URL": store_url}, plan
            )
        finally:
            await mesh.stop()
    for name, summary in medians.items():
        out[name]["c1_0ms"] = summary
    key = f"c{level}_20ms"
    load = {"concurrency": level, "warmup_s": plan.warmup_s, "duration_s": plan.duration_s}
    mesh, addresses = await start_mesh(plan.latency_ms)
    try:
        out["limit"][key] = await limit_load(addresses, CpuMeter([mesh]), **load)
        out["sqlite"][key] = await _orchestrator_load(addresses, mesh, {}, load)
        async with fresh_schema(postgres_url()) as store_url:
            env = {"AURA_STORE_URL": store_url}
            out["postgres"][key] = await _orchestrator_load(addresses, mesh, env, load)
    finally:
        await mesh.stop()
    return out


def c1_gap_ms(store: dict[str, Any]) -> float | None:
    """PostgreSQL's c=1 p50 minus SQLite's: the median over alternating rounds, or (a
    result without rounds) of the one window each. The limit's p50 cancels out of
    (postgres - limit) - (sqlite - limit)."""
    rounds = [
        r["postgres"] - r["sqlite"]
        for r in store.get("c1_rounds", [])
        if r.get("postgres") is not None and r.get("sqlite") is not None
    ]
    if rounds:
        return float(statistics.median(rounds))
    sqlite = store["sqlite"].get("c1_0ms", {}).get("p50_ms")
    postgres = store["postgres"].get("c1_0ms", {}).get("p50_ms")
    if sqlite is None or postgres is None:
        return None
    return float(postgres - sqlite)


def store_checks(store: dict[str, Any]) -> list[tuple[str, float | None, str, bool | None]]:
    """(check, value, target, met) for the report."""
    out: list[tuple[str, float | None, str, bool | None]] = []
    sqlite, postgres = store["sqlite"], store["postgres"]
    for key in sorted(k for k in postgres if k != "c1_0ms"):
        ratio = None
        if sqlite.get(key, {}).get("runs_per_s"):
            ratio = postgres[key]["runs_per_s"] / sqlite[key]["runs_per_s"]
        ok = None if ratio is None else ratio >= 0.5
        out.append((f"{key} PostgreSQL runs/s / SQLite runs/s", ratio, ">= 0.5x", ok))
    extra = c1_gap_ms(store)
    if extra is not None:
        rounds = len(store.get("c1_rounds", [])) or 1
        out.append(
            (
                f"c1_0ms p50 overhead, PostgreSQL minus SQLite (ms, median of {rounds} rounds)",
                extra,
                "<= 2 ms",
                extra <= 2.0,
            )
        )
    return out
