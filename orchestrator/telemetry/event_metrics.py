"""Counters, gauges and histograms updated for every committed run event, read when scraped.

A prometheus_client metric takes a lock on every update, and a histogram also walks its
buckets in Python; with about 15 updates per run, that was 5% of the orchestrator's CPU
per run at c=100 (the commit listener on and off, same machine). These keep plain numbers
per label set, updated on the event loop thread only, and hand prometheus_client ready
families at scrape time (`EventMetricsCollector`, a custom collector): names, exposition,
the registry and the HTTP endpoint stay the library's. A scrape runs on the HTTP thread;
it copies each table in one C call (atomic under the GIL), so it sees every update made
before it, and at worst half of one made meanwhile (a bucket counted, its sum not yet).
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Iterable, Iterator, Sequence

from prometheus_client import CollectorRegistry
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

Labels = tuple[str, ...]


class EventCounter:
    """A counter family; `inc(labels)` with the label values in `labelnames` order."""

    def __init__(self, name: str, documentation: str, labelnames: Sequence[str] = ()) -> None:
        self.name = name
        self.documentation = documentation
        self.labelnames = tuple(labelnames)
        self._values: dict[Labels, float] = {}
        self._created: dict[Labels, float] = {}

    def inc(self, labels: Labels = (), amount: float = 1.0) -> None:
        value = self._values.get(labels)
        if value is None:
            self._created[labels] = time.time()
            value = 0.0
        self._values[labels] = value + amount

    def collect(self) -> Metric:
        family = CounterMetricFamily(self.name, self.documentation, labels=self.labelnames)
        created = dict(self._created)
        for labels, value in list(self._values.items()):
            family.add_metric(labels, value, created=created.get(labels))
        return family


class EventGauge:
    """A gauge family moved up and down (`inc`/`dec`)."""

    def __init__(self, name: str, documentation: str, labelnames: Sequence[str] = ()) -> None:
        self.name = name
        self.documentation = documentation
        self.labelnames = tuple(labelnames)
        self._values: dict[Labels, float] = {}

    def inc(self, labels: Labels = (), amount: float = 1.0) -> None:
        self._values[labels] = self._values.get(labels, 0.0) + amount

    def dec(self, labels: Labels = (), amount: float = 1.0) -> None:
        self._values[labels] = self._values.get(labels, 0.0) - amount

    def collect(self) -> Metric:
        family = GaugeMetricFamily(self.name, self.documentation, labels=self.labelnames)
        for labels, value in list(self._values.items()):
            family.add_metric(labels, value)
        return family


class EventHistogram:
    """A histogram family with fixed `buckets` (upper bounds, ascending, +Inf implied)."""

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Sequence[str] = (),
        *,
        buckets: Sequence[float],
    ) -> None:
        self.name = name
        self.documentation = documentation
        self.labelnames = tuple(labelnames)
        self._bounds = tuple(float(bound) for bound in buckets)
        if list(self._bounds) != sorted(set(self._bounds)):
            raise ValueError(f"{name}: buckets must be ascending and distinct")
        self._bound_texts = [*(_bound_text(bound) for bound in self._bounds), "+Inf"]
        # Per label set: one count per bucket (the last is +Inf), then the sum.
        self._series: dict[Labels, list[float]] = {}
        self._created: dict[Labels, float] = {}

    def observe(self, value: float, labels: Labels = ()) -> None:
        series = self._series.get(labels)
        if series is None:
            series = self._series[labels] = [0.0] * (len(self._bounds) + 2)
            self._created[labels] = time.time()
        # Prometheus buckets are "less than or equal": the first bound >= value.
        series[bisect.bisect_left(self._bounds, value)] += 1
        series[-1] += value

    def collect(self) -> Metric:
        family = HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)
        created = dict(self._created)
        bounds = self._bound_texts
        for labels, series in list(self._series.items()):
            counts = list(series)
            cumulative: list[tuple[str, float]] = []
            total = 0.0
            for bound, count in zip(bounds, counts[:-1], strict=True):
                total += count
                cumulative.append((bound, total))
            family.add_metric(labels, cumulative, sum_value=counts[-1])
            if labels in created:  # as prometheus_client's own Histogram exposes it
                family.add_sample(
                    f"{self.name}_created",
                    dict(zip(self.labelnames, labels, strict=True)),
                    created[labels],
                )
        return family


EventMetric = EventCounter | EventGauge | EventHistogram


class EventMetricsCollector(Collector):
    """Exposes `metrics` through a prometheus_client registry."""

    def __init__(self, metrics: Iterable[EventMetric], registry: CollectorRegistry) -> None:
        self._metrics = tuple(metrics)
        registry.register(self)

    def collect(self) -> Iterator[Metric]:
        for metric in self._metrics:
            yield metric.collect()

    def describe(self) -> Iterator[Metric]:
        """Names only (no samples), so the registry can refuse a duplicate at register."""
        for metric in self._metrics:
            if isinstance(metric, EventCounter):
                yield Metric(metric.name.removesuffix("_total"), metric.documentation, "counter")
            elif isinstance(metric, EventGauge):
                yield Metric(metric.name, metric.documentation, "gauge")
            else:
                yield Metric(metric.name, metric.documentation, "histogram")


def _bound_text(bound: float) -> str:
    """The `le` label as prometheus_client writes it: 0.5, 1.0, 2.5..."""
    return str(floatToGoString(bound))  # type: ignore[no-untyped-call]
