"""`python -m benchmarks.peers.dbos_flow --addresses JSON ...`: the DAG as a DBOS workflow.

Each backend call is an async `@DBOS.step`; the workflow is async and awaits the image and
text steps together with `asyncio.gather` (DBOS numbers a step when it is called, so the
order is deterministic for recovery). The system database is SQLite in a fresh temporary
directory. Runs in benchmarks/.venv-peers with PYTHONPATH=<repo>:<repo>/stubs; writes JSON.
"""

from __future__ import annotations

import asyncio
import json
import logging
import tempfile
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

from dbos import DBOS, DBOSConfig, SetWorkflowID

from aura.combination.v1 import combination_pb2
from aura.image.v1 import image_pb2
from aura.nlu.v1 import nlu_pb2
from aura.recommendation.v1 import recommendation_pb2
from aura.style.v1 import style_pb2
from benchmarks.peers.common import (
    check_recommendations,
    default_input,
    measure_levels,
    parser,
    write_result,
)
from benchmarks.workload import AsyncBackends

_backends: list[AsyncBackends] = []  # the one client, made on the benchmark's event loop


def backends() -> AsyncBackends:
    return _backends[0]


@DBOS.step()
async def analyze_image(run_input: dict[str, Any]) -> image_pb2.AnalyzeImageResponse:
    return await backends().image(run_input)


@DBOS.step()
async def analyze_text(run_input: dict[str, Any]) -> nlu_pb2.AnalyzeTextResponse:
    return await backends().nlu(run_input)


@DBOS.step()
async def build_profile(
    user_id: str, image: image_pb2.AnalyzeImageResponse, nlu: nlu_pb2.AnalyzeTextResponse
) -> style_pb2.BuildStyleProfileResponse:
    return await backends().profile(user_id, image, nlu)


@DBOS.step()
async def generate_outfits(
    profile: style_pb2.BuildStyleProfileResponse, nlu: nlu_pb2.AnalyzeTextResponse
) -> combination_pb2.GenerateOutfitsResponse:
    return await backends().outfits(profile, nlu)


@DBOS.step()
async def recommend_items(
    profile: style_pb2.BuildStyleProfileResponse,
    outfits: combination_pb2.GenerateOutfitsResponse,
    nlu: nlu_pb2.AnalyzeTextResponse,
) -> recommendation_pb2.RecommendItemsResponse:
    return await backends().recommendations(profile, outfits, nlu)


@DBOS.workflow()
async def style_analysis(run_input: dict[str, Any]) -> int:
    image, nlu = await asyncio.gather(analyze_image(run_input), analyze_text(run_input))
    profile = await build_profile(run_input["user_id"], image, nlu)
    outfits = await generate_outfits(profile, nlu)
    return check_recommendations(await recommend_items(profile, outfits, nlu))


async def checked_run(run_input: dict[str, Any]) -> dict[str, Any]:
    """One run under a known id, read back: proof that every call was checkpointed as a step."""
    with SetWorkflowID("checked-run"):
        await style_analysis(run_input)
    steps = await DBOS.list_workflow_steps_async("checked-run")
    return {"steps": [step["function_name"] for step in steps]}


async def main() -> None:
    args = parser("python -m benchmarks.peers.dbos_flow", __doc__).parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="peers-dbos-") as tmp:
        started = time.perf_counter()
        config: DBOSConfig = {
            "name": "aura-peer-bench",
            "system_database_url": f"sqlite:///{Path(tmp) / 'dbos.sqlite'}",
            "log_level": "WARNING",
        }
        DBOS(config=config)
        DBOS.launch()
        _backends.append(AsyncBackends(json.loads(args.addresses)))
        run_input = default_input()
        setup_s = time.perf_counter() - started
        try:
            checked = await checked_run(run_input)
            levels = await measure_levels(lambda: style_analysis(run_input), args)
        finally:
            await backends().close()
            DBOS.destroy()
    write_result(
        args,
        {
            "framework": "dbos",
            "version": version("dbos"),
            "setup": "async @DBOS.workflow, async @DBOS.step per call, SQLite system database",
            "store": "sqlite",
            "setup_s": round(setup_s, 2),
            "checked_run": checked,
            "levels": levels,
        },
    )


if __name__ == "__main__":
    asyncio.run(main())
