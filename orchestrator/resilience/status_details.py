"""Reading and building google.rpc.Status details for resilience decisions.

The breaker's fail-fast error is built here as a google.rpc.Status (not an
AuraError) because it lands on a step's error in the run history, exactly like
a backend's own status would.
"""

from __future__ import annotations

from google.rpc import code_pb2, error_details_pb2, status_pb2

from orchestrator.errors import AuraError, status_code_of

CIRCUIT_OPEN = "CIRCUIT_OPEN"
DEADLINE_BUDGET_SPENT = "DEADLINE_BUDGET_SPENT"
BULKHEAD_FULL = "BULKHEAD_FULL"


def error_reason(status: status_pb2.Status) -> str:
    """The ErrorInfo reason among the status details, or "" when there is none."""
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return str(info.reason)
    return ""


def retry_info_delay_s(status: status_pb2.Status) -> float | None:
    """The RetryInfo.retry_delay among the status details, in seconds, if any."""
    for detail in status.details:
        if detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            info = error_details_pb2.RetryInfo()
            detail.Unpack(info)
            return float(info.retry_delay.ToNanoseconds()) / 1e9
    return None


def orchestrator_status(
    code: int,
    message: str,
    *,
    reason: str,
    metadata: dict[str, str] | None = None,
    retry_after_s: float | None = None,
) -> status_pb2.Status:
    """A status with ErrorInfo (domain orchestrator.aura) and, if given, RetryInfo."""
    error = AuraError(
        message,
        code=status_code_of(code),
        reason=reason,
        metadata=metadata,
        retry_after_s=retry_after_s,
    )
    return error.to_status()


def circuit_open_status(service: str, retry_after_s: float) -> status_pb2.Status:
    """UNAVAILABLE + RetryInfo + ErrorInfo(CIRCUIT_OPEN): what a call gets while open."""
    return orchestrator_status(
        code_pb2.UNAVAILABLE,
        f"circuit open for {service}: every endpoint is failing or not serving; "
        f"retry in {retry_after_s:.3f}s",
        reason=CIRCUIT_OPEN,
        metadata={"service": service},
        retry_after_s=retry_after_s,
    )
