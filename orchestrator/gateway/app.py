"""The HTTP gateway and web console: one Starlette app in front of the orchestrator's
public gRPC API.

- `/v1/...`: every OrchestratorService RPC with a google.api.http rule, JSON in and out
  (protobuf's JSON mapping). Errors answer with the HTTP status of their gRPC code and
  the google.rpc.Status (code, message, details) as the body. Server-streaming RPCs answer
  with Server-Sent Events: one `data:` per message, its `id:` the run event's seq, and a
  reconnect's Last-Event-ID becomes the request's after_seq, so a cut stream resumes
  without loss or duplicates; `event: end` when the stream finished, `event: rpc-error`
  (the Status) when it failed after it began.
- `/console/layout/{definition}`: a definition's DAG laid out in layers (layout.py);
  `/console/yaml/{definition}`: the definition as YAML, as its files are written.
- `/console/events/{run}?afterSeq=N`: one answer, not a stream: the run as
  GetWorkflowRun has it and its events after seq N up to the run's last_event_seq then,
  as the `data:` messages of the event stream carry them. A tab of the console that holds
  no event stream polls it (a browser opens at most six HTTP/1.1 connections to one host
  for all its tabs, so every tab cannot hold a stream).
- `/console/session`: POST {"token": ...} keeps a caller's bearer token in an HttpOnly,
  SameSite=Strict cookie once the orchestrator accepts it (EventSource cannot send an
  Authorization header); DELETE ends the session. Every call carries the caller's
  Authorization header, else its session's token, else none: the gateway has no
  credentials of its own, so it sees and may do exactly what its caller may.
- `/`: the console, static files (static/).

The gateway holds one grpc.aio channel to the orchestrator's address and nothing else, so
it works in front of any replica, or a balancer.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import grpc
import jwt
import yaml
from google.protobuf import json_format
from google.protobuf.message import Message
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    JSONResponse,
    PlainTextResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from aura.orchestrator.v1 import orchestrator_pb2
from orchestrator.gateway.http_rules import HttpRoute, RequestError, routes_of
from orchestrator.gateway.layout import layout
from orchestrator.gateway.statuses import http_status, make_status, status_json, status_of
from orchestrator.security import client_channel
from orchestrator.workflows import MethodRegistry

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
SERVICE = orchestrator_pb2.DESCRIPTOR.services_by_name["OrchestratorService"]
# Headers passed on to the orchestrator as call metadata.
FORWARDED_HEADERS = ("authorization", "x-request-id", "traceparent")
# An idle event stream sends a comment this often, so proxies keep it open.
KEEPALIVE_S = 15.0
# How long a stream may take to fail at once (unknown run...) and answer with a plain
# HTTP error rather than an event stream that ends at its first line.
FIRST_MESSAGE_WAIT_S = 0.5
# The browser's wait before it reconnects a cut stream (the SSE `retry:` field).
RECONNECT_MS = 500
# At most this many ready messages go out in one write of an event stream.
MAX_BATCH = 256
# Methods that must say their body is JSON (even an empty one).
BODY_VERBS = frozenset({"POST", "PUT", "PATCH"})
# The resume convention: Last-Event-ID -> this request field.
RESUME_FIELD = "after_seq"
# A long-lived channel to a server that may restart: reconnect within 2 s of its return,
# not after gRPC's default backoff of up to two minutes.
CHANNEL_OPTIONS = (
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.min_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 2000),
)


def gateway_channel(target: str) -> grpc.aio.Channel:
    """The channel to the orchestrator: TLS as the client commands have it (AURA_TLS_CA...).
    Never this process's AURA_TOKEN: each call carries its own caller's token, or none."""
    env = {k: v for k, v in os.environ.items() if k != "AURA_TOKEN"}
    return client_channel(target, env, options=CHANNEL_OPTIONS)


class Gateway:
    """The routes of OrchestratorService and one channel to `target`, opened lazily in
    the serving event loop."""

    def __init__(
        self, target: str, channel_to: Callable[[str], grpc.aio.Channel] = gateway_channel
    ) -> None:
        self.target = target
        self.routes = routes_of(SERVICE)
        self._channel_to = channel_to
        self._channel: grpc.aio.Channel | None = None
        # Every aura.* message type in the descriptor pool, for the Any outputs of steps.
        MethodRegistry.default()

    @property
    def channel(self) -> grpc.aio.Channel:
        if self._channel is None:
            self._channel = self._channel_to(self.target)
        return self._channel

    async def aclose(self) -> None:
        if self._channel is not None:
            await self._channel.close()
            self._channel = None

    def find(self, verb: str, path: str) -> tuple[HttpRoute, dict[str, str]] | set[str]:
        """The route and its bound variables, or the verbs that path does take."""
        verbs: set[str] = set()
        for route in self.routes:
            bound = route.match(verb, path)
            if bound is not None:
                return route, bound
            if route.pattern.fullmatch(path):
                verbs.add(route.verb)
        return verbs

    async def unary(self, route: HttpRoute, request: Message, metadata: Metadata) -> Message:
        call = self.channel.unary_unary(
            route.path,
            request_serializer=route.request_class.SerializeToString,
            response_deserializer=route.response_class.FromString,
        )
        response: Message = await call(request, metadata=metadata)
        return response

    def stream(
        self, route: HttpRoute, request: Message, metadata: Metadata
    ) -> grpc.aio.UnaryStreamCall[Message, Message]:
        call = self.channel.unary_stream(
            route.path,
            request_serializer=route.request_class.SerializeToString,
            response_deserializer=route.response_class.FromString,
        )
        stream: grpc.aio.UnaryStreamCall[Message, Message] = call(request, metadata=metadata)
        return stream


Metadata = tuple[tuple[str, str], ...]

# The browser's session: the caller's bearer token in a cookie, because EventSource cannot
# send headers. HttpOnly (page scripts never read it back), SameSite=Strict (no other
# site's page makes the browser send it), Secure over HTTPS. An Authorization header wins.
SESSION_COOKIE = "aura_session"
# The longest a session cookie lives when the token's own expiry cannot be read.
MAX_SESSION_S = 12 * 3600


def caller_metadata(request: Request) -> Metadata:
    """What goes on to the orchestrator with the call: the caller's headers of
    FORWARDED_HEADERS, and its session's token when it sent no Authorization."""
    metadata = [
        (name, request.headers[name]) for name in FORWARDED_HEADERS if name in request.headers
    ]
    session = request.cookies.get(SESSION_COOKIE, "")
    if session and "authorization" not in request.headers:
        metadata.append(("authorization", f"Bearer {session}"))
    return tuple(metadata)


async def start_session(gateway: Gateway, request: Request) -> Response:
    """POST /console/session {"token": "<JWT>"}: the token is tried on the orchestrator
    (a one-definition listing, which needs `read`) and kept in the session cookie only
    when the orchestrator accepts it; its refusal is answered as any API error."""
    if not _is_json(request.headers.get("content-type", "")):
        return error_response(
            grpc.StatusCode.INVALID_ARGUMENT, 'send the token as JSON: {"token": ...}', http=415
        )
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError:
        body = None
    token = body.get("token") if isinstance(body, dict) else None
    if not isinstance(token, str) or not token.strip() or len(token) > MAX_TOKEN_CHARS:
        return error_response(
            grpc.StatusCode.INVALID_ARGUMENT, 'the body must be {"token": "<JWT>"}'
        )
    token = token.strip()
    route, _ = _route_named(gateway, "ListWorkflowDefinitions")
    try:
        await gateway.unary(
            route,
            orchestrator_pb2.ListWorkflowDefinitionsRequest(page_size=1),
            (("authorization", f"Bearer {token}"),),
        )
    except grpc.aio.AioRpcError as error:
        return rpc_error_response(error)
    response = JSONResponse({})
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=_session_seconds(token),
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


#: Longer is no token the orchestrator accepts (it refuses over 8 KiB).
MAX_TOKEN_CHARS = 8192


def _session_seconds(token: str) -> int:
    """Until the token expires (read, not verified: the orchestrator verifies each call)."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
        left = int(float(claims["exp"]) - time.time())
    except (jwt.InvalidTokenError, KeyError, TypeError, ValueError):
        return MAX_SESSION_S
    return max(1, min(left, MAX_SESSION_S))


def create_app(
    target: str, channel_to: Callable[[str], grpc.aio.Channel] = gateway_channel
) -> Starlette:
    """The gateway and console for the orchestrator at `target` ("host:port")."""
    gateway = Gateway(target, channel_to)

    async def api(request: Request) -> Response:
        found = gateway.find(request.method, request.url.path)
        if isinstance(found, set):
            if found:
                return error_response(
                    grpc.StatusCode.UNIMPLEMENTED,
                    f"{request.method} is not allowed on {request.url.path}; "
                    f"use {' or '.join(sorted(found))}",
                    http=405,
                    headers={"Allow": ", ".join(sorted(found))},
                )
            return error_response(
                grpc.StatusCode.NOT_FOUND, f"no API method at {request.url.path}", http=404
            )
        route, bound = found
        if route.verb in BODY_VERBS and not _is_json(request.headers.get("content-type", "")):
            # Also what keeps other web pages out: a cross-site form or no-cors fetch
            # cannot send application/json without a CORS preflight, which is never granted.
            return error_response(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"{route.verb} {request.url.path} takes a JSON body: send it with "
                "Content-Type: application/json",
                http=415,
            )
        try:
            message = route.build_request(
                bound, request.query_params.multi_items(), await request.body()
            )
        except RequestError as error:
            return error_response(grpc.StatusCode.INVALID_ARGUMENT, str(error))
        metadata = caller_metadata(request)
        if route.streaming:
            return await event_stream(gateway, route, message, metadata, request)
        try:
            response = await gateway.unary(route, message, metadata)
        except grpc.aio.AioRpcError as error:
            return rpc_error_response(error)
        return JSONResponse(json_format.MessageToDict(response))

    async def definition_layout(request: Request) -> Response:
        name = request.path_params["name"]
        route, _ = _route_named(gateway, "GetWorkflowDefinition")
        try:
            response = await gateway.unary(
                route,
                orchestrator_pb2.GetWorkflowDefinitionRequest(name=name),
                caller_metadata(request),
            )
        except grpc.aio.AioRpcError as error:
            return rpc_error_response(error)
        assert isinstance(response, orchestrator_pb2.GetWorkflowDefinitionResponse)
        return JSONResponse(layout(response.workflow_definition))

    async def definition_yaml(request: Request) -> Response:
        route, _ = _route_named(gateway, "GetWorkflowDefinition")
        try:
            response = await gateway.unary(
                route,
                orchestrator_pb2.GetWorkflowDefinitionRequest(name=request.path_params["name"]),
                caller_metadata(request),
            )
        except grpc.aio.AioRpcError as error:
            return rpc_error_response(error)
        assert isinstance(response, orchestrator_pb2.GetWorkflowDefinitionResponse)
        document = json_format.MessageToDict(
            response.workflow_definition, preserving_proto_field_name=True
        )
        text = yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)
        return PlainTextResponse(text, media_type="application/yaml")

    async def run_events(request: Request) -> Response:
        return await events_since(gateway, request)

    async def open_session(request: Request) -> Response:
        return await start_session(gateway, request)

    async def close_session(request: Request) -> Response:
        response = JSONResponse({})
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    async def index(request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await gateway.aclose()

    app = Starlette(
        routes=[
            Route("/", index),
            Route("/console/layout/{name:path}", definition_layout),
            Route("/console/yaml/{name:path}", definition_yaml),
            Route("/console/events/{name:path}", run_events),
            Route("/console/session", open_session, methods=["POST"]),
            Route("/console/session", close_session, methods=["DELETE"]),
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
            Route("/v1/{rest:path}", api, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
        ],
        lifespan=lifespan,
    )
    app.state.gateway = gateway
    return app


async def events_since(gateway: Gateway, request: Request) -> Response:
    """GET /console/events/{run}?afterSeq=N[&view=basic]: {"workflowRun": <GetWorkflowRun's>,
    "events": [<WatchWorkflowRunResponse>...]} with the events of seq N+1..last_event_seq."""
    name = request.path_params["name"]
    text = request.query_params.get("afterSeq", "0")
    try:
        after_seq = int(text)
    except ValueError:
        return error_response(grpc.StatusCode.INVALID_ARGUMENT, f"afterSeq {text!r} is not a seq")
    metadata = caller_metadata(request)
    get, _ = _route_named(gateway, "GetWorkflowRun")
    watch, _ = _route_named(gateway, "WatchWorkflowRun")
    try:
        # view=basic: the run without its input and outputs (a page that reads those
        # itself wants only the history here, sooner).
        view = (
            orchestrator_pb2.WORKFLOW_RUN_VIEW_BASIC
            if request.query_params.get("view") == "basic"
            else orchestrator_pb2.WORKFLOW_RUN_VIEW_FULL
        )
        got = await gateway.unary(
            get, orchestrator_pb2.GetWorkflowRunRequest(name=name, view=view), metadata
        )
        assert isinstance(got, orchestrator_pb2.GetWorkflowRunResponse)
        last_seq = got.workflow_run.last_event_seq
        events: list[dict[str, Any]] = []
        if last_seq > after_seq:
            call = gateway.stream(
                watch,
                orchestrator_pb2.WatchWorkflowRunRequest(name=name, after_seq=after_seq),
                metadata,
            )
            try:
                async for response in call:
                    assert isinstance(response, orchestrator_pb2.WatchWorkflowRunResponse)
                    if response.event.seq > last_seq:
                        break
                    events.append(json_format.MessageToDict(response))
                    if response.event.seq == last_seq:
                        break
            finally:
                call.cancel()
    except grpc.aio.AioRpcError as error:
        return rpc_error_response(error)
    return JSONResponse(
        {"workflowRun": json_format.MessageToDict(got.workflow_run), "events": events},
        headers={"Cache-Control": "no-store"},
    )


def _is_json(content_type: str) -> bool:
    return content_type.split(";")[0].strip().lower() == "application/json"


def _route_named(gateway: Gateway, method: str) -> tuple[HttpRoute, None]:
    for route in gateway.routes:
        if route.method.name == method:
            return route, None
    raise LookupError(method)


def error_response(
    code: grpc.StatusCode,
    message: str,
    *,
    http: int | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(
        status_json(make_status(code, message)),
        status_code=http or http_status(code),
        headers=headers,
    )


def rpc_error_response(error: grpc.aio.AioRpcError) -> JSONResponse:
    return JSONResponse(status_json(status_of(error)), status_code=http_status(error.code()))


async def event_stream(
    gateway: Gateway,
    route: HttpRoute,
    message: Message,
    metadata: Metadata,
    request: Request,
) -> Response:
    """Server-Sent Events of a server-streaming RPC; a Last-Event-ID resumes after it."""
    last_id = request.headers.get("last-event-id", "").strip()
    if last_id and RESUME_FIELD in message.DESCRIPTOR.fields_by_name:
        try:
            resume_after = int(last_id)
        except ValueError:
            return error_response(
                grpc.StatusCode.INVALID_ARGUMENT, f"Last-Event-ID {last_id!r} is not a seq"
            )
        setattr(message, RESUME_FIELD, max(getattr(message, RESUME_FIELD), resume_after))
    call = gateway.stream(route, message, metadata)
    messages = call.__aiter__()
    pending: asyncio.Future[Message] = asyncio.ensure_future(anext(messages))
    await asyncio.wait({pending}, timeout=FIRST_MESSAGE_WAIT_S)
    if pending.done() and isinstance(pending.exception(), grpc.aio.AioRpcError):
        error = pending.exception()
        assert isinstance(error, grpc.aio.AioRpcError)
        return rpc_error_response(error)

    # One task reads the call into a queue; the body writes whatever the queue holds at
    # once (a run's history goes out in a few writes, not one per event).
    queue: asyncio.Queue[object] = asyncio.Queue()

    async def pump() -> None:
        try:
            queue.put_nowait(await pending)
            while True:
                queue.put_nowait(await anext(messages))
        except (StopAsyncIteration, grpc.aio.AioRpcError) as ended:
            queue.put_nowait(ended)

    async def body() -> AsyncIterator[str]:
        pumping = asyncio.ensure_future(pump())
        try:
            yield f"retry: {RECONNECT_MS}\n\n"
            while True:
                try:
                    item = await asyncio.wait_for(queue.get(), KEEPALIVE_S)
                except TimeoutError:
                    yield ": keepalive\n\n"
                    continue
                batch: list[str] = []
                while True:
                    if isinstance(item, StopAsyncIteration):
                        yield "".join([*batch, "event: end\ndata: {}\n\n"])
                        return
                    if isinstance(item, grpc.aio.AioRpcError):
                        status = json.dumps(status_json(status_of(item)))
                        yield "".join([*batch, f"event: rpc-error\ndata: {status}\n\n"])
                        return
                    assert isinstance(item, Message)
                    batch.append(sse_message(item))
                    if queue.empty() or len(batch) >= MAX_BATCH:
                        break
                    item = queue.get_nowait()
                yield "".join(batch)
        finally:
            pumping.cancel()
            pending.cancel()
            call.cancel()

    return StreamingResponse(
        body(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def sse_message(response: Message) -> str:
    """`id: <seq>` (when the message carries a run event) and `data: <json>`."""
    seq = event_seq(response)
    data = json.dumps(json_format.MessageToDict(response), separators=(",", ":"))
    return (f"id: {seq}\n" if seq is not None else "") + f"data: {data}\n\n"


def event_seq(response: Message) -> int | None:
    """The seq of the message, or of its one event field (WatchWorkflowRunResponse.event)."""
    fields = response.DESCRIPTOR.fields_by_name
    if "seq" in fields:
        return int(getattr(response, "seq"))  # noqa: B009
    for field in response.DESCRIPTOR.fields:
        if field.message_type is not None and "seq" in field.message_type.fields_by_name:
            value: Any = getattr(response, field.name)
            return int(value.seq)
    return None
