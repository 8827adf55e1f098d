"""`python -m benchmarks.peers.prefect_flow --addresses JSON ...`: the DAG as a Prefect 3 flow.

Each backend call is a `@task`. Two ways to run the image and text tasks together, both
documented by Prefect:
- `--style async` (default): an async flow awaiting async tasks with `asyncio.gather`, on
  grpc.aio stubs and one event loop, as the hand-written client does;
- `--style submit`: a sync flow that `.submit()`s every task to the default
  ThreadPoolTaskRunner and passes the futures on, on blocking stubs; flows run on threads.

Local ephemeral mode: no API URL, so Prefect starts its own API server as a subprocess on
loopback with SQLite under a temporary PREFECT_HOME (its CPU is counted with this process's);
telemetry and the UI are off and logging is at WARNING. Runs in benchmarks/.venv-peers with
PYTHONPATH=<repo>:<repo>/stubs; writes JSON.
"""

from __future__ import annotations

import os
import tempfile

# Prefect reads its settings when imported: point it at a throwaway home first. Made before
# Prefect registers its exit hooks, so it is removed after they have stopped the API server.
_HOME = tempfile.TemporaryDirectory(prefix="peers-prefect-")
os.environ.pop("PREFECT_API_URL", None)
os.environ.update(
    {
        "PREFECT_HOME": _HOME.name,
        "PREFECT_SERVER_ALLOW_EPHEMERAL_MODE": "true",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_ENABLED": "false",
        "PREFECT_LOGGING_LEVEL": "WARNING",
        "PREFECT_SERVER_LOGGING_LEVEL": "WARNING",
    }
)

import asyncio  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402
from importlib.metadata import version  # noqa: E402
from typing import Any  # noqa: E402

from prefect import flow, get_client, task  # noqa: E402
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId  # noqa: E402

from aura.combination.v1 import combination_pb2  # noqa: E402
from aura.image.v1 import image_pb2  # noqa: E402
from aura.nlu.v1 import nlu_pb2  # noqa: E402
from aura.recommendation.v1 import recommendation_pb2  # noqa: E402
from aura.style.v1 import style_pb2  # noqa: E402
from benchmarks.peers.common import (  # noqa: E402
    SyncBackends,
    check_recommendations,
    default_input,
    levels_of,
    measure_levels,
    parser,
    write_result,
)
from benchmarks.workload import AsyncBackends  # noqa: E402

_async: list[AsyncBackends] = []  # made on the benchmark's event loop
_sync: list[SyncBackends] = []


# --- async: awaited tasks, gathered ---------------------------------------------------------


@task
async def analyze_image(run_input: dict[str, Any]) -> image_pb2.AnalyzeImageResponse:
    return await _async[0].image(run_input)


@task
async def analyze_text(run_input: dict[str, Any]) -> nlu_pb2.AnalyzeTextResponse:
    return await _async[0].nlu(run_input)


@task
async def build_profile(
    user_id: str, image: image_pb2.AnalyzeImageResponse, nlu: nlu_pb2.AnalyzeTextResponse
) -> style_pb2.BuildStyleProfileResponse:
    return await _async[0].profile(user_id, image, nlu)


@task
async def generate_outfits(
    profile: style_pb2.BuildStyleProfileResponse, nlu: nlu_pb2.AnalyzeTextResponse
) -> combination_pb2.GenerateOutfitsResponse:
    return await _async[0].outfits(profile, nlu)


@task
async def recommend_items(
    profile: style_pb2.BuildStyleProfileResponse,
    outfits: combination_pb2.GenerateOutfitsResponse,
    nlu: nlu_pb2.AnalyzeTextResponse,
) -> recommendation_pb2.RecommendItemsResponse:
    return await _async[0].recommendations(profile, outfits, nlu)


@flow(name="style-analysis")
async def style_analysis(run_input: dict[str, Any]) -> int:
    image, nlu = await asyncio.gather(analyze_image(run_input), analyze_text(run_input))
    profile = await build_profile(run_input["user_id"], image, nlu)
    outfits = await generate_outfits(profile, nlu)
    return check_recommendations(await recommend_items(profile, outfits, nlu))


# --- submit: futures on the thread-pool task runner -------------------------------------------


@task(name="analyze_image")
def analyze_image_sync(run_input: dict[str, Any]) -> image_pb2.AnalyzeImageResponse:
    return _sync[0].image(run_input)


@task(name="analyze_text")
def analyze_text_sync(run_input: dict[str, Any]) -> nlu_pb2.AnalyzeTextResponse:
    return _sync[0].nlu(run_input)


@task(name="build_profile")
def build_profile_sync(
    user_id: str, image: image_pb2.AnalyzeImageResponse, nlu: nlu_pb2.AnalyzeTextResponse
) -> style_pb2.BuildStyleProfileResponse:
    return _sync[0].profile(user_id, image, nlu)


@task(name="generate_outfits")
def generate_outfits_sync(
    profile: style_pb2.BuildStyleProfileResponse, nlu: nlu_pb2.AnalyzeTextResponse
) -> combination_pb2.GenerateOutfitsResponse:
    return _sync[0].outfits(profile, nlu)


@task(name="recommend_items")
def recommend_items_sync(
    profile: style_pb2.BuildStyleProfileResponse,
    outfits: combination_pb2.GenerateOutfitsResponse,
    nlu: nlu_pb2.AnalyzeTextResponse,
) -> recommendation_pb2.RecommendItemsResponse:
    return _sync[0].recommendations(profile, outfits, nlu)


@flow(name="style-analysis-submit")
def style_analysis_submit(run_input: dict[str, Any]) -> int:
    image = analyze_image_sync.submit(run_input)
    nlu = analyze_text_sync.submit(run_input)
    profile = build_profile_sync.submit(run_input["user_id"], image, nlu)
    outfits = generate_outfits_sync.submit(profile, nlu)
    return check_recommendations(recommend_items_sync.submit(profile, outfits, nlu).result())


# --- driver ---------------------------------------------------------------------------------


class ClientRetries(logging.Handler):
    """Counts the API client's retries (its debug log is the only record of them).

    Installed as the sole handler of `prefect.client`, at DEBUG; records at WARNING and above
    still reach stderr.
    """

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.retries = 0
        self._stderr = logging.StreamHandler(sys.stderr)

    def emit(self, record: logging.LogRecord) -> None:
        if "retryable" in record.getMessage():
            self.retries += 1
        if record.levelno >= logging.WARNING:
            self._stderr.emit(record)

    def install(self) -> ClientRetries:
        logger = logging.getLogger("prefect.client")
        logger.handlers = [self]
        logger.setLevel(logging.DEBUG)
        logger.propagate = False
        return self


async def checked_run(style: str, run_input: dict[str, Any]) -> dict[str, Any]:
    """One run, read back from the API: proof that the flow and its five task runs were tracked.

    Task runs reach the API as events, so they are polled for a few seconds.
    """
    if style == "async":
        state = await style_analysis(run_input, return_state=True)
    else:
        state = await asyncio.to_thread(style_analysis_submit, run_input, return_state=True)
    flow_run_id = state.state_details.flow_run_id
    async with get_client() as client:
        flow_run = await client.read_flow_run(flow_run_id)
        deadline = time.monotonic() + 15
        while True:
            task_runs = await client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
            )
            if len(task_runs) >= 5 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
    return {
        "flow_run_state": flow_run.state_type.value if flow_run.state_type else None,
        "task_runs": sorted(run.name.rsplit("-", 1)[0] for run in task_runs),
    }


async def main() -> None:
    args = parser("python -m benchmarks.peers.prefect_flow", __doc__)
    args.add_argument("--style", choices=("async", "submit"), default="async")
    options = args.parse_args()
    addresses = json.loads(options.addresses)
    run_input = default_input()
    retries = ClientRetries().install()
    started = time.perf_counter()
    if options.style == "async":
        _async.append(AsyncBackends(addresses))

        async def run_once() -> int:
            return await style_analysis(run_input)

    else:
        _sync.append(SyncBackends(addresses))
        # One thread per concurrent flow run (the default executor has min(32, cpus + 4)).
        workers = max(levels_of(options.levels)) + 8
        asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(workers))

        async def run_once() -> int:
            return await asyncio.to_thread(style_analysis_submit, run_input)

    try:
        checked = await checked_run(options.style, run_input)  # also starts the local API
        setup_s = time.perf_counter() - started
        levels = await measure_levels(
            run_once, options, lambda: {"api_client_retries": retries.retries}
        )
    finally:
        if _async:
            await _async[0].close()
        if _sync:
            _sync[0].close()
    write_result(
        options,
        {
            "framework": "prefect",
            "version": version("prefect"),
            "style": options.style,
            "setup": "async flow, async tasks, asyncio.gather"
            if options.style == "async"
            else "sync flow, tasks .submit() to ThreadPoolTaskRunner, futures passed on",
            "store": "sqlite (local ephemeral API server)",
            "setup_s": round(setup_s, 2),
            "checked_run": checked,
            "levels": levels,
        },
    )


if __name__ == "__main__":
    asyncio.run(main())  # _HOME goes at exit, after Prefect's own exit hook stops its server
