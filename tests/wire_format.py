"""Protobuf wire bytes made by hand, for requests no well-behaved client library would send.

Also the raw-bytes calls that put them on the wire: a method path, bytes in, status out.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

import grpc
from google.protobuf import descriptor_pool
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor

LENGTH_DELIMITED = 2
START_GROUP = 3
END_GROUP = 4
STRUCT = "google.protobuf.Struct"
# Past upb's default recursion limit (100) with room to spare.
TOO_DEEP = 200

GARBAGE: dict[str, bytes] = {
    "unterminated_varint_tag": b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff",
    "length_past_the_end": b"\x0a\x7fshort",
    "end_group_without_start": b"\x0c",
    "field_number_zero": b"\x02\x00",
}


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def tag(field_number: int, wire_type: int) -> bytes:
    return varint(field_number << 3 | wire_type)


def length_delimited(field_number: int, payload: bytes) -> bytes:
    return tag(field_number, LENGTH_DELIMITED) + varint(len(payload)) + payload


def _path_to(descriptor: Descriptor, wanted: object) -> list[FieldDescriptor] | None:
    """Shortest chain of fields from `descriptor` to a field for which `wanted(field)` holds."""
    queue: deque[tuple[Descriptor, list[FieldDescriptor]]] = deque([(descriptor, [])])
    seen = {descriptor.full_name}
    while queue:
        message, path = queue.popleft()
        for field in message.fields:
            if wanted(field):  # type: ignore[operator]
                return [*path, field]
            if field.message_type is not None and field.message_type.full_name not in seen:
                seen.add(field.message_type.full_name)
                queue.append((field.message_type, [*path, field]))
    return None


def _wrap(path: list[FieldDescriptor], innermost: bytes) -> bytes:
    """`innermost` as the payload of the last field of `path`, nested in the fields before it."""
    payload = innermost
    for field in reversed(path):
        payload = length_delimited(field.number, payload)
    return payload


def invalid_utf8(descriptor: Descriptor) -> bytes | None:
    """A message whose first reachable string field holds bytes that are not UTF-8."""
    path = _path_to(descriptor, lambda f: f.type == FieldDescriptor.TYPE_STRING)
    return None if path is None else _wrap(path, b"ok \xc3\x28 \xff")


def nested_struct(depth: int) -> bytes:
    """A google.protobuf.Struct holding {"k": {"k": ...}} `depth` levels deep."""
    struct = b""
    for _ in range(depth):
        entry = length_delimited(1, b"k") + length_delimited(2, length_delimited(5, struct))
        struct = length_delimited(1, entry)
    return struct


def nested_groups(depth: int, field_number: int = 2047) -> bytes:
    """An unknown field of `depth` nested groups: recursion a message without Structs must parse."""
    return tag(field_number, START_GROUP) * depth + tag(field_number, END_GROUP) * depth


def too_deep(descriptor: Descriptor) -> bytes:
    """A message nested past the recursion limit: through a Struct where one is reachable."""
    path = _path_to(
        descriptor, lambda f: f.message_type is not None and f.message_type.full_name == STRUCT
    )
    if path is None:
        return nested_groups(TOO_DEEP)
    return _wrap(path, nested_struct(TOO_DEEP))


@dataclass(frozen=True)
class BadRequest:
    """One undecodable request for one method: what is wrong with it and its bytes."""

    method: MethodDescriptor
    kind: str
    payload: bytes

    @property
    def path(self) -> str:
        return f"/{self.method.containing_service.full_name}/{self.method.name}"

    @property
    def id(self) -> str:
        return f"{self.method.containing_service.name}.{self.method.name}-{self.kind}"


def bad_requests(service_names: list[str]) -> Iterator[BadRequest]:
    """Garbage, invalid UTF-8 (where a string field exists) and too-deep nesting, per method."""
    pool = descriptor_pool.Default()
    for service_name in service_names:
        for method in pool.FindServiceByName(service_name).methods:
            request = method.input_type
            yield BadRequest(method, "garbage", GARBAGE["unterminated_varint_tag"])
            utf8 = invalid_utf8(request)
            if utf8 is not None:
                yield BadRequest(method, "invalid_utf8", utf8)
            yield BadRequest(method, "too_deep", too_deep(request))


async def call_raw(
    channel: grpc.aio.Channel, method: MethodDescriptor, payload: bytes, timeout_s: float = 10
) -> grpc.aio.AioRpcError | None:
    """Sends `payload` as the only request of `method`; the error it ended with, None for OK."""
    path = f"/{method.containing_service.full_name}/{method.name}"
    raw = {"request_serializer": None, "response_deserializer": None}
    try:
        if not method.client_streaming and not method.server_streaming:
            await channel.unary_unary(path, **raw)(payload, timeout=timeout_s)
        elif not method.client_streaming:
            async for _ in channel.unary_stream(path, **raw)(payload, timeout=timeout_s):
                pass
        elif not method.server_streaming:
            await channel.stream_unary(path, **raw)(iter([payload]), timeout=timeout_s)
        else:
            async for _ in channel.stream_stream(path, **raw)(iter([payload]), timeout=timeout_s):
                pass
    except grpc.aio.AioRpcError as error:
        return error
    return None
