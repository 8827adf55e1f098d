"""`python -m benchmarks.mesh_server --latency-ms N`: the five mock services on free ports.

Prints one JSON line, {"<full service name>": "host:port", ...}, once every server listens,
then serves until SIGTERM or SIGINT. The benchmark runs it as its own process.

Backend cost. Two mock answers are real Python work: GenerateOutfits scores every outfit
combination of the catalogue (~7 ms of CPU per call on the reference machine) and
RecommendItems ranks the catalogue (~1 ms). Left as is, the mesh process, not the
orchestrator or the client, bounds every throughput number (~130 runs/s on one core). By
default (`--memoize`) those two pure functions answer repeated requests from a cache, so a
backend costs its set latency plus gRPC, which is what the benchmark varies. The key is the
request without the profile's `version` and `update_time` (StyleProfileService stamps both
on every update; the profile's content converges after a few updates of the same evidence).
`--no-memoize` keeps the full mock computation.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
from collections.abc import Callable
from typing import TypeVar

from google.protobuf.message import Message

from mock_services.common.faults import FaultConfig
from mock_services.mesh import MockMesh
from mock_services.registry import SERVICES

M = TypeVar("M", bound=Message)
R = TypeVar("R", bound=Message)
MAX_CACHED = 10_000


def memoized(compute: Callable[[M], R]) -> Callable[[M], R]:
    """`compute(request)`, answered from a cache for a request seen before (volatile fields
    of its `profile` ignored)."""
    cache: dict[bytes, R] = {}

    def answer(request: M) -> R:
        key_message = request
        if request.HasField("profile"):  # type: ignore[arg-type]
            key_message = type(request)()
            key_message.CopyFrom(request)
            profile = key_message.profile  # type: ignore[attr-defined]
            profile.ClearField("version")
            profile.ClearField("update_time")
        key = key_message.SerializeToString(deterministic=True)
        response = cache.get(key)
        if response is None:
            response = compute(request)
            if len(cache) < MAX_CACHED:
                cache[key] = response
        return response

    return answer


def memoize_compute_heavy_answers() -> None:
    from mock_services.combination import servicer as combination
    from mock_services.recommendation import servicer as recommendation

    combination.generate_outfits = memoized(combination.generate_outfits)  # type: ignore[assignment]
    recommendation.recommend_items = memoized(recommendation.recommend_items)  # type: ignore[assignment]


async def _serve(latency_ms: float) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    faults = {name: FaultConfig(latency_ms=latency_ms) for name in SERVICES}
    async with MockMesh("127.0.0.1", faults=faults) as mesh:
        print(json.dumps(mesh.addresses()), flush=True)
        await stop.wait()
        await mesh.stop(grace_s=0.2)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.mesh_server")
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--memoize", action=argparse.BooleanOptionalAction, default=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.memoize:
        memoize_compute_heavy_answers()
    asyncio.run(_serve(args.latency_ms))


if __name__ == "__main__":
    main()
