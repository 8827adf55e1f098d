"""GetAnalytics: figures and optimization advice from the stored histories of finished
runs (every replica's, across restarts), plus this replica's live breaker trips."""

from orchestrator.analytics.advice import LiveBreakers
from orchestrator.analytics.recorder import AnalyticsRecorder
from orchestrator.analytics.store_analytics import (
    MAX_ANALYZED_RUNS,
    MAX_COUNTED_RUNS,
    StoreAnalytics,
    WorkflowLookup,
)

__all__ = [
    "MAX_ANALYZED_RUNS",
    "MAX_COUNTED_RUNS",
    "AnalyticsRecorder",
    "LiveBreakers",
    "StoreAnalytics",
    "WorkflowLookup",
]
