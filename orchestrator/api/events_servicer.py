"""EventService: proto <-> bus, validation, nothing else (aura.events.v1)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any, TypeAlias

import grpc
from google.protobuf import json_format, struct_pb2, timestamp_pb2

from aura.events.v1 import events_pb2, events_pb2_grpc
from orchestrator.bus import (
    BusEvent,
    DeadLetterEntry,
    EventBus,
    check_cursor,
    check_event,
    check_topic,
    page_size,
)
from orchestrator.errors import FailedPrecondition, FieldViolation, InvalidArgument, shutting_down
from orchestrator.names import DEFAULT_TENANT
from orchestrator.security import current_caller

Ctx: TypeAlias = "grpc.aio.ServicerContext[Any, Any]"


def _timestamp(ms: int) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromMilliseconds(ms)
    return stamp


def event_message(event: BusEvent) -> events_pb2.Event:
    payload = struct_pb2.Struct()
    payload.update(dict(event.payload))
    return events_pb2.Event(
        topic=event.topic,
        key=event.key,
        event_id=event.event_id,
        payload=payload,
        cursor=event.cursor,
        publish_time=_timestamp(event.publish_time_ms),
        tenant=event.tenant or DEFAULT_TENANT,
    )


def dead_letter_message(letter: DeadLetterEntry) -> events_pb2.DeadLetter:
    return events_pb2.DeadLetter(
        id=letter.id,
        event=event_message(letter.event),
        group=letter.group,
        deliveries=letter.deliveries,
        reason=letter.reason,
        dead_letter_time=_timestamp(letter.dead_letter_time_ms),
    )


def _tenant() -> str:
    """The caller's tenant (its token's; the default tenant when no tokens are asked):
    every call below publishes, reads and replays that tenant's streams only."""
    caller = current_caller.get()
    return caller.tenant if caller is not None else DEFAULT_TENANT


def _entry_id(value: str, field: str) -> str:
    return check_cursor(value, field, start_allowed=False)


class EventServicer(events_pb2_grpc.EventServiceServicer):
    def __init__(self, bus: EventBus | None) -> None:
        self._bus = bus
        self._shutting_down = asyncio.Event()

    def shut_down(self) -> None:
        """A drain: every open SubscribeEvents ends with UNAVAILABLE SHUTTING_DOWN."""
        self._shutting_down.set()

    def _require(self) -> EventBus:
        if self._bus is None:
            raise FailedPrecondition(
                "the event bus is disabled: set AURA_REDIS_URL (e.g. redis://127.0.0.1:6379/0)",
                reason="BUS_DISABLED",
            )
        return self._bus

    async def PublishEvent(
        self, request: events_pb2.PublishEventRequest, context: Ctx
    ) -> events_pb2.PublishEventResponse:
        bus = self._require()
        event_id = check_event(request.topic, request.key, request.event_id, request.payload)
        payload = json_format.MessageToDict(request.payload)
        published = await bus.publish(
            BusEvent(request.topic, request.key, event_id, payload, tenant=_tenant())
        )
        return events_pb2.PublishEventResponse(
            event=event_message(published.event), duplicate=published.duplicate
        )

    async def SubscribeEvents(
        self, request: events_pb2.SubscribeEventsRequest, context: Ctx
    ) -> AsyncIterator[events_pb2.SubscribeEventsResponse]:
        bus = self._require()
        check_topic(request.topic)
        events = aiter(bus.subscribe(request.topic, check_cursor(request.cursor), _tenant()))
        ending = asyncio.ensure_future(self._shutting_down.wait())
        following: asyncio.Future[Any] | None = None
        try:
            while True:
                following = asyncio.ensure_future(anext(events))
                await asyncio.wait({following, ending}, return_when=asyncio.FIRST_COMPLETED)
                if not following.done():
                    following.cancel()
                    with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                        await following
                    raise shutting_down(f"no more events of {request.topic}: shutting down")
                try:
                    event = following.result()
                except StopAsyncIteration:
                    return
                yield events_pb2.SubscribeEventsResponse(event=event_message(event))
        finally:
            ending.cancel()
            if following is not None and not following.done():
                # The call was cancelled (the client went away) while waiting: the read
                # must not outlive it (its later failure would never be retrieved).
                following.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await following
            closing = getattr(events, "aclose", None)
            if closing is not None:
                with contextlib.suppress(Exception):
                    await closing()

    async def ListEvents(
        self, request: events_pb2.ListEventsRequest, context: Ctx
    ) -> events_pb2.ListEventsResponse:
        bus = self._require()
        check_topic(request.topic)
        size = page_size(request.page_size)
        before = _entry_id(request.page_token, "page_token")
        events, token = await bus.recent(request.topic, size, before, _tenant())
        return events_pb2.ListEventsResponse(
            events=[event_message(e) for e in events], next_page_token=token
        )

    async def ListDeadLetters(
        self, request: events_pb2.ListDeadLettersRequest, context: Ctx
    ) -> events_pb2.ListDeadLettersResponse:
        bus = self._require()
        check_topic(request.topic)
        size = page_size(request.page_size)
        before = _entry_id(request.page_token, "page_token")
        letters, token = await bus.dead_letters(request.topic, size, before, _tenant())
        return events_pb2.ListDeadLettersResponse(
            dead_letters=[dead_letter_message(d) for d in letters], next_page_token=token
        )

    async def ReplayDeadLetter(
        self, request: events_pb2.ReplayDeadLetterRequest, context: Ctx
    ) -> events_pb2.ReplayDeadLetterResponse:
        bus = self._require()
        check_topic(request.topic)
        if not request.id:
            raise InvalidArgument(
                "id is required", violations=[FieldViolation("id", "a DeadLetter.id")]
            )
        event = await bus.replay(request.topic, _entry_id(request.id, "id"), _tenant())
        return events_pb2.ReplayDeadLetterResponse(event=event_message(event))
