"""Every call but health's carries a bearer token: verified, then checked against the method's
permission, before the request is validated or served (AIP-211: authorize first, so a caller
without access learns nothing from validation errors).

No token, a malformed, badly signed, expired, not-yet-valid, wrong-issuer or wrong-audience
token: UNAUTHENTICATED with ErrorInfo (reason TOKEN_MISSING, TOKEN_EXPIRED, ...). A valid
token without the method's permission: PERMISSION_DENIED (reason MISSING_PERMISSION, with the
permission needed in its metadata). The verified caller is bound to `current_caller` for the
handler, which scopes what it reads and writes to the caller's tenant.

Installed outside the request decoder, so even an undecodable request from an anonymous
caller is answered UNAUTHENTICATED. Each method's handler is wrapped once.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc

from orchestrator.api.error_interceptor import Context, HandlerLookup, with_behaviours
from orchestrator.api.permissions import is_open, permission_for
from orchestrator.api.status import abort_with
from orchestrator.errors import PermissionDenied, Unauthenticated
from orchestrator.security import Caller, Permission, TokenRejected, TokenVerifier, current_caller

log = logging.getLogger(__name__)

MAX_CACHED_METHODS = 1024
_SCHEME = "bearer "


class AuthInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    def __init__(self, verifier: TokenVerifier) -> None:
        self._verifier = verifier
        self._guarded: dict[str, tuple[grpc.RpcMethodHandler, grpc.RpcMethodHandler]] = {}

    async def intercept_service(
        self, continuation: HandlerLookup, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler | None:
        handler = await continuation(handler_call_details)
        method: str = handler_call_details.method
        if handler is None or is_open(method):
            return handler
        cached = self._guarded.get(method)
        if cached is not None and cached[0] is handler:
            return cached[1]
        guarded = self._guard(handler, method)
        if len(self._guarded) < MAX_CACHED_METHODS:
            self._guarded[method] = (handler, guarded)
        return guarded

    def _guard(self, handler: grpc.RpcMethodHandler, method: str) -> grpc.RpcMethodHandler:
        needed = permission_for(method)
        return with_behaviours(
            handler, lambda behaviour: self._guarded_behaviour(behaviour, method, needed)
        )

    def _guarded_behaviour(
        self, behaviour: Callable[..., Any], method: str, needed: Permission
    ) -> Callable[..., Any]:
        authorize = self._authorize
        if inspect.isasyncgenfunction(behaviour):

            async def streaming(request: Any, context: Context) -> AsyncIterator[Any]:
                bound = current_caller.set(await authorize(context, method, needed))
                try:
                    async for item in behaviour(request, context):
                        yield item
                finally:
                    current_caller.reset(bound)

            return streaming
        if inspect.iscoroutinefunction(behaviour):

            async def unary(request: Any, context: Context) -> Any:
                bound = current_caller.set(await authorize(context, method, needed))
                try:
                    return await behaviour(request, context)
                finally:
                    current_caller.reset(bound)

            return unary

        # A synchronous handler (none of ours; e.g. an unimplemented base method) runs in a
        # worker thread: it is refused outright rather than served unchecked.
        async def refused(request: Any, context: Context) -> Any:
            await authorize(context, method, Permission.ADMIN)
            return await asyncio.to_thread(behaviour, request, context)

        return refused

    async def _authorize(self, context: Context, method: str, needed: Permission) -> Caller:
        token = _bearer_token(context.invocation_metadata() or ())
        if token is None:
            await abort_with(
                context,
                Unauthenticated(
                    "this call needs a bearer token: metadata `authorization: Bearer <JWT>`",
                    reason="TOKEN_MISSING",
                ),
            )
            raise AssertionError("unreachable")  # abort_with raises
        try:
            caller = self._verifier.verify(token)
        except TokenRejected as rejected:
            log.info("refused a token on %s: %s", method, rejected.reason)
            await abort_with(context, Unauthenticated(rejected.message, reason=rejected.reason))
            raise AssertionError("unreachable") from rejected
        if not caller.may(needed):
            await abort_with(
                context,
                PermissionDenied(
                    f"{method.rsplit('/', 1)[-1]} needs the `{needed.value}` permission",
                    reason="MISSING_PERMISSION",
                    metadata={"permission": needed.value, "tenant": caller.tenant},
                ),
            )
        return caller


def _bearer_token(metadata: Any) -> str | None:
    for key, value in metadata:
        if key == "authorization" and isinstance(value, str):
            if value[: len(_SCHEME)].lower() == _SCHEME:
                token = value[len(_SCHEME) :].strip()
                return token or None
            return None
    return None
