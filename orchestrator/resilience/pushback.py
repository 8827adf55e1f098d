"""Server pushback (gRFC A6): how long the server asks us to wait before retrying.

`grpc-retry-pushback-ms` trailing metadata wins; otherwise a google.rpc.RetryInfo
in the status details counts as the same request. A6: a negative or unparsable
trailer value means "do not retry", which `parse_pushback` reports as
`STOP_RETRYING` (a negative number).
"""

from __future__ import annotations

from collections.abc import Iterable

from google.rpc import status_pb2

from orchestrator.resilience.status_details import retry_info_delay_s

PUSHBACK_HEADER = "grpc-retry-pushback-ms"
STOP_RETRYING = -1.0


def parse_pushback(
    trailing_metadata: Iterable[tuple[str, str | bytes]] | None, status: status_pb2.Status
) -> float | None:
    """Pushback in seconds; None when the server asked nothing; STOP_RETRYING (< 0)
    when it said not to retry."""
    for key, value in trailing_metadata or ():
        if key.lower() != PUSHBACK_HEADER:
            continue
        text = value.decode() if isinstance(value, bytes) else value
        try:
            millis = int(text.strip())
        except ValueError:
            return STOP_RETRYING
        return STOP_RETRYING if millis < 0 else millis / 1000.0
    return retry_info_delay_s(status)
