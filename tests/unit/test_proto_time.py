"""The hot-path timestamp and duration helpers agree with protobuf's own conversions."""

from __future__ import annotations

import time

import pytest
from google.protobuf import duration_pb2, timestamp_pb2

from orchestrator.proto_time import duration_of, seconds_of, stamp_now


def test_stamp_now_is_the_wall_clock_to_the_nanosecond() -> None:
    before = time.time_ns()
    stamped = timestamp_pb2.Timestamp()
    stamp_now(stamped)
    after = time.time_ns()

    assert before <= stamped.ToNanoseconds() <= after
    assert 0 <= stamped.nanos < 1_000_000_000


@pytest.mark.parametrize("seconds", [0.0, 1e-9, 0.0205, 1.5, 3.0, 86_400.25, -0.25, -3.5])
def test_duration_of_matches_from_nanoseconds(seconds: float) -> None:
    expected = duration_pb2.Duration()
    expected.FromNanoseconds(int(seconds * 1e9))

    assert duration_of(seconds) == expected


def test_seconds_of_reads_timestamps_and_durations() -> None:
    stamped = timestamp_pb2.Timestamp(seconds=1_796_000_000, nanos=250_000_000)
    assert seconds_of(stamped) == pytest.approx(stamped.ToNanoseconds() / 1e9, abs=1e-6)
    assert seconds_of(duration_pb2.Duration(seconds=2, nanos=500_000_000)) == 2.5
    assert seconds_of(duration_pb2.Duration()) == 0.0
