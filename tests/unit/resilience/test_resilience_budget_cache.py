"""Deadline budget arithmetic, the response cache and the bulkhead."""

from __future__ import annotations

import asyncio

import pytest
from google.protobuf import struct_pb2

from orchestrator.resilience import Bulkhead, BulkheadFull, DeadlineBudget, ResponseCache, cache_key


class Clock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


def test_attempt_gets_the_smallest_of_step_run_and_caller_budget_minus_the_margin() -> None:
    clock = Clock()
    budget = DeadlineBudget(run_deadline=60.0, caller_deadline=52.0, margin_s=0.005, clock=clock)
    first = budget.for_attempt(step_timeout_s=1.0)
    assert (first.timeout_s, first.bound_by) == (1.0, "step")
    clock.now = 51.5
    second = budget.for_attempt(step_timeout_s=1.0)
    assert second.bound_by == "caller" and second.timeout_s == pytest.approx(0.495)
    assert budget.time_left_s() == pytest.approx(0.495)
    clock.now = 51.996
    assert budget.for_attempt(1.0).spent


def test_without_a_caller_the_run_deadline_binds() -> None:
    clock = Clock()
    budget = DeadlineBudget(run_deadline=50.3, clock=clock)
    attempt = budget.for_attempt(step_timeout_s=10.0)
    assert attempt.bound_by == "run" and attempt.timeout_s == pytest.approx(0.295)
    clock.now = 50.3
    assert budget.for_attempt(10.0).spent and budget.time_left_s() < 0


def message(text: str) -> struct_pb2.Struct:
    value = struct_pb2.Struct()
    value.update({"q": text})
    return value


def test_cache_hits_within_ttl_misses_after_and_returns_independent_copies() -> None:
    clock = Clock()
    cache = ResponseCache(max_entries=10, clock=clock)
    key = cache_key("/pkg.S/M", message("a"))
    assert cache.get(key, struct_pb2.Struct) is None
    cache.put(key, message("answer"), ttl_s=5.0)
    hit = cache.get(key, struct_pb2.Struct)
    assert hit == message("answer")
    assert hit is not None
    hit.update({"mutated": True})
    assert cache.get(key, struct_pb2.Struct) == message("answer")
    assert cache_key("/pkg.S/M", message("b")) != key
    assert cache_key("/pkg.S/Other", message("a")) != key
    clock.now += 5.0
    assert cache.get(key, struct_pb2.Struct) is None
    assert (cache.hits, cache.misses) == (2, 2)


def test_cache_size_is_bounded_and_evicts_the_least_recently_used() -> None:
    cache = ResponseCache(max_entries=2, clock=Clock())
    keys = [cache_key("/S/M", message(str(n))) for n in range(3)]
    cache.put(keys[0], message("0"), 60)
    cache.put(keys[1], message("1"), 60)
    assert cache.get(keys[0], struct_pb2.Struct) is not None  # 0 is now the most recent
    cache.put(keys[2], message("2"), 60)
    assert len(cache) == 2
    assert cache.get(keys[1], struct_pb2.Struct) is None
    assert cache.get(keys[0], struct_pb2.Struct) is not None


async def test_bulkhead_caps_in_flight_calls_and_refuses_after_the_wait() -> None:
    bulkhead = Bulkhead(max_in_flight=2)
    release = asyncio.Event()

    async def hold() -> None:
        async with bulkhead.slot(1.0):
            await release.wait()

    holders = [asyncio.create_task(hold()) for _ in range(2)]
    await asyncio.sleep(0)
    assert bulkhead.in_flight == 2
    with pytest.raises(BulkheadFull):
        async with bulkhead.slot(0.01):
            pass
    waiter = asyncio.create_task(hold())
    await asyncio.sleep(0)
    assert bulkhead.in_flight == 2  # the third waits for a slot
    release.set()
    await asyncio.gather(*holders, waiter)
    assert bulkhead.in_flight == 0 and bulkhead.peak_in_flight == 2
