"""The five mock services: names, full gRPC service names, default ports, how to mount them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import grpc

from aura.combination.v1 import combination_pb2
from aura.image.v1 import image_pb2
from aura.nlu.v1 import nlu_pb2
from aura.recommendation.v1 import recommendation_pb2
from aura.style.v1 import style_pb2
from mock_services.combination import servicer as combination_servicer
from mock_services.common.ledger import Ledger
from mock_services.image import servicer as image_servicer
from mock_services.nlu import servicer as nlu_servicer
from mock_services.recommendation import servicer as recommendation_servicer
from mock_services.style import servicer as style_servicer


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    service_name: str
    default_port: int
    add_to_server: Callable[[grpc.aio.Server, Path], Ledger | None]
    """Mounts a fresh servicer on a server, its durable state (if any) under the data
    directory; returns the ledger of a service that takes part in transactions."""


SERVICES: dict[str, ServiceSpec] = {
    spec.name: spec
    for spec in (
        ServiceSpec(
            "image",
            image_pb2.DESCRIPTOR.services_by_name["ImageProcessingService"].full_name,
            8001,
            image_servicer.add_to_server,
        ),
        ServiceSpec(
            "nlu",
            nlu_pb2.DESCRIPTOR.services_by_name["NluService"].full_name,
            8002,
            nlu_servicer.add_to_server,
        ),
        ServiceSpec(
            "style",
            style_pb2.DESCRIPTOR.services_by_name["StyleProfileService"].full_name,
            8003,
            style_servicer.add_to_server,
        ),
        ServiceSpec(
            "combination",
            combination_pb2.DESCRIPTOR.services_by_name["CombinationEngineService"].full_name,
            8004,
            combination_servicer.add_to_server,
        ),
        ServiceSpec(
            "recommendation",
            recommendation_pb2.DESCRIPTOR.services_by_name["RecommendationEngineService"].full_name,
            8005,
            recommendation_servicer.add_to_server,
        ),
    )
}

SERVICE_PORTS: dict[str, int] = {name: spec.default_port for name, spec in SERVICES.items()}


def service_spec(name: str) -> ServiceSpec:
    try:
        return SERVICES[name]
    except KeyError:
        raise ValueError(
            f"unknown mock service {name!r}; choose from {', '.join(SERVICES)}"
        ) from None
