"""A bounded window of recent latencies with percentile queries."""

from __future__ import annotations

from collections import deque


class LatencyWindow:
    """Keeps the newest `size` samples; percentiles by nearest rank."""

    def __init__(self, size: int = 1024) -> None:
        self._samples: deque[float] = deque(maxlen=size)

    def add(self, seconds: float) -> None:
        self._samples.append(seconds)

    def percentile(self, q: float) -> float:
        if not self._samples:
            return 0.0
        ordered = sorted(self._samples)
        rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
        return ordered[rank]

    def __len__(self) -> int:
        return len(self._samples)
