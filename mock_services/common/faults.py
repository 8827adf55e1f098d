"""Injectable faults: server-wide `FaultConfig` and the per-request `aura-fault` header.

Header syntax (directives separated by `;` or `,`, whitespace ignored, keys case-insensitive):

    code=UNAVAILABLE                  fail with that status code
    error_rate=0.5                    fail half of the calls (code from the server config)
    code=INTERNAL; error_rate=0.25    fail a quarter of the calls with INTERNAL
    latency_ms=200; jitter_ms=50      answer after 200..250 ms
    hang                              never answer; the client's deadline or cancel ends it
    code=UNAVAILABLE; pushback_ms=300 also send `grpc-retry-pushback-ms: 300`

A directive overrides the server's setting of the same name for that one call; `code=` without
`error_rate=` means every call fails. Anything else (unknown key, bad value, duplicate key) is
malformed, and the call ends with INVALID_ARGUMENT.
"""

from __future__ import annotations

import os
import random
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

import grpc

FAULT_HEADER = "aura-fault"
ENV_PREFIX = "AURA_MOCK_"

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class FaultSyntaxError(ValueError):
    """A malformed `aura-fault` header or fault setting."""


def parse_status_code(name: str) -> grpc.StatusCode:
    """A non-OK status code from its name, e.g. "unavailable" or "DEADLINE_EXCEEDED"."""
    try:
        code = grpc.StatusCode[name.strip().upper()]
    except KeyError:
        raise FaultSyntaxError(f"unknown status code {name!r}") from None
    if code is grpc.StatusCode.OK:
        raise FaultSyntaxError("OK is not an error code")
    return code


@dataclass
class FaultConfig:
    """Faults a server injects into every call of its service (not into health or reflection).

    Mutable on purpose: tests change a running server's faults, which apply from the next call.
    """

    latency_ms: float = 0.0
    """Fixed delay before answering."""
    jitter_ms: float = 0.0
    """Extra random delay, uniform in [0, jitter_ms]."""
    error_rate: float = 0.0
    """Share of calls, 0..1, that fail with `error_code` (after the delay)."""
    error_code: grpc.StatusCode = grpc.StatusCode.UNAVAILABLE
    hang: bool = False
    """Never answer; the call ends only by the client's deadline or cancellation."""
    fail_next: int = 0
    """The next N calls fail with `error_code`, whatever the error rate: deterministic retries."""
    retry_pushback_ms: int | None = None
    """Sent as `grpc-retry-pushback-ms` trailing metadata with injected errors."""
    slow_start_s: float = 0.0
    """For this long after start, health says NOT_SERVING and calls get UNAVAILABLE."""
    health_flap_s: float = 0.0
    """When > 0, health flips between SERVING and NOT_SERVING every this many seconds."""
    not_serving: bool = False
    """Start with health NOT_SERVING (calls are still answered)."""

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        if self.latency_ms < 0 or self.jitter_ms < 0:
            raise FaultSyntaxError("latency_ms and jitter_ms must not be negative")
        if not 0.0 <= self.error_rate <= 1.0:
            raise FaultSyntaxError("error_rate must be between 0 and 1")
        if self.error_code is grpc.StatusCode.OK:
            raise FaultSyntaxError("error_code must not be OK")
        if self.fail_next < 0 or self.slow_start_s < 0 or self.health_flap_s < 0:
            raise FaultSyntaxError("fail_next, slow_start_s and health_flap_s must not be negative")
        if self.retry_pushback_ms is not None and self.retry_pushback_ms < 0:
            raise FaultSyntaxError("retry_pushback_ms must not be negative")

    def copy(self) -> FaultConfig:
        return replace(self)

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, service: str | None = None
    ) -> FaultConfig:
        """Reads `AURA_MOCK_<SETTING>`, then `AURA_MOCK_<SERVICE>_<SETTING>` which wins.

        Settings: LATENCY_MS, JITTER_MS, ERROR_RATE, ERROR_CODE, HANG, RETRY_PUSHBACK_MS,
        SLOW_START_S, HEALTH_FLAP_S, NOT_SERVING.
        """
        env = os.environ if env is None else env
        prefixes = [ENV_PREFIX] + ([f"{ENV_PREFIX}{service.upper()}_"] if service else [])
        values: dict[str, str] = {}
        for prefix in prefixes:
            for setting in _ENV_SETTINGS:
                key = prefix + setting.upper()
                if key in env:
                    values[setting] = env[key]
        return cls.from_settings(values, source="environment")

    @classmethod
    def from_settings(cls, values: Mapping[str, str], source: str = "settings") -> FaultConfig:
        """Builds a config from textual settings, e.g. {"error_rate": "0.2"}."""
        config = cls()
        for setting, text in values.items():
            try:
                setattr(config, setting, _ENV_SETTINGS[setting](text))
            except (ValueError, KeyError) as error:
                raise FaultSyntaxError(f"{source}: bad {setting} {text!r}: {error}") from None
        config.validate()
        return config


def _parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError("expected true or false")


def _parse_optional_int(text: str) -> int | None:
    return int(text) if text.strip() else None


_ENV_SETTINGS: dict[str, Callable[[str], object]] = {
    "latency_ms": float,
    "jitter_ms": float,
    "error_rate": float,
    "error_code": parse_status_code,
    "hang": _parse_bool,
    "retry_pushback_ms": _parse_optional_int,
    "slow_start_s": float,
    "health_flap_s": float,
    "not_serving": _parse_bool,
}


@dataclass(frozen=True)
class RequestFaults:
    """The overrides one `aura-fault` header asks for; None means "use the server's setting"."""

    latency_ms: float | None = None
    jitter_ms: float | None = None
    error_rate: float | None = None
    error_code: grpc.StatusCode | None = None
    hang: bool | None = None
    pushback_ms: int | None = None


_DIRECTIVE = re.compile(r"^([a-z_]+)\s*(?:=\s*(\S.*?))?$")


def parse_fault_header(header: str) -> RequestFaults:
    """Parses an `aura-fault` header value; raises FaultSyntaxError when it is malformed."""
    fields: dict[str, object] = {}
    directives = [part.strip() for part in re.split(r"[;,]", header)]
    if not any(directives):
        raise FaultSyntaxError("empty header")
    for directive in directives:
        match = _DIRECTIVE.match(directive.lower())
        if not match:
            raise FaultSyntaxError(f"malformed directive {directive!r}")
        key, value = match.group(1), match.group(2)
        field_name, parsed = _parse_directive(key, value)
        if field_name in fields:
            raise FaultSyntaxError(f"duplicate directive {key!r}")
        fields[field_name] = parsed
    return RequestFaults(**fields)  # type: ignore[arg-type]


def _parse_directive(key: str, value: str | None) -> tuple[str, object]:
    if key == "hang":
        return "hang", True if value is None else _parse_bool_directive(value)
    if value is None:
        raise FaultSyntaxError(f"directive {key!r} needs a value, e.g. {key}=1")
    try:
        if key == "code":
            return "error_code", parse_status_code(value)
        if key == "error_rate":
            rate = float(value)
            if not 0.0 <= rate <= 1.0:
                raise FaultSyntaxError("error_rate must be between 0 and 1")
            return "error_rate", rate
        if key in ("latency_ms", "jitter_ms"):
            delay = float(value)
            if not 0.0 <= delay <= 600_000:
                raise FaultSyntaxError(f"{key} must be between 0 and 600000")
            return key, delay
        if key == "pushback_ms":
            pushback = int(value)
            if pushback < 0:
                raise FaultSyntaxError("pushback_ms must not be negative")
            return "pushback_ms", pushback
    except ValueError as error:
        if isinstance(error, FaultSyntaxError):
            raise
        raise FaultSyntaxError(f"bad value {value!r} for {key!r}") from None
    raise FaultSyntaxError(f"unknown directive {key!r}")


def _parse_bool_directive(value: str) -> bool:
    try:
        return _parse_bool(value)
    except ValueError:
        raise FaultSyntaxError(f"bad value {value!r} for 'hang'") from None


@dataclass(frozen=True)
class FaultPlan:
    """What happens to one call, decided before the servicer runs."""

    delay_s: float = 0.0
    hang: bool = False
    error_code: grpc.StatusCode | None = None
    pushback_ms: int | None = None


def plan_faults(
    config: FaultConfig, request: RequestFaults | None, rng: random.Random
) -> FaultPlan:
    """Decides one call's faults from the server config and the call's header.

    Consumes one of `config.fail_next` when the call is to fail that way.
    """
    request = request or RequestFaults()
    latency_ms = config.latency_ms if request.latency_ms is None else request.latency_ms
    jitter_ms = config.jitter_ms if request.jitter_ms is None else request.jitter_ms
    delay_ms = latency_ms + (rng.uniform(0.0, jitter_ms) if jitter_ms > 0 else 0.0)
    hang = config.hang if request.hang is None else request.hang

    code = request.error_code or config.error_code
    if request.error_rate is not None:
        error_rate = request.error_rate
    elif request.error_code is not None:
        error_rate = 1.0
    else:
        error_rate = config.error_rate
    fails = error_rate > 0 and rng.random() < error_rate
    if not fails and config.fail_next > 0 and request.error_rate is None:
        config.fail_next -= 1
        fails = True
    pushback = request.pushback_ms if request.pushback_ms is not None else config.retry_pushback_ms
    return FaultPlan(
        delay_s=delay_ms / 1000.0,
        hang=hang,
        error_code=code if fails else None,
        pushback_ms=pushback if fails else None,
    )
