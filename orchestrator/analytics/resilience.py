"""Error analytics: failed attempts grouped by service, method, code and reason, and per
service the retries, retry-budget refusals, breaker trips and cache hit rate."""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field

from google.rpc import status_pb2

from aura.orchestrator.v1 import orchestrator_pb2, run_pb2
from orchestrator.errors import is_status_code, status_code_of
from orchestrator.resilience import BULKHEAD_FULL, CIRCUIT_OPEN, DEADLINE_BUDGET_SPENT, error_reason

MAX_RECORDS = 16_384
_NO_CALL = frozenset({DEADLINE_BUDGET_SPENT, CIRCUIT_OPEN, BULKHEAD_FULL})


@dataclass(frozen=True)
class _Record:
    at: float  # unix seconds
    service: str
    kind: str
    """attempt_ok, attempt_failed, failed (no attempt made), retry, throttled, trip,
    rejected, cache_hit, cache_miss."""
    method: str = ""
    code: str = ""
    reason: str = ""


@dataclass
class ResilienceTally:
    records: deque[_Record] = field(default_factory=lambda: deque(maxlen=MAX_RECORDS))

    def trip(self, at: float, service: str) -> None:
        self.records.append(_Record(at, service, "trip"))

    def succeeded(self, at: float, method: str, cache_result: int) -> None:
        service = _service_of(method)
        if cache_result == run_pb2.CACHE_RESULT_HIT:
            self.records.append(_Record(at, service, "cache_hit", method))
            return
        self.records.append(_Record(at, service, "attempt_ok", method))
        if cache_result == run_pb2.CACHE_RESULT_MISS:
            self.records.append(_Record(at, service, "cache_miss", method))

    def attempt_failed(
        self,
        at: float,
        method: str,
        error: status_pb2.Status,
        *,
        retried: bool,
        attempted: bool = True,
        throttled: bool = False,
    ) -> None:
        service = _service_of(method)
        code = status_code_of(error.code).name if is_status_code(error.code) else str(error.code)
        reason = error_reason(error)
        # No backend call: bad input, spent deadline budget, open circuit, full bulkhead.
        kind = "attempt_failed" if attempted and reason not in _NO_CALL else "failed"
        self.records.append(_Record(at, service, kind, method, code, reason))
        if reason == CIRCUIT_OPEN:
            self.records.append(_Record(at, service, "rejected", method))
        if retried:
            self.records.append(_Record(at, service, "retry", method))
        if throttled:
            self.records.append(_Record(at, service, "throttled", method))

    def report(self, response: orchestrator_pb2.GetAnalyticsResponse, *, since: float) -> None:
        records = [r for r in self.records if r.at >= since]
        groups = Counter(
            (r.service, r.method, r.code, r.reason)
            for r in records
            if r.kind in ("attempt_failed", "failed")
        )
        for (service, method, code, reason), count in sorted(
            groups.items(), key=lambda item: (-item[1], item[0])
        ):
            response.failures.add(
                service=service, method=method, code=code, reason=reason, count=count
            )
        per_service: dict[str, Counter[str]] = {}
        for record in records:
            per_service.setdefault(record.service, Counter())[record.kind] += 1
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


def _service_of(method: str) -> str:
    return method.partition("/")[0]
