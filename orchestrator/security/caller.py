"""The caller of the request being served: set by the server's authentication around each
handler, None when authentication is off (every caller is then the default tenant's admin)."""

from __future__ import annotations

from contextvars import ContextVar

from orchestrator.security.tokens import Caller

current_caller: ContextVar[Caller | None] = ContextVar("aura_current_caller", default=None)
