"""The complete_style_analysis shape, two ways: hand-written (the limit) and orchestrated.

image ∥ nlu → style (profile) → combination (outfits) → recommendation, with the same
wiring as `orchestrator/workflows/definitions/complete_style_analysis.yaml`.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf import struct_pb2

from aura.combination.v1 import combination_pb2, combination_pb2_grpc
from aura.image.v1 import image_pb2, image_pb2_grpc
from aura.nlu.v1 import nlu_pb2, nlu_pb2_grpc
from aura.orchestrator.v1 import orchestrator_pb2, orchestrator_pb2_grpc, run_pb2
from aura.recommendation.v1 import recommendation_pb2, recommendation_pb2_grpc
from aura.style.v1 import style_pb2, style_pb2_grpc

DEFINITION = "complete_style_analysis"
STYLE_INPUT: dict[str, Any] = {
    "user_id": "ada",
    "image_uri": "https://example.com/navy-blazer.jpg",
    "text": "Business casual outfit for an office meeting, navy or grey, under 300 euros",
}
# Step -> the steps it waits for (the workflow's critical path is image|nlu, then a chain).
DAG: dict[str, tuple[str, ...]] = {
    "image": (),
    "nlu": (),
    "profile": ("image", "nlu"),
    "outfits": ("profile",),
    "recommendations": ("profile", "outfits"),
}
CHANNEL_OPTIONS = (("grpc.use_local_subchannel_pool", 1),)


def struct(value: dict[str, Any]) -> struct_pb2.Struct:
    result = struct_pb2.Struct()
    result.update(value)
    return result


SERVICES = (
    "aura.image.v1.ImageProcessingService",
    "aura.nlu.v1.NluService",
    "aura.style.v1.StyleProfileService",
    "aura.combination.v1.CombinationEngineService",
    "aura.recommendation.v1.RecommendationEngineService",
)
# Per-call deadlines (s).
TIMEOUTS = {"image": 8.0, "nlu": 3.0, "profile": 3.0, "outfits": 5.0, "recommendations": 5.0}


# --- the five requests and their deadlines ------------------------------------------------


def image_request(run_input: dict[str, Any]) -> image_pb2.AnalyzeImageRequest:
    return image_pb2.AnalyzeImageRequest(
        image_uri=run_input["image_uri"], user_id=run_input["user_id"]
    )


def nlu_request(run_input: dict[str, Any]) -> nlu_pb2.AnalyzeTextRequest:
    return nlu_pb2.AnalyzeTextRequest(text=run_input["text"], user_id=run_input["user_id"])


def profile_request(
    user_id: str, image: image_pb2.AnalyzeImageResponse, nlu: nlu_pb2.AnalyzeTextResponse
) -> style_pb2.BuildStyleProfileRequest:
    return style_pb2.BuildStyleProfileRequest(
        user_id=user_id,
        observed_garments=image.garments,
        observed_colors=image.dominant_colors,
        image_style_tags=image.style_tags,
        text_style_keywords=nlu.style_keywords,
        occasion=nlu.occasion,
    )


def outfits_request(
    profile: style_pb2.BuildStyleProfileResponse, nlu: nlu_pb2.AnalyzeTextResponse
) -> combination_pb2.GenerateOutfitsRequest:
    return combination_pb2.GenerateOutfitsRequest(
        profile=profile.profile, occasion=nlu.occasion, max_outfits=3
    )


def recommendations_request(
    profile: style_pb2.BuildStyleProfileResponse,
    outfits: combination_pb2.GenerateOutfitsResponse,
    nlu: nlu_pb2.AnalyzeTextResponse,
) -> recommendation_pb2.RecommendItemsRequest:
    return recommendation_pb2.RecommendItemsRequest(
        profile=profile.profile,
        outfits=outfits.outfits,
        max_price=nlu.budget.max_price,
        occasion=nlu.occasion,
        max_results=5,
    )


class AsyncBackends:
    """grpc.aio stubs, one channel per service; one method per call. Bound to one event loop."""

    def __init__(self, addresses: dict[str, str]) -> None:
        self._channels = [
            grpc.aio.insecure_channel(addresses[name], options=CHANNEL_OPTIONS) for name in SERVICES
        ]
        image, nlu, style, combination, recommendation = self._channels
        self._image = image_pb2_grpc.ImageProcessingServiceStub(image)
        self._nlu = nlu_pb2_grpc.NluServiceStub(nlu)
        self._style = style_pb2_grpc.StyleProfileServiceStub(style)
        self._combination = combination_pb2_grpc.CombinationEngineServiceStub(combination)
        self._recommendation = recommendation_pb2_grpc.RecommendationEngineServiceStub(
            recommendation
        )

    async def image(self, run_input: dict[str, Any]) -> image_pb2.AnalyzeImageResponse:
        return await self._image.AnalyzeImage(image_request(run_input), timeout=TIMEOUTS["image"])

    async def nlu(self, run_input: dict[str, Any]) -> nlu_pb2.AnalyzeTextResponse:
        return await self._nlu.AnalyzeText(nlu_request(run_input), timeout=TIMEOUTS["nlu"])

    async def profile(
        self,
        user_id: str,
        image: image_pb2.AnalyzeImageResponse,
        nlu: nlu_pb2.AnalyzeTextResponse,
    ) -> style_pb2.BuildStyleProfileResponse:
        return await self._style.BuildStyleProfile(
            profile_request(user_id, image, nlu), timeout=TIMEOUTS["profile"]
        )

    async def outfits(
        self, profile: style_pb2.BuildStyleProfileResponse, nlu: nlu_pb2.AnalyzeTextResponse
    ) -> combination_pb2.GenerateOutfitsResponse:
        return await self._combination.GenerateOutfits(
            outfits_request(profile, nlu), timeout=TIMEOUTS["outfits"]
        )

    async def recommendations(
        self,
        profile: style_pb2.BuildStyleProfileResponse,
        outfits: combination_pb2.GenerateOutfitsResponse,
        nlu: nlu_pb2.AnalyzeTextResponse,
    ) -> recommendation_pb2.RecommendItemsResponse:
        return await self._recommendation.RecommendItems(
            recommendations_request(profile, outfits, nlu), timeout=TIMEOUTS["recommendations"]
        )

    async def close(self) -> None:
        for channel in self._channels:
            await channel.close()


class LimitClient(AsyncBackends):
    """The same five calls made directly with asyncio + grpc.aio: one channel per service."""

    async def run(self, run_input: dict[str, Any] = STYLE_INPUT) -> None:
        image, nlu = await asyncio.gather(self.image(run_input), self.nlu(run_input))
        profile = await self.profile(run_input["user_id"], image, nlu)
        outfits = await self.outfits(profile, nlu)
        recommendations = await self.recommendations(profile, outfits, nlu)
        if not recommendations.recommendations:
            raise RuntimeError("the hand-written pipeline got no recommendations")


@dataclass(frozen=True)
class StepTimes:
    """Per-step (start, end) in seconds, from the finished run."""

    steps: dict[str, tuple[float, float]]
    run_s: float  # the run's own start -> end

    def sequential_sum_s(self) -> float:
        return sum(end - start for start, end in self.steps.values())

    def critical_path_s(self) -> float:
        """Longest dependency chain of step durations (what perfect parallelism would take)."""
        finish: dict[str, float] = {}
        for step, deps in DAG.items():  # DAG is in topological order
            start, end = self.steps[step]
            finish[step] = max((finish[d] for d in deps), default=0.0) + (end - start)
        return max(finish.values())


def step_times(run: run_pb2.WorkflowRun) -> StepTimes:
    steps = {
        step.step_id: (step.start_time.ToNanoseconds() / 1e9, step.end_time.ToNanoseconds() / 1e9)
        for step in run.steps
    }
    run_s = (run.end_time.ToNanoseconds() - run.start_time.ToNanoseconds()) / 1e9
    return StepTimes(steps, run_s)


class OrchestratedClient:
    """ExecuteWorkflowRun against the orchestrator, over `channels` connections."""

    def __init__(
        self,
        address: str,
        channels: int = 1,
        *,
        credentials: grpc.ChannelCredentials | None = None,
        token: str | None = None,
    ) -> None:
        """`credentials`: TLS (mTLS) to the orchestrator; `token`: a bearer token per call."""
        self._channels = [
            grpc.aio.insecure_channel(address, options=CHANNEL_OPTIONS)
            if credentials is None
            else grpc.aio.secure_channel(address, credentials, options=CHANNEL_OPTIONS)
            for _ in range(channels)
        ]
        self._metadata = (("authorization", f"Bearer {token}"),) if token else None
        self.stubs = [orchestrator_pb2_grpc.OrchestratorServiceStub(c) for c in self._channels]
        self._request = orchestrator_pb2.ExecuteWorkflowRunRequest(
            workflow_definition=DEFINITION, input=struct(STYLE_INPUT)
        )
        self._next = 0

    def stub(self) -> orchestrator_pb2_grpc.OrchestratorServiceStub:
        self._next = (self._next + 1) % len(self.stubs)
        return self.stubs[self._next]

    async def run(self) -> run_pb2.WorkflowRun:
        response = await self.stub().ExecuteWorkflowRun(
            self._request, timeout=120, metadata=self._metadata
        )
        run = response.workflow_run
        if run.state != run_pb2.RUN_STATE_SUCCEEDED:
            raise RuntimeError(
                f"{run.name} ended {run_pb2.RunState.Name(run.state)}: {run.error.message}"
            )
        return run

    async def close(self) -> None:
        for channel in self._channels:
            await channel.close()


def now_ns() -> int:
    return time.time_ns()
