"""The ImageProcessingService mock."""

from __future__ import annotations

from pathlib import Path

import grpc

from aura.image.v1 import image_pb2, image_pb2_grpc
from mock_services.common.validation import reject_invalid
from mock_services.image.analysis import analyze_image
from mock_services.image.validation import validate_analyze_image


class ImageServicer(image_pb2_grpc.ImageProcessingServiceServicer):
    async def AnalyzeImage(
        self, request: image_pb2.AnalyzeImageRequest, context: grpc.aio.ServicerContext
    ) -> image_pb2.AnalyzeImageResponse:
        await reject_invalid(context, validate_analyze_image(request), "AnalyzeImageRequest")
        return analyze_image(request)


def add_to_server(server: grpc.aio.Server, data_dir: Path) -> None:
    del data_dir  # stateless
    image_pb2_grpc.add_ImageProcessingServiceServicer_to_server(ImageServicer(), server)
