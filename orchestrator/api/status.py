"""How a handler ends its call with one of our errors (the status from `AuraError.to_status`)."""

from __future__ import annotations

from typing import Any

import grpc
from grpc_status import rpc_status

from orchestrator.errors import AuraError


async def abort_with(context: grpc.aio.ServicerContext[Any, Any], error: AuraError) -> None:
    """Ends the call with `error`'s status and details; raises grpc.aio.AbortError."""
    await context.abort_with_status(rpc_status.to_status(error.to_status()))
