"""Helpers for drain tests: following a watch until it ends, and what a drained call must say."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from aura.orchestrator.v1 import run_pb2
from mock_services.mesh import MockMesh
from orchestrator.cli.processes import wait_serving
from orchestrator.config import DEFAULT_SERVICES
from orchestrator.errors import ERROR_DOMAIN
from orchestrator.server import SERVICE_NAME
from tests.helpers import REPO_ROOT


async def start_serve(
    mesh: MockMesh, data_dir: Path, port: int, **settings: str
) -> asyncio.subprocess.Process:
    """`aura serve` as a child process, the way a container runs it, with `settings` (e.g.
    AURA_SHUTDOWN_GRACE_S="3") on top of a quiet default environment; returns once it serves."""
    env = dict(
        os.environ,
        AURA_PORT=str(port),
        AURA_DATA_DIR=str(data_dir),
        AURA_METRICS_PORT="off",
        AURA_LOG_LEVEL="WARNING",
        **settings,
    )
    for service, address in mesh.addresses().items():
        env[f"AURA_SERVICE_{DEFAULT_SERVICES[service][0].upper()}_ADDRESSES"] = address
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "orchestrator.cli", "serve", env=env, cwd=REPO_ROOT
    )
    await wait_serving(f"127.0.0.1:{port}", SERVICE_NAME, timeout_s=30)
    return process


@dataclass
class Ended:
    """How a streaming call ended: when, and with which status (None: it ended OK)."""

    at: float
    status: status_pb2.Status | None
    code: grpc.StatusCode = grpc.StatusCode.OK
    events: list[run_pb2.RunEvent] = field(default_factory=list)


async def follow(call: AsyncIterator[object], events: list[run_pb2.RunEvent]) -> Ended:
    """Reads a server stream into `events` until it ends."""
    try:
        async for response in call:
            event = getattr(response, "event", None)
            if isinstance(event, run_pb2.RunEvent):
                events.append(event)
    except grpc.aio.AioRpcError as error:
        return Ended(time.monotonic(), rpc_status.from_call(error), error.code(), events)
    return Ended(time.monotonic(), None, events=events)


def assert_shutting_down(ended: Ended, what: str) -> None:
    assert ended.code == grpc.StatusCode.UNAVAILABLE, f"{what}: {ended.code}"
    assert ended.status is not None, f"{what}: no google.rpc.Status details"
    infos, retries = [], []
    for detail in ended.status.details:
        info, retry = error_details_pb2.ErrorInfo(), error_details_pb2.RetryInfo()
        if detail.Unpack(info):
            infos.append((info.reason, info.domain))
        elif detail.Unpack(retry):
            retries.append(retry.retry_delay.ToNanoseconds())
    assert infos == [("SHUTTING_DOWN", ERROR_DOMAIN)], what
    assert len(retries) == 1 and retries[0] > 0, f"{what}: RetryInfo tells when to reconnect"
