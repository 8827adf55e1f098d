"""The NluService mock."""

from __future__ import annotations

from pathlib import Path

import grpc

from aura.nlu.v1 import nlu_pb2, nlu_pb2_grpc
from mock_services.common.validation import reject_invalid
from mock_services.nlu.extraction import analyze_text
from mock_services.nlu.validation import validate_analyze_text


class NluServicer(nlu_pb2_grpc.NluServiceServicer):
    async def AnalyzeText(
        self, request: nlu_pb2.AnalyzeTextRequest, context: grpc.aio.ServicerContext
    ) -> nlu_pb2.AnalyzeTextResponse:
        await reject_invalid(context, validate_analyze_text(request), "AnalyzeTextRequest")
        return analyze_text(request)


def add_to_server(server: grpc.aio.Server, data_dir: Path) -> None:
    del data_dir  # stateless
    nlu_pb2_grpc.add_NluServiceServicer_to_server(NluServicer(), server)
