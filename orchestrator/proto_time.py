"""Protobuf timestamps and durations on the hot path, without `FromNanoseconds` and
`ToNanoseconds`: those check the range in Python on every call, and the engine stamps
every event. The values here are in range by construction (the clock, a timeout, a
measured latency); anything else goes through protobuf's own methods."""

from __future__ import annotations

import time

from google.protobuf import duration_pb2, timestamp_pb2

_NANOS_PER_SECOND = 1_000_000_000


def stamp_now(timestamp: timestamp_pb2.Timestamp) -> None:
    """Sets `timestamp` to the wall clock's now."""
    timestamp.seconds, timestamp.nanos = divmod(time.time_ns(), _NANOS_PER_SECOND)


def duration_of(seconds: float) -> duration_pb2.Duration:
    """A Duration of `seconds` (to the nanosecond, truncated)."""
    value = duration_pb2.Duration()
    nanos = int(seconds * 1e9)
    if 0 <= nanos < 10**18:  # non-negative: seconds and nanos both >= 0, as Duration wants
        value.seconds, value.nanos = divmod(nanos, _NANOS_PER_SECOND)
    else:
        value.FromNanoseconds(nanos)  # negative or huge: protobuf's signs and range check
    return value


def seconds_of(value: timestamp_pb2.Timestamp | duration_pb2.Duration) -> float:
    """A timestamp (seconds since the epoch) or a duration in seconds, as a float."""
    return value.seconds + value.nanos * 1e-9
