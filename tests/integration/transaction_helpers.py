"""Helpers of the transaction tests: the participating mocks as a child process that can be
killed for real (SIGKILL) or frozen (SIGSTOP), and a reader of each service's durable state
straight from its SQLite file."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
from dataclasses import dataclass
from pathlib import Path

import grpc
from google.protobuf import any_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc

from aura.combination.v1 import combination_pb2 as cb
from aura.recommendation.v1 import recommendation_pb2 as rc
from aura.style.v1 import style_pb2 as st
from aura.transaction.v1 import participant_pb2 as tx
from aura.transaction.v1 import participant_pb2_grpc as tx_grpc
from tests.helpers import REPO_ROOT, eventually
from tests.integration.cli_process import free_port

PARTICIPANTS = ("style", "combination", "recommendation")
SERVICE_NAMES = {
    "style": "aura.style.v1.StyleProfileService",
    "combination": "aura.combination.v1.CombinationEngineService",
    "recommendation": "aura.recommendation.v1.RecommendationEngineService",
}
METHODS = {
    "style": "aura.style.v1.StyleProfileService/LearnAdoptedOutfit",
    "combination": "aura.combination.v1.CombinationEngineService/SaveOutfit",
    "recommendation": "aura.recommendation.v1.RecommendationEngineService/RecordFeedback",
}
OUTFIT_SKUS = ("TOP-001", "BTM-001", "SHO-001")
PREPARED = tx.BRANCH_STATE_PREPARED
COMMITTED = tx.BRANCH_STATE_COMMITTED
ABORTED = tx.BRANCH_STATE_ABORTED


def adoption_request(service: str, user_id: str, outfit_id: str) -> any_pb2.Any:
    """The adopt-an-outfit request of one service, packed for a Prepare."""
    skus = list(OUTFIT_SKUS)
    request: st.LearnAdoptedOutfitRequest | cb.SaveOutfitRequest | rc.RecordFeedbackRequest
    if service == "style":
        request = st.LearnAdoptedOutfitRequest(user_id=user_id, outfit_id=outfit_id, item_skus=skus)
    elif service == "combination":
        request = cb.SaveOutfitRequest(user_id=user_id, outfit_id=outfit_id, item_skus=skus)
    else:
        request = rc.RecordFeedbackRequest(
            user_id=user_id, outfit_id=outfit_id, item_skus=skus, hold_quantity=1
        )
    packed = any_pb2.Any()
    packed.Pack(request)
    return packed


class MockProcess:
    """`python -m mock_services.listen` with the three participating mocks, each on a fixed
    port (so a restart comes back where it was), its SQLite files in `data_dir`."""

    def __init__(self, data_dir: Path, *, in_doubt_after_s: float = 0.5, **env: str) -> None:
        """`env`: more settings, e.g. AURA_MOCK_RECOMMENDATION_LATENCY_MS="400"."""
        self.data_dir = data_dir
        self.ports = {name: free_port() for name in PARTICIPANTS}
        self.env = dict(
            os.environ,
            AURA_MOCK_DATA_DIR=str(data_dir),
            AURA_MOCK_IN_DOUBT_AFTER_S=str(in_doubt_after_s),
            AURA_MOCK_LOG_LEVEL="WARNING",
            **env,
        )
        self.process: asyncio.subprocess.Process | None = None

    def address(self, name: str) -> str:
        return f"127.0.0.1:{self.ports[name]}"

    def addresses(self) -> dict[str, str]:
        """Full service name -> address, as MockMesh.addresses() gives them (so an
        OrchestratorProcess can be wired to this process)."""
        return {SERVICE_NAMES[name]: self.address(name) for name in PARTICIPANTS}

    async def start(self) -> None:
        args = [f"{name}={self.address(name)}" for name in PARTICIPANTS]
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "mock_services.listen",
            *args,
            env=self.env,
            cwd=REPO_ROOT,
            stdout=asyncio.subprocess.DEVNULL,
        )
        for name in PARTICIPANTS:
            await eventually(lambda name=name: self._serving(name), timeout_s=20, interval_s=0.05)

    async def _serving(self, name: str) -> bool:
        async with grpc.aio.insecure_channel(self.address(name)) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            try:
                answer = await stub.Check(health_pb2.HealthCheckRequest(), timeout=0.5)
            except grpc.aio.AioRpcError:
                return False
            return bool(answer.status == health_pb2.HealthCheckResponse.SERVING)

    async def kill(self) -> None:
        """SIGKILL: no shutdown code runs."""
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGKILL)
            await self.process.wait()

    def freeze(self) -> None:
        """SIGSTOP: the process is unreachable (calls hang) until `thaw`."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), timeout=10)
            except TimeoutError:
                await self.kill()


async def prepare(
    address: str, transaction_id: str, branch_id: str, request: any_pb2.Any, coordinator: str = ""
) -> tx.PrepareResponse:
    method = {
        "LearnAdoptedOutfitRequest": METHODS["style"],
        "SaveOutfitRequest": METHODS["combination"],
        "RecordFeedbackRequest": METHODS["recommendation"],
    }[request.type_url.rsplit(".", 1)[-1]]
    async with grpc.aio.insecure_channel(address) as channel:
        stub = tx_grpc.ParticipantServiceStub(channel)
        answer: tx.PrepareResponse = await stub.Prepare(
            tx.PrepareRequest(
                transaction_id=transaction_id,
                branch_id=branch_id,
                method=method,
                request=request,
                coordinator=coordinator,
            ),
            timeout=5,
        )
        return answer


async def decide(address: str, transaction_id: str, branch_id: str, commit: bool) -> None:
    async with grpc.aio.insecure_channel(address) as channel:
        stub = tx_grpc.ParticipantServiceStub(channel)
        if commit:
            await stub.Commit(tx.CommitRequest(transaction_id=transaction_id, branch_id=branch_id))
        else:
            await stub.Abort(tx.AbortRequest(transaction_id=transaction_id, branch_id=branch_id))


@dataclass(frozen=True)
class DurableState:
    """What one service's SQLite file holds."""

    branches: dict[tuple[str, str], int]
    """(transaction id, branch id) -> BranchState."""
    effects: list[tuple[str, str, str]]
    """(transaction id, branch id, effect) in order: prepare, commit, abort, null_abort..."""
    applied: dict[str, int]
    """outfit id -> committed rows (wardrobe, feedback or adoptions)."""
    held_units: int
    """Units of stock held (recommendation only)."""

    def count(self, transaction_id: str, effect: str) -> int:
        return sum(1 for t, _, e in self.effects if t == transaction_id and e == effect)


_APPLIED_TABLE = {"style": "adoptions", "combination": "wardrobe", "recommendation": "feedback"}


def durable_state(data_dir: Path, service: str) -> DurableState:
    """Reads `<service>.db` read-only (the mock may be dead, alive or frozen)."""
    path = data_dir / f"{service}.db"
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        branches = {
            (row[0], row[1]): row[2]
            for row in db.execute("SELECT transaction_id, branch_id, state FROM branches")
        }
        effects = [
            (row[0], row[1], row[2])
            for row in db.execute(
                "SELECT transaction_id, branch_id, effect FROM effect_log ORDER BY id"
            )
        ]
        applied: dict[str, int] = {}
        for (outfit_id,) in db.execute(f"SELECT outfit_id FROM {_APPLIED_TABLE[service]}"):
            applied[outfit_id] = applied.get(outfit_id, 0) + 1
        held = 0
        if service == "recommendation":
            held = int(db.execute("SELECT COALESCE(SUM(quantity), 0) FROM holds").fetchone()[0])
        return DurableState(branches, effects, applied, held)
    finally:
        db.close()


def all_states(data_dir: Path) -> dict[str, DurableState]:
    return {name: durable_state(data_dir, name) for name in PARTICIPANTS}


def branch_states(data_dir: Path, transaction_ids: list[str]) -> dict[str, set[int]]:
    """Transaction id -> the states of its branches across the three services (a branch
    never recorded is absent)."""
    found: dict[str, set[int]] = {txn: set() for txn in transaction_ids}
    for state in all_states(data_dir).values():
        for (txn, _), branch_state in state.branches.items():
            if txn in found:
                found[txn].add(branch_state)
    return found
