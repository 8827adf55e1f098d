"""The whole mesh as a process (`python -m mock_services`), driven with the real grpcurl.

This is how a person meets the mocks: default ports, reflection instead of compiled stubs, JSON in
and out, and a clean exit on SIGTERM.
"""

from __future__ import annotations

import asyncio
import functools
import json
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2

from mock_services import SERVICE_PORTS
from tests.helpers import REPO_ROOT, eventually
from tests.integration.mock_helpers import health_stub

pytestmark = pytest.mark.integration
GRPCURL = Path(sys.executable).parent / "grpcurl"
SERVICES = {
    "image": "aura.image.v1.ImageProcessingService",
    "nlu": "aura.nlu.v1.NluService",
    "style": "aura.style.v1.StyleProfileService",
    "combination": "aura.combination.v1.CombinationEngineService",
    "recommendation": "aura.recommendation.v1.RecommendationEngineService",
}
PROFILE = {
    "user_id": "ada",
    "styles": [{"style": "minimalist", "score": 0.6}, {"style": "classic", "score": 0.4}],
    "palette": [{"name": "navy", "share": 0.6}, {"name": "grey", "share": 0.4}],
}


@dataclass(frozen=True)
class Result:
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        assert self.returncode == 0, self.stderr
        return json.loads(self.stdout)


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # As gRPC does: lingering TIME_WAIT connections do not make a port busy, a listener does.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


async def grpcurl(*args: str) -> Result:
    process = await asyncio.create_subprocess_exec(
        str(GRPCURL),
        "-plaintext",
        "-max-time",
        "10",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await process.communicate()
    assert process.returncode is not None
    return Result(process.returncode, stdout.decode(), stderr.decode())


async def call(name: str, method: str, body: dict[str, Any], *headers: str) -> Result:
    header_args = [arg for header in headers for arg in ("-H", header)]
    target = f"127.0.0.1:{SERVICE_PORTS[name]}"
    return await grpcurl(*header_args, "-d", json.dumps(body), target, f"{SERVICES[name]}/{method}")


async def serving(name: str) -> bool:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{SERVICE_PORTS[name]}") as channel:
        try:
            request = health_pb2.HealthCheckRequest(service=SERVICES[name])
            response = await health_stub(channel).Check(request, timeout=0.5)
        except grpc.aio.AioRpcError:
            return False
    return response.status == health_pb2.HealthCheckResponse.SERVING


@pytest.fixture(name="mesh_process")
async def mesh_process_fixture() -> AsyncIterator[asyncio.subprocess.Process]:
    if not GRPCURL.exists():
        pytest.skip(f"grpcurl not found next to the interpreter at {GRPCURL}")
    taken = [port for port in SERVICE_PORTS.values() if not port_is_free(port)]
    if taken:
        pytest.skip(f"default mock ports already in use: {taken}")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "mock_services",
        cwd=REPO_ROOT,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        for name in SERVICES:
            await eventually(functools.partial(serving, name), timeout_s=20)
        yield process
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


# The mocks whose state takes part in transactions serve the participant contract too.
PARTICIPANTS = {"style", "combination", "recommendation"}


async def test_grpcurl_lists_describes_and_calls_every_service(
    mesh_process: asyncio.subprocess.Process,
) -> None:
    listings = await asyncio.gather(
        *(grpcurl(f"127.0.0.1:{SERVICE_PORTS[name]}", "list") for name in SERVICES)
    )
    for name, listing in zip(SERVICES, listings, strict=True):
        assert listing.returncode == 0, listing.stderr
        participant = {"aura.transaction.v1.ParticipantService"} if name in PARTICIPANTS else set()
        assert set(listing.stdout.split()) == {
            SERVICES[name],
            "grpc.health.v1.Health",
            "grpc.reflection.v1alpha.ServerReflection",
            *participant,
        }

    described = await grpcurl("127.0.0.1:8002", "describe", "aura.nlu.v1.NluService.AnalyzeText")
    assert described.returncode == 0, described.stderr
    assert "is a method" in described.stdout
    assert "AnalyzeTextRequest" in described.stdout and "AnalyzeTextResponse" in described.stdout

    image, text, trends, outfits, items = await asyncio.gather(
        call("image", "AnalyzeImage", {"image_uri": "https://shop.example/navy-blazer.jpg"}),
        call("nlu", "AnalyzeText", {"text": "a minimalist look for the office under 200 euros"}),
        call("recommendation", "GetTrends", {"season": "2026-winter", "max_trends": 3}),
        call("combination", "GenerateOutfits", {"profile": PROFILE, "occasion": "OCCASION_OFFICE"}),
        call(
            "recommendation",
            "RecommendItems",
            {"profile": PROFILE, "max_price": {"currency_code": "EUR", "units": "80"}},
        ),
    )
    assert image.json()["dominant_colors"][0]["name"] == "navy"
    understood = text.json()
    assert understood["occasion"] == "OCCASION_OFFICE"
    assert understood["style_keywords"] == ["minimalist"]
    assert understood["budget"]["max_price"] == {"currency_code": "EUR", "units": "200"}
    assert trends.json()["season"] == "2026-winter"
    assert len(trends.json()["trends"]) == 3
    generated = outfits.json()["outfits"]
    assert len(generated) == 3 and all("office" in o["rationale"] for o in generated)
    recommended = items.json()
    assert recommended["recommendations"]
    assert all(int(r["item"]["price"]["units"]) < 80 for r in recommended["recommendations"])

    evidence = {"user_id": "ada", "text_style_keywords": ["boho"], "occasion": "OCCASION_DATE"}
    headers = ("aura-idempotency-key: grpcurl-1",)
    built = (await call("style", "BuildStyleProfile", evidence, *headers)).json()["profile"]
    again = (await call("style", "BuildStyleProfile", evidence, *headers)).json()["profile"]
    assert built == again and built["version"] == 1
    assert built["styles"][0]["style"] == "bohemian"
    current = (await call("style", "GetStyleProfile", {"user_id": "ada"})).json()["profile"]
    assert current == built
    history = (await call("style", "GetStyleHistory", {"user_id": "ada"})).json()
    assert [s["version"] for s in history["snapshots"]] == [1]


async def test_grpcurl_sees_health_errors_and_faults(
    mesh_process: asyncio.subprocess.Process,
) -> None:
    checks = await asyncio.gather(
        *(
            grpcurl(
                "-d",
                json.dumps({"service": SERVICES[name]}),
                f"127.0.0.1:{SERVICE_PORTS[name]}",
                "grpc.health.v1.Health/Check",
            )
            for name in SERVICES
        )
    )
    assert all(check.json() == {"status": "SERVING"} for check in checks)

    invalid = await call("nlu", "AnalyzeText", {"text": ""})
    assert invalid.returncode != 0
    assert "InvalidArgument" in invalid.stderr and "google.rpc.BadRequest" in invalid.stderr

    faulted = await call("nlu", "AnalyzeText", {"text": "hi"}, "aura-fault: code=UNAVAILABLE")
    assert faulted.returncode != 0
    assert "Unavailable" in faulted.stderr and "INJECTED_FAULT" in faulted.stderr


async def test_sigterm_stops_the_mesh_promptly_and_cleanly(
    mesh_process: asyncio.subprocess.Process,
) -> None:
    started = time.monotonic()
    mesh_process.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(mesh_process.wait(), timeout=10) == 0
    assert time.monotonic() - started < 5
    assert all(port_is_free(port) for port in SERVICE_PORTS.values())
