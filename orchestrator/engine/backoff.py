"""Retry delays: kept here for existing imports; the logic lives in orchestrator.resilience."""

from orchestrator.resilience.backoff import JITTER_HIGH, JITTER_LOW, backoff_delay_s

__all__ = ["JITTER_HIGH", "JITTER_LOW", "backoff_delay_s"]
