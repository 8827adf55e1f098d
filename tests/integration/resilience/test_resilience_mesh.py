"""Resilience against the real mock mesh with injected faults: retries, pushback, circuit
breakers fed by health and by call outcomes, deadlines, replicas, bulkheads, admission,
the response cache and error analytics."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import random
import time
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.rpc import code_pb2, error_details_pb2
from grpc_status import rpc_status

from aura.orchestrator.v1 import orchestrator_pb2, run_pb2
from mock_services import start_mock_server
from mock_services.mesh import MockMesh
from orchestrator.mesh.health_watch import SERVING
from orchestrator.resilience import (
    BreakerSettings,
    CircuitState,
    RetryThrottleSettings,
    ServicePolicy,
    error_reason,
)
from tests.helpers import eventually
from tests.integration.orchestrator_helpers import (
    STYLE_INPUT,
    collect_events,
    execute,
    step,
    struct,
)
from tests.integration.resilience.resilience_helpers import (
    ANALYZE_TEXT,
    NLU,
    TEXT_INPUT,
    define,
    nlu_step,
    orchestrator_with,
)

pytestmark = pytest.mark.integration

IMAGE = "aura.image.v1.ImageProcessingService"


def image_step(**options: Any) -> dict[str, Any]:
    return {
        "id": "image",
        "method": f"{IMAGE}/AnalyzeImage",
        "inputs": {"image_uri": {"ref": "input.image_uri"}},
        **options,
    }


def tolerant(**breaker: Any) -> ServicePolicy:
    """A policy whose breaker and retry budget stay out of the way of a retry test."""
    return ServicePolicy(
        retry_throttle=RetryThrottleSettings(max_tokens=1000, token_ratio=1.0),
        breaker=BreakerSettings(**{"consecutive_failures": 1000, "failure_rate": 1.0, **breaker}),
    )


def reason_and_retry_delay(status: Any) -> tuple[str, float | None]:
    delay = None
    for detail in status.details:
        if detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            info = error_details_pb2.RetryInfo()
            detail.Unpack(info)
            delay = info.retry_delay.ToNanoseconds() / 1e9
    return error_reason(status), delay


def kinds(events: list[run_pb2.RunEvent]) -> list[str]:
    return [str(e.WhichOneof("event")) for e in events]


# Retries ------------------------------------------------------------------------------


async def test_a_flaky_service_failing_half_the_calls_still_lets_runs_succeed(
    mesh: MockMesh, tmp_path: Path
) -> None:
    nlu = mesh["nlu"]
    nlu.faults.error_rate = 0.5
    nlu._state.rng = random.Random(1234)  # a fixed sequence of failures
    async with orchestrator_with(mesh, tmp_path, service_policies={NLU: tolerant()}) as (_, stub):
        retry = {"max_attempts": 10, "initial_backoff": "0.005s", "max_backoff": "0.02s"}
        await define(stub, "flaky", [nlu_step(retry=retry)])
        runs = [await execute(stub, "flaky", TEXT_INPUT) for _ in range(12)]

        assert [r.state for r in runs] == [run_pb2.RUN_STATE_SUCCEEDED] * 12
        attempts = [step(r, "nlu").attempts for r in runs]
        assert sum(attempts) == nlu.calls["AnalyzeText"]
        assert max(attempts) > 1, "some runs needed retries"
        events = await collect_events(
            stub, next(r.name for r in runs if step(r, "nlu").attempts > 1)
        )
        failed = [e.step_attempt_failed for e in events if e.HasField("step_attempt_failed")]
        assert failed and all(f.error.code == code_pb2.UNAVAILABLE for f in failed)
        # Every attempt is an event: one StepStarted per attempt.
        assert kinds(events).count("step_started") == len(failed) + 1


async def test_server_pushback_delays_the_retry_by_the_asked_amount(
    mesh: MockMesh, tmp_path: Path
) -> None:
    nlu = mesh["nlu"]
    nlu.faults.fail_next = 1
    nlu.faults.retry_pushback_ms = 300
    async with orchestrator_with(mesh, tmp_path) as (_, stub):
        await define(stub, "pushed", [nlu_step(retry={"initial_backoff": "0.01s"})])
        run = await execute(stub, "pushed", TEXT_INPUT)

        assert run.state == run_pb2.RUN_STATE_SUCCEEDED
        events = await collect_events(stub, run.name)
        failed = next(e for e in events if e.HasField("step_attempt_failed"))
        assert failed.step_attempt_failed.backoff.ToMilliseconds() == 300
        second = next(
            e for e in events if e.HasField("step_started") and e.step_started.attempt == 2
        )
        gap_s = (second.time.ToNanoseconds() - failed.time.ToNanoseconds()) / 1e9
        assert 0.29 <= gap_s < 0.45, gap_s


async def test_an_exhausted_retry_budget_stops_retries_against_a_sick_service(
    mesh: MockMesh, tmp_path: Path
) -> None:
    mesh["nlu"].faults.error_rate = 1.0
    policy = dataclasses.replace(
        tolerant(), retry_throttle=RetryThrottleSettings(max_tokens=4, token_ratio=0.5)
    )
    async with orchestrator_with(mesh, tmp_path, service_policies={NLU: policy}) as (_, stub):
        await define(
            stub, "sick", [nlu_step(retry={"max_attempts": 5, "initial_backoff": "0.001s"})]
        )
        first = await execute(stub, "sick", TEXT_INPUT)
        second = await execute(stub, "sick", TEXT_INPUT)

    # Tokens 4 -> 2 after two failures: the second failure leaves none above half.
    assert step(first, "nlu").attempts == 2
    assert step(second, "nlu").attempts == 1
    assert mesh["nlu"].calls["AnalyzeText"] == 3
    assert first.state == second.state == run_pb2.RUN_STATE_FAILED


# Circuit breakers ------------------------------------------------------------------------


async def test_a_down_service_opens_its_breaker_and_later_runs_fail_fast_or_degrade(
    mesh: MockMesh, tmp_path: Path
) -> None:
    nlu = mesh["nlu"]
    nlu.faults.error_rate = 1.0
    policy = ServicePolicy(breaker=BreakerSettings(consecutive_failures=3, base_open_s=30.0))
    async with orchestrator_with(mesh, tmp_path, service_policies={NLU: policy}) as (server, stub):
        retry = {"max_attempts": 3, "initial_backoff": "0.001s"}
        await define(stub, "needs_nlu", [nlu_step(retry=retry)])
        await define(
            stub, "nlu_optional", [image_step(), nlu_step(optional=True, depends_on=["image"])]
        )
        tripping = await execute(stub, "needs_nlu", TEXT_INPUT)
        assert tripping.state == run_pb2.RUN_STATE_FAILED
        assert server.pool.service(NLU).circuit_state is CircuitState.OPEN

        calls_before = nlu.calls["AnalyzeText"]
        started = time.monotonic()
        failed_fast = await execute(stub, "needs_nlu", TEXT_INPUT)
        took_s = time.monotonic() - started
        degraded = await execute(stub, "nlu_optional", TEXT_INPUT)

        assert nlu.calls["AnalyzeText"] == calls_before, "no backend call while open"
        assert took_s < 0.2, took_s
        assert failed_fast.state == run_pb2.RUN_STATE_FAILED
        error = step(failed_fast, "nlu").error
        assert error.code == code_pb2.UNAVAILABLE
        reason, retry_delay = reason_and_retry_delay(error)
        assert reason == "CIRCUIT_OPEN" and retry_delay is not None and retry_delay > 20
        assert step(failed_fast, "nlu").attempts == 1  # an open circuit is not retried
        assert degraded.state == run_pb2.RUN_STATE_PARTIALLY_SUCCEEDED
        assert step(degraded, "image").state == run_pb2.STEP_STATE_SUCCEEDED
        assert reason_and_retry_delay(step(degraded, "nlu").error)[0] == "CIRCUIT_OPEN"

        services = {
            s.service: s
            for s in (await stub.ListServices(orchestrator_pb2.ListServicesRequest())).services
        }
        assert services[NLU].circuit_state == orchestrator_pb2.CIRCUIT_STATE_OPEN
        assert services[NLU].circuit_trips == 1 and services[NLU].circuit_rejections == 2
        assert services[NLU].endpoints[0].circuit_state == orchestrator_pb2.CIRCUIT_STATE_OPEN
        assert services[IMAGE].circuit_state == orchestrator_pb2.CIRCUIT_STATE_CLOSED

        analytics = await stub.GetAnalytics(orchestrator_pb2.GetAnalyticsRequest())
        groups = {(f.service, f.method, f.code, f.reason): f.count for f in analytics.failures}
        assert groups[(NLU, ANALYZE_TEXT, "UNAVAILABLE", "INJECTED_FAULT")] == 3
        assert groups[(NLU, ANALYZE_TEXT, "UNAVAILABLE", "CIRCUIT_OPEN")] == 2
        nlu_stats = next(s for s in analytics.services if s.service == NLU)
        assert nlu_stats.circuit_trips == 1 and nlu_stats.circuit_rejections == 2
        assert nlu_stats.retry_count == 2 and nlu_stats.failure_count == 3


async def test_the_breaker_opens_within_100ms_of_not_serving_and_closes_after_recovery(
    mesh: MockMesh, tmp_path: Path
) -> None:
    nlu = mesh["nlu"]
    async with orchestrator_with(mesh, tmp_path) as (server, stub):
        await define(stub, "nlu_only", [nlu_step(timeout="0.3s")])
        service = server.pool.service(NLU)
        await eventually(lambda: service.endpoints[0].health.status == SERVING)

        started = time.monotonic()
        await nlu.set_serving(False)
        await eventually(
            lambda: service.circuit_state is CircuitState.OPEN, timeout_s=1.0, interval_s=0.001
        )
        open_latency_s = time.monotonic() - started
        assert open_latency_s < 0.1, f"opened {open_latency_s * 1000:.1f} ms after NOT_SERVING"
        refused = await execute(stub, "nlu_only", TEXT_INPUT)  # waits its 0.3 s for SERVING
        assert reason_and_retry_delay(step(refused, "nlu").error)[0] == "CIRCUIT_OPEN"
        assert nlu.calls["AnalyzeText"] == 0

        await nlu.set_serving(True)  # only health had opened it: SERVING closes it at once
        await eventually(lambda: service.circuit_state is CircuitState.CLOSED, timeout_s=1.0)
        recovered = await execute(stub, "nlu_only", TEXT_INPUT)
        assert recovered.state == run_pb2.RUN_STATE_SUCCEEDED
        assert service.circuit_state is CircuitState.CLOSED
        print(f"breaker open latency after NOT_SERVING: {open_latency_s * 1000:.1f} ms")


# Deadlines ----------------------------------------------------------------------------------


async def test_a_hung_backend_is_cut_off_at_the_step_deadline(
    mesh: MockMesh, tmp_path: Path
) -> None:
    nlu = mesh["nlu"]
    nlu.faults.hang = True
    async with orchestrator_with(mesh, tmp_path) as (_, stub):
        await define(stub, "hung", [nlu_step(timeout="0.3s")])
        started = time.monotonic()
        run = await execute(stub, "hung", TEXT_INPUT)
        took_s = time.monotonic() - started

    assert run.state == run_pb2.RUN_STATE_FAILED
    assert step(run, "nlu").error.code == code_pb2.DEADLINE_EXCEEDED
    assert step(run, "nlu").attempts == 1  # DEADLINE_EXCEEDED is not retried
    assert 0.29 <= took_s < 0.6, took_s
    await eventually(lambda: nlu.cancelled["AnalyzeText"] == 1)


async def test_a_run_with_a_500ms_deadline_over_slow_services_ends_deadline_exceeded_on_time(
    mesh: MockMesh, tmp_path: Path
) -> None:
    for server in mesh.servers.values():
        server.faults.latency_ms = 200
    async with orchestrator_with(mesh, tmp_path) as (_, stub):
        started = time.monotonic()
        run = await execute(
            stub, "complete_style_analysis", STYLE_INPUT, timeout={"nanos": 500_000_000}
        )
        took_s = time.monotonic() - started

    assert run.state == run_pb2.RUN_STATE_FAILED
    assert run.error.code == code_pb2.DEADLINE_EXCEEDED
    run_s = (run.end_time.ToNanoseconds() - run.start_time.ToNanoseconds()) / 1e9
    assert 0.45 <= run_s < 0.6, run_s
    assert took_s < 0.8, took_s


async def test_the_callers_deadline_bounds_every_backend_call(
    mesh: MockMesh, tmp_path: Path
) -> None:
    nlu = mesh["nlu"]
    nlu.faults.hang = True
    async with orchestrator_with(mesh, tmp_path) as (server, stub):
        await define(stub, "hung_caller", [nlu_step(timeout="5s")])
        # The run ends at the caller's deadline (less a margin), so the answer races the
        # client's own deadline: either is fine, the run must be over by then.
        with contextlib.suppress(grpc.aio.AioRpcError):
            await stub.ExecuteWorkflowRun(
                orchestrator_pb2.ExecuteWorkflowRunRequest(
                    workflow_definition="hung_caller", input=struct(TEXT_INPUT)
                ),
                timeout=0.4,
            )
        remaining = nlu.last_time_remaining_s
        assert remaining is not None and remaining < 0.4
        listed = await stub.ListWorkflowRuns(orchestrator_pb2.ListWorkflowRunsRequest())
        name = listed.workflow_runs[0].name
        run = await server.engine.wait_finished(name)
        assert run.state == run_pb2.RUN_STATE_FAILED
        assert step(run, "nlu").error.code == code_pb2.DEADLINE_EXCEEDED


# Replicas, bulkheads, admission -----------------------------------------------------------


async def test_one_dead_replica_of_three_causes_no_failed_run(
    mesh: MockMesh, tmp_path: Path
) -> None:
    replicas = [mesh["nlu"], await start_mock_server("nlu"), await start_mock_server("nlu")]
    dead = replicas[2]
    try:
        addresses = {s.service_name: [s.address] for s in mesh.servers.values()}
        addresses[NLU] = [r.address for r in replicas]
        async with orchestrator_with(mesh, tmp_path, service_addresses=addresses) as (server, stub):
            await define(stub, "replicated", [nlu_step(retry={"initial_backoff": "0.01s"})])
            before = [await execute(stub, "replicated", TEXT_INPUT) for _ in range(6)]
            assert all(r.calls["AnalyzeText"] == 2 for r in replicas), "round-robin over three"

            await dead.stop(grace_s=0)
            runs = await asyncio.gather(
                *(execute(stub, "replicated", TEXT_INPUT) for _ in range(20))
            )
            endpoints = server.pool.service(NLU).endpoints
            assert endpoints[2].breaker.state is CircuitState.OPEN
            assert server.pool.service(NLU).circuit_state is CircuitState.CLOSED
        assert {r.state for r in [*before, *runs]} == {run_pb2.RUN_STATE_SUCCEEDED}
        assert replicas[0].calls["AnalyzeText"] + replicas[1].calls["AnalyzeText"] == 4 + 20
        assert dead.calls["AnalyzeText"] == 2
    finally:
        for replica in replicas[1:]:
            await replica.stop(grace_s=0)


async def test_the_bulkhead_caps_calls_in_flight_per_service(
    mesh: MockMesh, tmp_path: Path
) -> None:
    nlu = mesh["nlu"]
    nlu.faults.latency_ms = 100
    policy = ServicePolicy(max_in_flight=2)
    peak = 0

    async def sample() -> None:
        nonlocal peak
        while True:
            peak = max(peak, nlu.in_flight)
            await asyncio.sleep(0.005)

    async with orchestrator_with(mesh, tmp_path, service_policies={NLU: policy}) as (server, stub):
        await define(stub, "bulk", [nlu_step()])
        sampler = asyncio.create_task(sample())
        runs = await asyncio.gather(*(execute(stub, "bulk", TEXT_INPUT) for _ in range(6)))
        sampler.cancel()
        service = server.pool.service(NLU)
        assert service.bulkhead.peak_in_flight == 2
        listed = await stub.ListServices(orchestrator_pb2.ListServicesRequest())
        assert next(s for s in listed.services if s.service == NLU).max_in_flight == 2
    assert {r.state for r in runs} == {run_pb2.RUN_STATE_SUCCEEDED}
    assert peak == 2


async def test_beyond_the_run_cap_start_queues_the_run_until_a_slot_frees(
    mesh: MockMesh, tmp_path: Path
) -> None:
    mesh["nlu"].faults.latency_ms = 300
    async with orchestrator_with(mesh, tmp_path, max_active_runs=2) as (server, stub):
        await define(stub, "slow", [nlu_step()])
        request = orchestrator_pb2.StartWorkflowRunRequest(
            workflow_definition="slow", input=struct(TEXT_INPUT)
        )
        admitted = [await stub.StartWorkflowRun(request) for _ in range(2)]
        queued = await stub.StartWorkflowRun(request)
        assert queued.workflow_run.state == run_pb2.RUN_STATE_QUEUED
        assert server.engine.active_run_count == 2
        for started in admitted:
            await server.engine.wait_finished(started.workflow_run.name)
        await eventually(lambda: server.engine.active_run_count == 1)


# Response cache --------------------------------------------------------------------------


async def test_cached_steps_skip_the_backend_and_hits_show_in_events_and_analytics(
    mesh: MockMesh, tmp_path: Path
) -> None:
    nlu = mesh["nlu"]
    async with orchestrator_with(mesh, tmp_path) as (_, stub):
        await define(stub, "cached", [nlu_step(cache={"ttl": "60s"})])
        first = await execute(stub, "cached", TEXT_INPUT)
        second = await execute(stub, "cached", TEXT_INPUT)
        other = await execute(stub, "cached", dict(TEXT_INPUT, text="a red dress"))

        assert nlu.calls["AnalyzeText"] == 2
        assert step(second, "nlu").output == step(first, "nlu").output
        results = []
        for run in (first, second, other):
            events = await collect_events(stub, run.name)
            done = next(e.step_succeeded for e in events if e.HasField("step_succeeded"))
            results.append(done.cache_result)
        assert results == [
            run_pb2.CACHE_RESULT_MISS,
            run_pb2.CACHE_RESULT_HIT,
            run_pb2.CACHE_RESULT_MISS,
        ]
        analytics = await stub.GetAnalytics(orchestrator_pb2.GetAnalyticsRequest())
        nlu_stats = next(s for s in analytics.services if s.service == NLU)
        assert (nlu_stats.cache_hits, nlu_stats.cache_misses) == (1, 2)
        assert nlu_stats.cache_hit_rate == pytest.approx(1 / 3)


async def test_a_cache_ttl_must_be_positive(mesh: MockMesh, tmp_path: Path) -> None:
    async with orchestrator_with(mesh, tmp_path) as (_, stub):
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await define(stub, "bad_cache", [nlu_step(cache={"ttl": "0s"})])
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "cache ttl" in (raised.value.details() or "") or "steps[0].cache.ttl" in str(
        rpc_status.from_call(raised.value)
    )
