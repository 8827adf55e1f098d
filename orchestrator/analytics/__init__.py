"""Run and step analytics for GetAnalytics."""

from orchestrator.analytics.recorder import AnalyticsRecorder

__all__ = ["AnalyticsRecorder"]
