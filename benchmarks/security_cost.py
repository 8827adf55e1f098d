"""The `security` scenario: what TLS and authentication cost, one run.

The same orchestrator twice on one mesh (one after the other, never at once), a fresh
process and store each: plaintext and no authentication, then mutual TLS on its port
(AURA_TLS_CERT/KEY/CLIENT_CA) with bearer tokens required (AURA_AUTH_KEY_FILE), the client
presenting its certificate and one token on every call. c=1 with 0 ms backends (the
per-call cost) and c=<level> with 20 ms backends (the throughput cost), against the
hand-written limit measured on the same mesh. Issue 15 asks for the figures; no target.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import grpc

from benchmarks.procs import start_mesh, start_orchestrator
from benchmarks.scenarios import CpuMeter, Plan, limit_load, orchestrated_load
from orchestrator.security import (
    CertificateAuthority,
    Permission,
    channel_credentials,
    issue_token,
    make_signing_key,
)


class _Secrets:
    """A throwaway CA, server and client certificates, a signing key and a write token."""

    def __init__(self, directory: Path) -> None:
        authority = CertificateAuthority()
        ca = authority.write(directory / "ca.crt")
        cert, key = authority.issue(directory, "orchestrator")
        client_cert, client_key = authority.issue(directory, "client", ("aura-client",))
        private, public = make_signing_key(directory / "keys")
        self.env = {
            "AURA_TLS_CERT": str(cert),
            "AURA_TLS_KEY": str(key),
            "AURA_TLS_CLIENT_CA": str(ca),
            "AURA_AUTH_KEY_FILE": str(public),
        }
        self.credentials: grpc.ChannelCredentials = channel_credentials(ca, client_cert, client_key)
        self.token = issue_token(
            private,
            tenant="default",
            permissions=[Permission.WRITE],
            issuer="aura",
            audience="aura-orchestrator",
            valid_s=24 * 3600,
        )


async def _orchestrator_load(
    addresses: dict[str, str],
    mesh: Any,
    load: dict[str, Any],
    secrets: _Secrets | None,
) -> dict[str, Any]:
    orchestrator = await start_orchestrator(
        addresses,
        extra_env=secrets.env if secrets else None,
        credentials=secrets.credentials if secrets else None,
    )
    try:
        meter = CpuMeter([orchestrator.child, mesh])
        return await orchestrated_load(
            orchestrator.address,
            meter,
            credentials=secrets.credentials if secrets else None,
            token=secrets.token if secrets else None,
            **load,
        )
    finally:
        await orchestrator.stop()


async def compare_security(plan: Plan, level: int = 100) -> dict[str, Any]:
    """{"limit": ..., "off": ..., "on": ...}, keyed c1_0ms / c<level>_20ms."""
    out: dict[str, Any] = {"limit": {}, "off": {}, "on": {}}
    c1 = {"concurrency": 1, "warmup_s": plan.c1_warmup_s, "duration_s": plan.c1_duration_s}
    load = {"concurrency": level, "warmup_s": plan.warmup_s, "duration_s": plan.duration_s}
    with tempfile.TemporaryDirectory(prefix="aura-bench-secrets-") as directory:
        secrets = _Secrets(Path(directory))
        for latency_ms, key, shape in (
            (0.0, "c1_0ms", c1),
            (plan.latency_ms, f"c{level}_20ms", load),
        ):
            mesh, addresses = await start_mesh(latency_ms)
            try:
                out["limit"][key] = await limit_load(addresses, CpuMeter([mesh]), **shape)
                out["off"][key] = await _orchestrator_load(addresses, mesh, shape, None)
                out["on"][key] = await _orchestrator_load(addresses, mesh, shape, secrets)
            finally:
                await mesh.stop()
    return out


def security_checks(security: dict[str, Any]) -> list[tuple[str, float | None, str, bool | None]]:
    """(check, value, target, met) for the report: what security on costs, measured."""
    out: list[tuple[str, float | None, str, bool | None]] = []
    off, on = security["off"], security["on"]
    if "c1_0ms" in off and "c1_0ms" in on:
        extra = on["c1_0ms"]["p50_ms"] - off["c1_0ms"]["p50_ms"]
        out.append(("c1_0ms p50, TLS+auth on minus off (ms)", extra, "measured", None))
    for key in sorted(k for k in on if k != "c1_0ms"):
        if off.get(key, {}).get("runs_per_s"):
            ratio = on[key]["runs_per_s"] / off[key]["runs_per_s"]
            out.append((f"{key} runs/s, TLS+auth on / off", ratio, "measured", None))
        cpu_on = on[key].get("cpu_ms_per_run", {}).get("orchestrator")
        cpu_off = off[key].get("cpu_ms_per_run", {}).get("orchestrator")
        if cpu_on is not None and cpu_off is not None:
            out.append(
                (
                    f"{key} orchestrator CPU/run, on minus off (ms)",
                    cpu_on - cpu_off,
                    "measured",
                    None,
                )
            )
    return out
