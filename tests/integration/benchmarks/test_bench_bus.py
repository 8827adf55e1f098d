"""The bus benchmark runs (small counts) against the real Redis and reports its figures."""

from __future__ import annotations

import pytest

from benchmarks.bus import run_benchmark
from tests.redis_fixtures import require_redis

pytestmark = pytest.mark.integration


async def test_the_bus_benchmark_reports_throughput_and_latency() -> None:
    figures = await run_benchmark(events=500, latency_events=20, url=require_redis())
    assert figures["relay"]["events"] == 500 and figures["relay"]["events_per_s"] > 0
    for name in ("trigger_start", "outbox_to_start"):
        assert figures[name]["events"] == 20
        assert 0 < figures[name]["p50_ms"] <= figures[name]["max_ms"]
