"""Server reflection that also answers for method symbols.

`grpcurl describe aura.nlu.v1.NluService.AnalyzeText` asks for the file containing the method, but
Python's descriptor pool indexes services, not their methods. The file holding the service holds
its methods too, so a miss on `Service.Method` is answered with the service's file.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import grpc
from grpc_reflection.v1alpha import reflection, reflection_pb2, reflection_pb2_grpc


class MethodAwareReflectionServicer(reflection.aio.ReflectionServicer):  # type: ignore[misc]
    def _file_containing_symbol(
        self, request: reflection_pb2.ServerReflectionRequest, fully_qualified_name: str
    ) -> Any:
        response = super()._file_containing_symbol(request, fully_qualified_name)
        parent = fully_qualified_name.rpartition(".")[0]
        if not response.HasField("error_response") or not parent:
            return response
        try:
            self._pool.FindServiceByName(parent)
        except KeyError:
            return response
        return super()._file_containing_symbol(request, parent)


def enable_reflection(server: grpc.aio.Server, service_names: Iterable[str]) -> None:
    """Serves reflection for `service_names` plus the reflection service itself."""
    names = (*service_names, reflection.SERVICE_NAME)
    reflection_pb2_grpc.add_ServerReflectionServicer_to_server(
        MethodAwareReflectionServicer(names), server
    )
