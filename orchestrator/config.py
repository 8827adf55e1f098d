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
    # Full service name -> addresses ("host:port"), several for replicas.
    service_addresses: dict[str, list[str]] = field(default_factory=default_service_addresses)
    shutdown_grace_s: float = 5.0
    log_level: str = "INFO"

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def database_path(self) -> Path:
        return self.data_dir / "aura.db"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Reads AURA_HOST, AURA_PORT, AURA_DATA_DIR, AURA_DURABILITY, AURA_LOG_LEVEL,
        AURA_SHUTDOWN_GRACE_S and AURA_SERVICE_<SHORT>_ADDRESSES (comma-separated),
        e.g. AURA_SERVICE_NLU_ADDRESSES=127.0.0.1:8002,127.0.0.1:9002."""
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
            service_addresses=addresses,
            shutdown_grace_s=float(env.get("AURA_SHUTDOWN_GRACE_S", base.shutdown_grace_s)),
            log_level=env.get("AURA_LOG_LEVEL", base.log_level),
        )

    def describe(self) -> dict[str, object]:
        return {f.name: getattr(self, f.name) for f in fields(self)}
