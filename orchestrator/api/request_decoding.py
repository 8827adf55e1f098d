"""Registers OrchestratorService with request decoding that cannot fail.

grpc.aio answers UNKNOWN when a request's deserializer raises, before any handler runs:
a message nested deeper than protobuf's recursion limit (100 messages: a Struct about 32
objects deep) or malformed bytes would never meet our error boundary. Here such a
request decodes to an `UndecodableRequest`, which the boundary answers INVALID_ARGUMENT
(reason UNDECODABLE_REQUEST). Every method of the service descriptor is registered, so
an RPC added to the proto is served as soon as the servicer implements it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf.message import DecodeError, Message
from google.protobuf.message_factory import GetMessageClass

from aura.orchestrator.v1 import orchestrator_pb2

_SERVICE = orchestrator_pb2.DESCRIPTOR.services_by_name["OrchestratorService"]


@dataclass(frozen=True)
class UndecodableRequest:
    """What a handler receives instead of a request protobuf could not parse."""

    problem: str


def tolerant_deserializer(message_class: type[Message]) -> Callable[[bytes], Any]:
    def deserialize(data: bytes) -> Message | UndecodableRequest:
        try:
            return message_class.FromString(data)
        except DecodeError as error:
            return UndecodableRequest(str(error))

    return deserialize


def add_orchestrator_service(servicer: Any, server: grpc.aio.Server) -> None:
    """Like the generated `add_OrchestratorServiceServicer_to_server`, decoding tolerantly."""
    handlers = {}
    for method in _SERVICE.methods:
        if method.client_streaming:
            raise TypeError(f"{method.full_name}: client streaming is not supported here")
        request_class = GetMessageClass(method.input_type)
        response_class = GetMessageClass(method.output_type)
        make = (
            grpc.unary_stream_rpc_method_handler
            if method.server_streaming
            else grpc.unary_unary_rpc_method_handler
        )
        handlers[method.name] = make(
            getattr(servicer, method.name),
            request_deserializer=tolerant_deserializer(request_class),
            response_serializer=response_class.SerializeToString,
        )
    generic = grpc.method_handlers_generic_handler(_SERVICE.full_name, handlers)
    server.add_generic_rpc_handlers((generic,))
    server.add_registered_method_handlers(_SERVICE.full_name, handlers)
