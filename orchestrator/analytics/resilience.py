"""Error analytics: failed attempts grouped by service, method, code and reason, and per
service the retries, retry-budget refusals, breaker trips and cache hit rate.

`resilience_records` reads them off one stored event; `add_resilience` sums the records
of the analysed runs into the response. Breaker trips are not events: they come from
this replica's live breaker log.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from google.rpc import status_pb2

from aura.orchestrator.v1 import orchestrator_pb2, run_pb2
from orchestrator.errors import is_status_code, status_code_of
from orchestrator.resilience import BULKHEAD_FULL, CIRCUIT_OPEN, DEADLINE_BUDGET_SPENT, error_reason

_NO_CALL = frozenset({DEADLINE_BUDGET_SPENT, CIRCUIT_OPEN, BULKHEAD_FULL})


@dataclass(frozen=True, slots=True)
class Record:
    service: str
    kind: str
    """attempt_ok, attempt_failed, failed (no attempt made), retry, throttled, rejected,
    cache_hit, cache_miss."""
    method: str = ""
    code: str = ""
    reason: str = ""


def code_name(error: status_pb2.Status) -> str:
    """The status code's name (UNAVAILABLE for 14); the number for a code gRPC lacks."""
    return status_code_of(error.code).name if is_status_code(error.code) else str(error.code)


def reason_of(error: status_pb2.Status) -> str:
    """The ErrorInfo reason, interned: folded runs keep many copies of few reasons."""
    return sys.intern(error_reason(error))


def resilience_records(
    event: run_pb2.RunEvent, kind: str | None, methods: Mapping[str, str]
) -> list[Record]:
    """What one step event says about its service; `methods` maps step id to method."""
    if kind == "step_succeeded":
        done = event.step_succeeded
        method = methods.get(done.step_id, "")
        service = service_of(method)
        if done.cache_result == run_pb2.CACHE_RESULT_HIT:
            return [Record(service, "cache_hit", method)]
        records = [Record(service, "attempt_ok", method)]
        if done.cache_result == run_pb2.CACHE_RESULT_MISS:
            records.append(Record(service, "cache_miss", method))
        return records
    if kind == "step_attempt_failed":
        failed = event.step_attempt_failed
        return _failure(methods.get(failed.step_id, ""), failed.error, retried=True)
    if kind == "step_failed":
        final = event.step_failed
        return _failure(
            methods.get(final.step_id, ""),
            final.error,
            retried=False,
            attempted=final.attempt > 0,
            throttled=final.retry_throttled,
        )
    return []


def _failure(
    method: str,
    error: status_pb2.Status,
    *,
    retried: bool,
    attempted: bool = True,
    throttled: bool = False,
) -> list[Record]:
    service = service_of(method)
    code = code_name(error)
    reason = reason_of(error)
    # No backend call: bad input, spent deadline budget, open circuit, full bulkhead.
    kind = "attempt_failed" if attempted and reason not in _NO_CALL else "failed"
    records = [Record(service, kind, method, code, reason)]
    if reason == CIRCUIT_OPEN:
        records.append(Record(service, "rejected", method))
    if retried:
        records.append(Record(service, "retry", method))
    if throttled:
        records.append(Record(service, "throttled", method))
    return records


def add_resilience(
    response: orchestrator_pb2.GetAnalyticsResponse,
    records: Iterable[Record],
    trips: Mapping[str, int],
) -> None:
    """Fills `failures` and `services` from `records`; `trips` counts breaker openings
    per service (live)."""
    groups: Counter[tuple[str, str, str, str]] = Counter()
    per_service: dict[str, Counter[str]] = {}
    for record in records:
        if record.kind in ("attempt_failed", "failed"):
            groups[(record.service, record.method, record.code, record.reason)] += 1
        per_service.setdefault(record.service, Counter())[record.kind] += 1
    for (service, method, code, reason), count in sorted(
        groups.items(), key=lambda item: (-item[1], item[0])
    ):
        response.failures.add(service=service, method=method, code=code, reason=reason, count=count)
    for service, count in trips.items():
        if count:
            per_service.setdefault(service, Counter())["trip"] += count
    for service in sorted(per_service):
        kinds = per_service[service]
        failed = kinds["attempt_failed"]
        hits, misses = kinds["cache_hit"], kinds["cache_miss"]
        response.services.add(
            service=service,
            attempt_count=kinds["attempt_ok"] + failed,
            failure_count=failed,
            retry_count=kinds["retry"],
            retry_throttled_count=kinds["throttled"],
            circuit_trips=kinds["trip"],
            circuit_rejections=kinds["rejected"],
            cache_hits=hits,
            cache_misses=misses,
            cache_hit_rate=hits / (hits + misses) if hits + misses else 0.0,
        )


def service_of(method: str) -> str:
    """The full service name of a full method name, interned."""
    return sys.intern(method.partition("/")[0])
