"""Participants as real processes killed with SIGKILL: what they prepared survives, commits
apply once, and an in-doubt participant asks the coordinator and never decides alone."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from aura.orchestrator.v1 import orchestrator_pb2, orchestrator_pb2_grpc, run_pb2
from aura.transaction.v1 import participant_pb2 as tx
from tests.helpers import eventually
from tests.integration.cli_process import free_port
from tests.integration.transaction_helpers import (
    ABORTED,
    COMMITTED,
    PARTICIPANTS,
    PREPARED,
    MockProcess,
    adoption_request,
    decide,
    durable_state,
    prepare,
)

pytestmark = pytest.mark.integration
TRIALS = 20


@pytest.fixture(name="mocks")
async def mocks_fixture(tmp_path: Path) -> AsyncIterator[MockProcess]:
    process = MockProcess(tmp_path / "mocks", in_doubt_after_s=0.3)
    await process.start()
    yield process
    await process.stop()


async def test_prepared_branches_survive_kill_9_and_commit_exactly_once(
    mocks: MockProcess,
) -> None:
    txns = [f"run-{trial}/adopt" for trial in range(TRIALS)]
    votes = await asyncio.gather(
        *(
            prepare(mocks.address(name), txn, name, adoption_request(name, "ada", txn))
            for txn in txns
            for name in PARTICIPANTS
        )
    )
    assert {vote.vote for vote in votes} == {tx.VOTE_YES}
    await mocks.kill()
    for name in PARTICIPANTS:
        state = durable_state(mocks.data_dir, name)
        assert state.branches == {(txn, name): PREPARED for txn in txns}
        assert state.applied == {}  # held, not applied
    assert durable_state(mocks.data_dir, "recommendation").held_units == 3 * TRIALS

    await mocks.start()
    commits, aborts = txns[::2], txns[1::2]
    for _ in range(2):  # phase two repeated, as after a coordinator restart
        await asyncio.gather(
            *(
                decide(mocks.address(name), t, name, commit=True)
                for t in commits
                for name in PARTICIPANTS
            ),
            *(
                decide(mocks.address(name), t, name, commit=False)
                for t in aborts
                for name in PARTICIPANTS
            ),
        )
    for name in PARTICIPANTS:
        state = durable_state(mocks.data_dir, name)
        assert state.applied == dict.fromkeys(commits, 1)
        assert all(state.count(t, "commit") == 1 for t in commits)
        assert all(state.count(t, "abort") == 1 and state.count(t, "commit") == 0 for t in aborts)
        assert {state.branches[(t, name)] for t in commits} == {COMMITTED}
        assert {state.branches[(t, name)] for t in aborts} == {ABORTED}
    assert durable_state(mocks.data_dir, "recommendation").held_units == 3 * len(commits)


class FakeCoordinator(orchestrator_pb2_grpc.OrchestratorServiceServicer):
    """Answers GetTransactionOutcome from a table; counts the questions."""

    def __init__(self) -> None:
        self.decisions: dict[str, int] = {}
        self.asked: Counter[str] = Counter()

    async def GetTransactionOutcome(
        self,
        request: orchestrator_pb2.GetTransactionOutcomeRequest,
        context: grpc.aio.ServicerContext,
    ) -> orchestrator_pb2.GetTransactionOutcomeResponse:
        self.asked[request.transaction_id] += 1
        return orchestrator_pb2.GetTransactionOutcomeResponse(
            decision=self.decisions.get(
                request.transaction_id, run_pb2.TRANSACTION_DECISION_UNSPECIFIED
            )
        )


async def _serve(coordinator: FakeCoordinator, port: int) -> grpc.aio.Server:
    server = grpc.aio.server()
    orchestrator_pb2_grpc.add_OrchestratorServiceServicer_to_server(coordinator, server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    return server


async def test_an_in_doubt_participant_asks_the_coordinator_and_never_decides_alone(
    mocks: MockProcess,
) -> None:
    coordinator = FakeCoordinator()
    port = free_port()
    server = await _serve(coordinator, port)
    address = f"127.0.0.1:{port}"
    coordinator.decisions = {
        "a/adopt": run_pb2.TRANSACTION_DECISION_COMMIT,
        "b/adopt": run_pb2.TRANSACTION_DECISION_ABORT,
    }
    for txn in ("a/adopt", "b/adopt", "c/adopt"):
        for name in PARTICIPANTS:
            answer = await prepare(
                mocks.address(name), txn, name, adoption_request(name, "ada", txn), address
            )
            assert answer.vote == tx.VOTE_YES

    def settled() -> bool:
        states = [durable_state(mocks.data_dir, name).branches for name in PARTICIPANTS]
        return all(
            s[("a/adopt", n)] == COMMITTED and s[("b/adopt", n)] == ABORTED
            for s, n in zip(states, PARTICIPANTS, strict=True)
        )

    await eventually(settled, timeout_s=10, interval_s=0.1)
    await eventually(lambda: coordinator.asked["c/adopt"] >= 6, timeout_s=10)
    await server.stop(grace=None)  # the coordinator goes away: still nobody decides
    await mocks.kill()
    await mocks.start()
    await asyncio.sleep(1.0)
    for name in PARTICIPANTS:
        assert durable_state(mocks.data_dir, name).branches[("c/adopt", name)] == PREPARED

    coordinator.decisions["c/adopt"] = run_pb2.TRANSACTION_DECISION_COMMIT
    server = await _serve(coordinator, port)
    try:
        await eventually(
            lambda: all(
                durable_state(mocks.data_dir, n).branches[("c/adopt", n)] == COMMITTED
                for n in PARTICIPANTS
            ),
            timeout_s=15,
            interval_s=0.1,
        )
    finally:
        await server.stop(grace=None)
    for name in PARTICIPANTS:
        state = durable_state(mocks.data_dir, name)
        assert state.applied == {"a/adopt": 1, "c/adopt": 1}
