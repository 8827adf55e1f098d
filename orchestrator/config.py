"""Typed settings, read from `AURA_*` environment variables (VARIABLES, one entry each).

Defaults run on a laptop: the orchestrator on 127.0.0.1:8006, the five mock
services on 8001-8005, SQLite under ./.aura.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from orchestrator.envvars import (
    ADDRESSES,
    PATH,
    PORT,
    REDIS_URL,
    STORE_URL,
    TEXT,
    EnvVar,
    Kind,
    SettingsError,
    choice,
    integer,
    jsonable,
    markdown_table,
    number,
    port_or_off,
    read,
    redact_url,
    unknown_names,
    value_at,
)
from orchestrator.names import DEFAULT_SERVICES
from orchestrator.resilience import ServicePolicy
from orchestrator.telemetry import (
    DEFAULT_METRICS_PORT,
    TELEMETRY_VARIABLES,
    TelemetrySettings,
)

__all__ = [
    "DEFAULT_SERVICES",
    "VARIABLES",
    "Settings",
    "SettingsError",
    "default_service_addresses",
    "settings_table",
    "unknown_variables",
]


def default_service_addresses(host: str = "127.0.0.1") -> dict[str, list[str]]:
    return {service: [f"{host}:{port}"] for service, (_, port) in DEFAULT_SERVICES.items()}


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8006
    data_dir: Path = Path(".aura")
    # TLS on the orchestrator's port: PEM certificate and key files (both or neither), re-read
    # when they change; with tls_client_ca, callers must present a certificate it signed.
    tls_cert: str = ""
    tls_key: str = ""
    tls_client_ca: str = ""
    # mTLS to the backend services: set mesh_tls_ca and every backend link uses TLS, each
    # service verified against its identity (`<short>.aura`, see orchestrator.mesh.mesh_tls);
    # mesh_tls_cert/key: the client certificate presented to them (both or neither).
    mesh_tls_ca: str = ""
    mesh_tls_cert: str = ""
    mesh_tls_key: str = ""
    # Empty: the embedded SQLite store under data_dir. A postgresql:// URL: a store shared
    # by every replica that names it (AURA_STORE_URL).
    store_url: str = ""
    # Who this replica is in a shared store; empty: host name, process id and a random part.
    replica_id: str = ""
    # Empty: no event bus (no EventService, triggers, outbox relay). A redis:// URL: the
    # Redis whose streams carry the events (AURA_REDIS_URL).
    redis_url: str = ""
    # A replica whose heartbeat is older than this loses its runs to the live ones.
    replica_lease_s: float = 5.0
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
    # AURA_SHUTDOWN_DELAY_S: on SIGTERM, how long health says NOT_SERVING while calls are
    # still accepted, before the drain: time for probes and balancers to move away.
    shutdown_delay_s: float = 0.0
    # Bearer tokens: with auth_key_file set, every call but health's needs a JWT verified
    # against it (a PEM public key or a JWKS file), issued by auth_issuer for auth_audience.
    auth_key_file: str = ""
    auth_issuer: str = "aura"
    auth_audience: str = "aura-orchestrator"
    # A second, plaintext port serving only grpc.health.v1 (None: off): Kubernetes' gRPC
    # probes speak no TLS, so with TLS on the main port they need this one.
    health_port: int | None = None
    # Metrics endpoint, log format and level, tracing (AURA_METRICS_PORT, AURA_LOG_*, ...).
    telemetry: TelemetrySettings = field(default_factory=TelemetrySettings)
    # Admission: runs executing at once; beyond it new runs wait in the durable run queue.
    max_active_runs: int = 1000
    # The run queue's bound: with this many runs QUEUED, Start answers RESOURCE_EXHAUSTED
    # (reason QUEUE_FULL).
    max_queued_runs: int = 100_000
    # Response cache (steps that opt in with `cache`): entries kept, oldest evicted.
    response_cache_max_entries: int = 1024
    # Retry defaults, retry budget, circuit breaker and bulkhead of every service...
    default_service_policy: ServicePolicy = field(default_factory=ServicePolicy)
    # ...unless overridden here, by full service name.
    service_policies: dict[str, ServicePolicy] = field(default_factory=dict)
    # The web console and HTTP/JSON gateway (orchestrator/gateway), "host:port"; "" (off):
    # none. `aura up` and `aura demo` serve it, `aura serve --console` too.
    console_address: str = "127.0.0.1:8080"
    # The serving process's full garbage collections: on this clock, not as the heap grows
    # (orchestrator.gc_pacing); 0: CPython's own policy.
    gc_full_interval_s: float = 300.0

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
        """The defaults with every variable of VARIABLES that `env` (default: os.environ)
        sets; SettingsError names each bad one and what it expects."""
        env = os.environ if env is None else env
        settings = read(environment_defaults(), VARIABLES, env)
        if bool(settings.tls_cert) != bool(settings.tls_key):
            raise SettingsError(["AURA_TLS_CERT and AURA_TLS_KEY: set both or neither"])
        if settings.tls_client_ca and not settings.tls_cert:
            raise SettingsError(["AURA_TLS_CLIENT_CA: needs AURA_TLS_CERT and AURA_TLS_KEY"])
        if settings.auth_key_file and not (settings.auth_issuer and settings.auth_audience):
            raise SettingsError(
                ["AURA_AUTH_ISSUER and AURA_AUTH_AUDIENCE: needed with AURA_AUTH_KEY_FILE"]
            )
        if bool(settings.mesh_tls_cert) != bool(settings.mesh_tls_key):
            raise SettingsError(["AURA_MESH_TLS_CERT and AURA_MESH_TLS_KEY: set both or neither"])
        if settings.mesh_tls_cert and not settings.mesh_tls_ca:
            raise SettingsError(
                ["AURA_MESH_TLS_CERT: needs AURA_MESH_TLS_CA (the CA of the services' certs)"]
            )
        return settings

    def describe(self) -> dict[str, object]:
        """The effective value of every variable, as JSON values (what `aura config` prints)."""
        shown = {var.name: jsonable(value_at(self, var.path)) for var in VARIABLES}
        shown["AURA_STORE_URL"] = redact_url(self.store_url)
        shown["AURA_REDIS_URL"] = redact_url(self.redis_url)
        return shown


def environment_defaults() -> Settings:
    """What an empty environment gives: the bare defaults plus the metrics endpoint on."""
    return Settings(telemetry=TelemetrySettings(metrics_port=DEFAULT_METRICS_PORT))


_BREAKER = ("default_service_policy", "breaker")
_THROTTLE = ("default_service_policy", "retry_throttle")


# Every AURA_* variable the orchestrator reads: name, the Settings attribute it sets, its
# kind and meaning. A new setting is a Settings field plus one entry here, e.g.
#     EnvVar("AURA_RUN_RETENTION_S", ("run_retention_s",), number(), "how long ... kept"),
# the parsing, the unknown-name warning, `aura config` and the README table
# (`aura config --markdown`, kept in sync by a test) follow from this list.
def _console_address(text: str) -> str:
    """ "host:port", or "" for off."""
    value = text.strip()
    if value.lower() in ("", "off", "none", "0", "false", "no"):
        return ""
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ValueError
    return value


CONSOLE_ADDRESS = Kind("host:port, or off", _console_address, lambda v: str(v) or "off")


VARIABLES: tuple[EnvVar, ...] = (
    EnvVar("AURA_HOST", ("host",), TEXT, "interface the orchestrator listens on"),
    EnvVar("AURA_PORT", ("port",), PORT, "the orchestrator's gRPC port"),
    EnvVar("AURA_DATA_DIR", ("data_dir",), PATH, "directory of the SQLite store (`aura.db`)"),
    EnvVar(
        "AURA_TLS_CERT",
        ("tls_cert",),
        TEXT,
        "PEM certificate of the orchestrator's port; empty: plaintext (`aura certs` makes one)",
    ),
    EnvVar("AURA_TLS_KEY", ("tls_key",), TEXT, "PEM private key of AURA_TLS_CERT"),
    EnvVar(
        "AURA_TLS_CLIENT_CA",
        ("tls_client_ca",),
        TEXT,
        "PEM CA whose certificates callers must present (mTLS); empty: no client certificate",
    ),
    EnvVar(
        "AURA_MESH_TLS_CA",
        ("mesh_tls_ca",),
        TEXT,
        "PEM CA of the backend services' certificates: set, every backend link uses TLS and "
        "each service must prove its identity `<name>.aura`; empty: plaintext",
    ),
    EnvVar(
        "AURA_MESH_TLS_CERT",
        ("mesh_tls_cert",),
        TEXT,
        "PEM client certificate the orchestrator presents to the backend services (mTLS)",
    ),
    EnvVar("AURA_MESH_TLS_KEY", ("mesh_tls_key",), TEXT, "PEM private key of AURA_MESH_TLS_CERT"),
    EnvVar(
        "AURA_STORE_URL",
        ("store_url",),
        STORE_URL,
        "empty: SQLite under AURA_DATA_DIR; `postgresql://user@host:5432/db`: a store "
        "shared by several replicas (the password is never printed)",
    ),
    EnvVar(
        "AURA_REPLICA_ID",
        ("replica_id",),
        TEXT,
        "this replica's name in a shared store; empty: host name, process id, random part",
    ),
    EnvVar(
        "AURA_REPLICA_LEASE_S",
        ("replica_lease_s",),
        number(1.0),
        "a replica silent this long (no heartbeat) loses its runs to the live replicas",
    ),
    EnvVar(
        "AURA_REDIS_URL",
        ("redis_url",),
        REDIS_URL,
        "empty: no event bus; `redis://host:6379/0`: events on Redis Streams, workflow "
        "triggers and the outbox relay (the password is never printed)",
    ),
    EnvVar(
        "AURA_DURABILITY",
        ("durability",),
        choice("normal", "fsync"),
        "`normal`: survives a killed orchestrator (SQLite: WAL + synchronous=NORMAL; "
        "PostgreSQL: synchronous_commit off); `fsync`: also power loss or a database crash",
    ),
    EnvVar(
        "AURA_STORE_LINGER_MS",
        ("store_linger_ms",),
        number(),
        "how long a progress event may wait to share a commit; 0 commits each at once",
    ),
    EnvVar(
        "AURA_GC_FULL_INTERVAL_S",
        ("gc_full_interval_s",),
        number(),
        "seconds between the serving process's full garbage collections, instead of one "
        "each time the heap grows by a quarter (a pause of about 1 s at 10,000 runs in "
        "flight); 0 keeps Python's own policy",
    ),
    EnvVar(
        "AURA_RUN_RETENTION_S",
        ("run_retention_s",),
        number(),
        "how long finished runs are kept before they are deleted; 0 keeps them forever",
    ),
    *(
        EnvVar(
            f"AURA_SERVICE_{short.upper()}_ADDRESSES",
            ("service_addresses", service),
            ADDRESSES,
            f"the {short} service: `host:port`, several comma-separated for replicas",
        )
        for service, (short, _) in DEFAULT_SERVICES.items()
    ),
    EnvVar(
        "AURA_SHUTDOWN_DELAY_S",
        ("shutdown_delay_s",),
        number(),
        "on SIGTERM, how long health says NOT_SERVING while calls are still served",
    ),
    EnvVar(
        "AURA_AUTH_KEY_FILE",
        ("auth_key_file",),
        TEXT,
        "PEM public key or JWKS file verifying bearer tokens; set: every call but health's "
        "needs one (`aura token` makes a key and tokens); empty: no authentication",
    ),
    EnvVar("AURA_AUTH_ISSUER", ("auth_issuer",), TEXT, "the `iss` tokens must carry"),
    EnvVar("AURA_AUTH_AUDIENCE", ("auth_audience",), TEXT, "the `aud` tokens must carry"),
    EnvVar(
        "AURA_HEALTH_PORT",
        ("health_port",),
        port_or_off(),
        "a plaintext port serving only grpc.health.v1, for probes that speak no TLS; off: none",
    ),
    EnvVar(
        "AURA_SHUTDOWN_GRACE_S",
        ("shutdown_grace_s",),
        number(),
        "then, how long open calls may take before they are cancelled",
    ),
    EnvVar(
        "AURA_MAX_ACTIVE_RUNS",
        ("max_active_runs",),
        integer(1),
        "runs executing at once; beyond it new runs wait QUEUED in the durable run queue",
    ),
    EnvVar(
        "AURA_MAX_QUEUED_RUNS",
        ("max_queued_runs",),
        integer(0),
        "runs the queue holds; beyond it Start answers RESOURCE_EXHAUSTED (reason QUEUE_FULL)",
    ),
    EnvVar(
        "AURA_RESPONSE_CACHE_MAX_ENTRIES",
        ("response_cache_max_entries",),
        integer(0),
        "entries of the response cache (steps that opt in with `cache`)",
    ),
    EnvVar(
        "AURA_MAX_IN_FLIGHT_PER_SERVICE",
        ("default_service_policy", "max_in_flight"),
        integer(1),
        "bulkhead: calls in flight at once per service",
    ),
    EnvVar(
        "AURA_RETRY_MAX_TOKENS",
        (*_THROTTLE, "max_tokens"),
        number(above=True),
        "retry budget per service (gRFC A6 retry throttling)",
    ),
    EnvVar(
        "AURA_RETRY_TOKEN_RATIO",
        (*_THROTTLE, "token_ratio"),
        number(above=True),
        "tokens a success gives back to the retry budget",
    ),
    EnvVar(
        "AURA_BREAKER_CONSECUTIVE_FAILURES",
        (*_BREAKER, "consecutive_failures"),
        integer(1),
        "failures in a row that open an endpoint's breaker",
    ),
    EnvVar(
        "AURA_BREAKER_FAILURE_RATE",
        (*_BREAKER, "failure_rate"),
        number(above=True, maximum=1.0),
        "failure rate within the window that opens it",
    ),
    EnvVar(
        "AURA_BREAKER_BASE_OPEN_S",
        (*_BREAKER, "base_open_s"),
        number(above=True),
        "how long a breaker first stays open",
    ),
    EnvVar(
        "AURA_BREAKER_MAX_OPEN_S",
        (*_BREAKER, "max_open_s"),
        number(above=True),
        "the longest it stays open after repeated trips",
    ),
    *(var.nested("telemetry") for var in TELEMETRY_VARIABLES),
    EnvVar(
        "AURA_CONSOLE_ADDRESS",
        ("console_address",),
        CONSOLE_ADDRESS,
        "host:port of the web console and HTTP/JSON API (`aura up`, `aura demo`, "
        "`aura serve --console`); off: none",
    ),
)

# AURA_* names read by other parts, so not reported as unknown.
CLIENT_VARIABLES = {
    "AURA_ADDRESS": "orchestrator address of the `aura` client commands",
    "AURA_TLS_CA": "PEM CA the `aura` client commands trust: set, they connect with TLS",
    "AURA_TLS_CLIENT_CERT": "PEM certificate the `aura` client commands present (mTLS)",
    "AURA_TLS_CLIENT_KEY": "PEM private key of AURA_TLS_CLIENT_CERT",
    "AURA_TOKEN": "bearer token (JWT) the `aura` client commands send (`aura token` makes one)",
    # Set by CI (.ci/run): a test that needs PostgreSQL or Redis fails instead of skipping.
    "AURA_REQUIRE_SERVICES": "the test suite's switch, not a setting of the orchestrator",
}
OTHER_PREFIXES = ("AURA_MOCK_",)  # the mock services (mock_services/README.md)


def unknown_variables(env: Mapping[str, str] | None = None) -> list[str]:
    """A warning per AURA_* variable that nothing reads (a misspelt name is otherwise silent)."""
    env = os.environ if env is None else env
    known = [var.name for var in VARIABLES] + list(CLIENT_VARIABLES)
    return unknown_names(env, known, "AURA_", OTHER_PREFIXES)


def settings_table() -> str:
    """The README's settings table, generated from VARIABLES."""
    return markdown_table(environment_defaults(), VARIABLES)
