"""Typed settings, read from `AURA_*` environment variables.

Defaults run on a laptop: the orchestrator on 127.0.0.1:8006, the five mock
services on 8001-8005, SQLite under ./.aura.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Literal

from orchestrator.resilience import BreakerSettings, RetryThrottleSettings, ServicePolicy
from orchestrator.telemetry.settings import TelemetrySettings

# Service full name -> (short name, default port). Ports follow the original design.
DEFAULT_SERVICES: dict[str, tuple[str, int]] = {
    "aura.image.v1.ImageProcessingService": ("image", 8001),
    "aura.nlu.v1.NluService": ("nlu", 8002),
    "aura.style.v1.StyleProfileService": ("style", 8003),
    "aura.combination.v1.CombinationEngineService": ("combination", 8004),
    "aura.recommendation.v1.RecommendationEngineService": ("recommendation", 8005),
}


def default_service_addresses(host: str = "127.0.0.1") -> dict[str, list[str]]:
    return {service: [f"{host}:{port}"] for service, (_, port) in DEFAULT_SERVICES.items()}


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8006
    data_dir: Path = Path(".aura")
    # "normal": survives a killed process (WAL, synchronous=NORMAL);
    # "fsync": also survives power loss (synchronous=FULL).
    durability: Literal["normal", "fsync"] = "normal"
    # How long a progress event may wait for others to share its commit (see the store).
    store_linger_ms: float = 5.0
    # Finished runs are deleted with their events this long after they end; 0 keeps them
    # (AURA_RUN_RETENTION_S).
    run_retention_s: float = 7 * 24 * 3600.0
    # Full service name -> addresses ("host:port"), several for replicas.
    service_addresses: dict[str, list[str]] = field(default_factory=default_service_addresses)
    shutdown_grace_s: float = 5.0
    # Metrics endpoint, log format and level, tracing (AURA_METRICS_PORT, AURA_LOG_*, ...).
    telemetry: TelemetrySettings = field(default_factory=TelemetrySettings)
    # Admission: runs executing at once; beyond it Start answers RESOURCE_EXHAUSTED.
    max_active_runs: int = 1000
    # Response cache (steps that opt in with `cache`): entries kept, oldest evicted.
    response_cache_max_entries: int = 1024
    # Retry defaults, retry budget, circuit breaker and bulkhead of every service...
    default_service_policy: ServicePolicy = field(default_factory=ServicePolicy)
    # ...unless overridden here, by full service name.
    service_policies: dict[str, ServicePolicy] = field(default_factory=dict)

    def policy_for(self, service: str) -> ServicePolicy:
        return self.service_policies.get(service, self.default_service_policy)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def database_path(self) -> Path:
        return self.data_dir / "aura.db"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Reads AURA_HOST, AURA_PORT, AURA_DATA_DIR, AURA_DURABILITY, AURA_STORE_LINGER_MS,
        AURA_SHUTDOWN_GRACE_S and AURA_SERVICE_<SHORT>_ADDRESSES (comma-separated),
        e.g. AURA_SERVICE_NLU_ADDRESSES=127.0.0.1:8002,127.0.0.1:9002; resilience:
        AURA_MAX_ACTIVE_RUNS, AURA_RESPONSE_CACHE_MAX_ENTRIES, AURA_MAX_IN_FLIGHT_PER_SERVICE,
        AURA_RETRY_MAX_TOKENS, AURA_RETRY_TOKEN_RATIO, AURA_BREAKER_CONSECUTIVE_FAILURES,
        AURA_BREAKER_FAILURE_RATE, AURA_BREAKER_BASE_OPEN_S, AURA_BREAKER_MAX_OPEN_S."""
        env = os.environ if env is None else env
        base = cls()
        addresses = default_service_addresses()
        for service, (short, _) in DEFAULT_SERVICES.items():
            raw = env.get(f"AURA_SERVICE_{short.upper()}_ADDRESSES")
            if raw:
                addresses[service] = [a.strip() for a in raw.split(",") if a.strip()]
        durability = env.get("AURA_DURABILITY", base.durability)
        if durability not in ("normal", "fsync"):
            raise ValueError(f"AURA_DURABILITY must be 'normal' or 'fsync', not {durability!r}")
        return cls(
            host=env.get("AURA_HOST", base.host),
            port=int(env.get("AURA_PORT", base.port)),
            data_dir=Path(env.get("AURA_DATA_DIR", str(base.data_dir))),
            durability=durability,  # type: ignore[arg-type]
            store_linger_ms=float(env.get("AURA_STORE_LINGER_MS", base.store_linger_ms)),
            run_retention_s=float(env.get("AURA_RUN_RETENTION_S", base.run_retention_s)),
            service_addresses=addresses,
            shutdown_grace_s=float(env.get("AURA_SHUTDOWN_GRACE_S", base.shutdown_grace_s)),
            telemetry=TelemetrySettings.from_env(env),
            max_active_runs=int(env.get("AURA_MAX_ACTIVE_RUNS", base.max_active_runs)),
            response_cache_max_entries=int(
                env.get("AURA_RESPONSE_CACHE_MAX_ENTRIES", base.response_cache_max_entries)
            ),
            default_service_policy=_service_policy_from_env(env, base.default_service_policy),
        )

    def describe(self) -> dict[str, object]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def _service_policy_from_env(env: Mapping[str, str], base: ServicePolicy) -> ServicePolicy:
    throttle, breaker = base.retry_throttle, base.breaker
    return ServicePolicy(
        retry=base.retry,
        retry_throttle=RetryThrottleSettings(
            max_tokens=float(env.get("AURA_RETRY_MAX_TOKENS", throttle.max_tokens)),
            token_ratio=float(env.get("AURA_RETRY_TOKEN_RATIO", throttle.token_ratio)),
        ),
        breaker=BreakerSettings(
            consecutive_failures=int(
                env.get("AURA_BREAKER_CONSECUTIVE_FAILURES", breaker.consecutive_failures)
            ),
            failure_rate=float(env.get("AURA_BREAKER_FAILURE_RATE", breaker.failure_rate)),
            window_s=breaker.window_s,
            min_calls=breaker.min_calls,
            base_open_s=float(env.get("AURA_BREAKER_BASE_OPEN_S", breaker.base_open_s)),
            max_open_s=float(env.get("AURA_BREAKER_MAX_OPEN_S", breaker.max_open_s)),
            streak_reset_s=breaker.streak_reset_s,
        ),
        max_in_flight=int(env.get("AURA_MAX_IN_FLIGHT_PER_SERVICE", base.max_in_flight)),
    )
