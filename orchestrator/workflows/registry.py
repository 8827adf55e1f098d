"""Which gRPC methods a workflow step may call, found from the generated stubs.

Steps name a method by its full name ("aura.nlu.v1.NluService/AnalyzeText"); the
registry maps that name to the method descriptor and the request and response
classes, so that the compiler can check wiring and the engine can invoke any
method without code of its own.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable
from dataclasses import dataclass

from google.protobuf.descriptor import FileDescriptor, MethodDescriptor, ServiceDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass

# The orchestrator's own APIs (runs, events) are not backends a workflow step may call,
# nor is the participant contract: the engine speaks it for a transaction group's steps.
_EXCLUDED_PACKAGES = frozenset({"orchestrator", "events", "transaction"})


@dataclass(frozen=True)
class MethodInfo:
    """One gRPC method a step can call."""

    full_name: str
    """The name steps use: "package.Service/Method"."""
    path: str
    """What `grpc.Channel.unary_unary` takes: "/package.Service/Method"."""
    service: str
    """Full service name, "package.Service"."""
    request_class: type[Message]
    response_class: type[Message]
    descriptor: MethodDescriptor

    @property
    def unary(self) -> bool:
        """True when neither side streams; only unary methods can be steps."""
        return not (self.descriptor.client_streaming or self.descriptor.server_streaming)

    @classmethod
    def from_descriptor(cls, method: MethodDescriptor) -> MethodInfo:
        service = method.containing_service.full_name
        full_name = f"{service}/{method.name}"
        return cls(
            full_name=full_name,
            path=f"/{full_name}",
            service=service,
            request_class=GetMessageClass(method.input_type),
            response_class=GetMessageClass(method.output_type),
            descriptor=method,
        )


class MethodRegistry:
    """Methods by full name. Streaming methods are registered too, flagged by
    `MethodInfo.unary`, so that a definition naming one gets a precise error."""

    def __init__(self, methods: Iterable[MethodInfo] = ()) -> None:
        self._methods: dict[str, MethodInfo] = {}
        for method in methods:
            self._methods[method.full_name] = method

    @classmethod
    def default(cls) -> MethodRegistry:
        """Every method of every service in the `aura.*` stubs, except the orchestrator's own."""
        registry = cls()
        for module_name in _aura_pb2_modules():
            module = importlib.import_module(module_name)
            registry.register_file(module.DESCRIPTOR)
        return registry

    def register_file(self, file: FileDescriptor) -> None:
        for service in file.services_by_name.values():
            self.register_service(service)

    def register_service(self, service: ServiceDescriptor) -> None:
        for method in service.methods:
            info = MethodInfo.from_descriptor(method)
            self._methods[info.full_name] = info

    def resolve(self, full_name: str) -> MethodInfo | None:
        """The method named "package.Service/Method", or None when unknown."""
        return self._methods.get(full_name)

    def services(self) -> list[str]:
        """Full names of the registered services, sorted."""
        return sorted({method.service for method in self._methods.values()})

    def methods(self) -> list[MethodInfo]:
        """Every registered method, sorted by full name."""
        return [self._methods[name] for name in sorted(self._methods)]

    def __contains__(self, full_name: object) -> bool:
        return full_name in self._methods

    def __len__(self) -> int:
        return len(self._methods)


def _aura_pb2_modules() -> list[str]:
    """Names of the generated `aura.<package>.<version>.*_pb2` modules."""
    import aura

    names = []
    for module in pkgutil.walk_packages(aura.__path__, prefix="aura."):
        parts = module.name.split(".")
        if module.ispkg or len(parts) != 4 or not parts[3].endswith("_pb2"):
            continue
        if parts[1] in _EXCLUDED_PACKAGES or not parts[2].startswith("v"):
            continue
        names.append(module.name)
    return sorted(names)
