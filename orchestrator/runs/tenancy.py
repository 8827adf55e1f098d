"""Whose runs a read may see. Every read of runs and events names its scope: one tenant's
(a client's call: the tenant of its token, `default` without authentication), or every
tenant's (the engine's own work: resume, takeover, retention, transactions' outcomes).
There is no default, so a read that forgets to scope itself does not type-check."""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.names import DEFAULT_TENANT

__all__ = ["DEFAULT_TENANT", "EVERY_TENANT", "TenantScope", "request_id_of", "request_key"]


@dataclass(frozen=True)
class TenantScope:
    #: None: every tenant.
    tenant: str | None

    @classmethod
    def of(cls, tenant: str) -> TenantScope:
        return cls(tenant)

    def admits(self, tenant: str) -> bool:
        return self.tenant is None or self.tenant == (tenant or DEFAULT_TENANT)


#: The engine's own scope: every tenant's runs.
EVERY_TENANT = TenantScope(None)


def request_key(tenant: str, request_id: str) -> str:
    """What a store keeps as a run's request id: tenants pick theirs independently, so the
    same request_id from two tenants makes two runs. Tenant names never hold a `/`."""
    return f"{tenant or DEFAULT_TENANT}/{request_id}" if request_id else ""


def request_id_of(key: str) -> str:
    """The caller's request_id back from `request_key`'s form."""
    return key.partition("/")[2] if "/" in key else key
