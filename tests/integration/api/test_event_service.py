"""EventService over a real channel and a real Redis: publish (idempotent), subscribe
with a cursor, list, dead letters and replay; bad requests answer INVALID_ARGUMENT
with BadRequest, a missing bus FAILED_PRECONDITION, never UNKNOWN."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from google.protobuf import struct_pb2

from aura.events.v1 import events_pb2, events_pb2_grpc
from orchestrator.bus import BusEvent, DeadLetters, EventBus
from tests.integration.event_service_helpers import serve_events
from tests.integration.mock_helpers import error_info, field_violations

pytestmark = pytest.mark.integration
Stub = events_pb2_grpc.EventServiceStub


def _payload(**fields: object) -> struct_pb2.Struct:
    payload = struct_pb2.Struct()
    payload.update(fields)
    return payload


async def test_publish_answers_the_stored_event_and_a_repeat_is_a_duplicate(
    event_stub: Stub,
) -> None:
    request = events_pb2.PublishEventRequest(
        topic="style.analysed", key="u1", event_id="e-1", payload=_payload(score=0.9)
    )
    first = await event_stub.PublishEvent(request)
    again = await event_stub.PublishEvent(request)
    assert not first.duplicate and again.duplicate
    assert first.event.cursor == again.event.cursor
    assert first.event.payload["score"] == 0.9
    assert first.event.publish_time.seconds > 0
    listed = await event_stub.ListEvents(events_pb2.ListEventsRequest(topic="style.analysed"))
    assert [e.event_id for e in listed.events] == ["e-1"]


async def test_an_empty_event_id_is_made_by_the_server(event_stub: Stub) -> None:
    answer = await event_stub.PublishEvent(events_pb2.PublishEventRequest(topic="a.b"))
    assert len(answer.event.event_id) == 32


async def test_a_subscription_resumes_after_its_cursor(event_stub: Stub) -> None:
    for n in range(5):
        await event_stub.PublishEvent(
            events_pb2.PublishEventRequest(topic="t", event_id=f"e{n}", payload=_payload(n=n))
        )
    listed = await event_stub.ListEvents(events_pb2.ListEventsRequest(topic="t", page_size=5))
    cursor = listed.events[3].cursor  # e1
    call = event_stub.SubscribeEvents(events_pb2.SubscribeEventsRequest(topic="t", cursor=cursor))
    got = []
    async for answer in call:
        got.append(answer.event.event_id)
        if len(got) == 3:
            break
    call.cancel()
    assert got == ["e2", "e3", "e4"]


@pytest.mark.parametrize(
    ("request_fields", "field"),
    [
        ({"topic": ""}, "topic"),
        ({"topic": "Bad Topic"}, "topic"),
        ({"topic": "t" * 64}, "topic"),
        ({"topic": "t", "key": "k" * 257}, "key"),
        ({"topic": "t", "key": "a\nb"}, "key"),
        ({"topic": "t", "event_id": "has space"}, "event_id"),
        ({"topic": "t", "payload": _payload(blob="x" * 70000)}, "payload"),
    ],
)
async def test_bad_publishes_are_invalid_arguments_naming_the_field(
    event_stub: Stub, request_fields: dict[str, object], field: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await event_stub.PublishEvent(events_pb2.PublishEventRequest(**request_fields))  # type: ignore[arg-type]
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in field_violations(raised.value)


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.ListEvents(events_pb2.ListEventsRequest(topic="t", page_token="x")),
        lambda s: s.ListEvents(events_pb2.ListEventsRequest(topic="t", page_size=-1)),
        lambda s: s.ListDeadLetters(events_pb2.ListDeadLettersRequest(topic="T")),
        lambda s: s.ReplayDeadLetter(events_pb2.ReplayDeadLetterRequest(topic="t")),
    ],
)
async def test_bad_reads_are_invalid_arguments(event_stub: Stub, call: object) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call(event_stub)  # type: ignore[operator]
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field_violations(raised.value)


async def test_a_bad_cursor_ends_the_subscription_with_invalid_argument(
    event_stub: Stub,
) -> None:
    call = event_stub.SubscribeEvents(events_pb2.SubscribeEventsRequest(topic="t", cursor="x"))
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call.read()
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "cursor" in field_violations(raised.value)


async def test_dead_letters_are_listed_and_replayed_and_then_gone(
    event_stub: Stub, event_bus: EventBus
) -> None:
    published = await event_bus.publish(BusEvent("run.finished", "k", "e1", {"n": 1}))
    await DeadLetters(event_bus.connection).bury(published.event, "triggers", 5, "boom")
    listed = await event_stub.ListDeadLetters(
        events_pb2.ListDeadLettersRequest(topic="run.finished")
    )
    (letter,) = listed.dead_letters
    assert (letter.group, letter.deliveries, letter.reason) == ("triggers", 5, "boom")
    assert letter.event.event_id == "e1" and letter.event.cursor == published.event.cursor
    replayed = await event_stub.ReplayDeadLetter(
        events_pb2.ReplayDeadLetterRequest(topic="run.finished", id=letter.id)
    )
    assert replayed.event.event_id == "e1" and replayed.event.payload["n"] == 1
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await event_stub.ReplayDeadLetter(
            events_pb2.ReplayDeadLetterRequest(topic="run.finished", id=letter.id)
        )
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
    info = error_info(raised.value)
    assert info is not None and info.reason == "DEAD_LETTER_NOT_FOUND"


async def test_without_a_bus_every_call_is_a_failed_precondition() -> None:
    async with serve_events(None) as address, grpc.aio.insecure_channel(address) as channel:
        stub = events_pb2_grpc.EventServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await stub.PublishEvent(events_pb2.PublishEventRequest(topic="t"))
    assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    info = error_info(raised.value)
    assert info is not None and info.reason == "BUS_DISABLED"


async def test_an_unreachable_redis_is_unavailable_with_retry_info() -> None:
    bus = EventBus.from_url("redis://127.0.0.1:45099/0")  # nothing listens there
    try:
        async with serve_events(bus) as address, grpc.aio.insecure_channel(address) as channel:
            stub = events_pb2_grpc.EventServiceStub(channel)
            with pytest.raises(grpc.aio.AioRpcError) as raised:
                await asyncio.wait_for(
                    stub.PublishEvent(events_pb2.PublishEventRequest(topic="t")), 10
                )
    finally:
        await bus.close()
    assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
    info = error_info(raised.value)
    assert info is not None and info.reason == "BUS_UNAVAILABLE"
