"""Retry budget per service: gRFC A6 retry throttling, a token bucket.

Tokens start at `max_tokens`. Every failed attempt that counts (a retryable
code) takes one token, every success gives back `token_ratio`, never above the
maximum. Retries are allowed only while tokens > max_tokens / 2, so a sick
backend stops being hammered by retries while first attempts still go out.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RetryThrottleSettings:
    max_tokens: float = 20.0
    token_ratio: float = 1.0

    def __post_init__(self) -> None:
        if self.max_tokens <= 0 or self.token_ratio <= 0:
            raise ValueError("max_tokens and token_ratio must be positive")


class RetryThrottle:
    def __init__(self, settings: RetryThrottleSettings | None = None) -> None:
        self.settings = settings or RetryThrottleSettings()
        self.tokens = self.settings.max_tokens

    @property
    def max_tokens(self) -> float:
        return self.settings.max_tokens

    def record_failure(self) -> None:
        self.tokens = max(0.0, self.tokens - 1.0)

    def record_success(self) -> None:
        self.tokens = min(self.settings.max_tokens, self.tokens + self.settings.token_ratio)

    def allows_retry(self) -> bool:
        return self.tokens > self.settings.max_tokens / 2
