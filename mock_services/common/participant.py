"""`aura.transaction.v1.ParticipantService` over a mock's `Ledger`, and its in-doubt resolver.

A branch that voted YES and has heard no decision for `AURA_MOCK_IN_DOUBT_AFTER_S`
(default 2 s) is in doubt: the resolver asks the coordinator named in its Prepare
(`OrchestratorService/GetTransactionOutcome`) with backoff (0.5 s doubling to 5 s) and
applies the answer (over TLS when AURA_TLS_CA is set, see `tls`). UNSPECIFIED (not
decided yet) or no answer: it asks again later. It never decides alone: a prepared
branch stays prepared until the coordinator says.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import TypeVar

import grpc
from google.protobuf.message import Message
from grpc_status import rpc_status

from aura.orchestrator.v1 import orchestrator_pb2, orchestrator_pb2_grpc, run_pb2
from aura.transaction.v1 import participant_pb2 as tx
from aura.transaction.v1 import participant_pb2_grpc as tx_grpc
from mock_services.common.interceptor import IDEMPOTENCY_KEY_HEADER
from mock_services.common.ledger import (
    BranchKey,
    Ledger,
    ProtocolViolation,
    RefusedChange,
    refusal,
)
from mock_services.common.tls import orchestrator_channel
from mock_services.common.validation import Violations, abort_with, invalid_argument_status

log = logging.getLogger(__name__)

DATA_DIR_ENV = "AURA_MOCK_DATA_DIR"
IN_DOUBT_ENV = "AURA_MOCK_IN_DOUBT_AFTER_S"
ASK_BACKOFF_S = (0.5, 5.0)
MessageT = TypeVar("MessageT", bound=Message)


def data_dir() -> Path:
    """`AURA_MOCK_DATA_DIR`, or a new temporary directory (state then lasts one process)."""
    configured = os.environ.get(DATA_DIR_ENV, "")
    return Path(configured) if configured else Path(tempfile.mkdtemp(prefix="aura-mock-"))


def in_doubt_after_s() -> float:
    return float(os.environ.get(IN_DOUBT_ENV, "2"))


def _key(transaction_id: str, branch_id: str, violations: Violations) -> BranchKey:
    if not transaction_id:
        violations.add("transaction_id", "is required")
    if not branch_id:
        violations.add("branch_id", "is required")
    return BranchKey(transaction_id, branch_id)


async def _reject(context: grpc.aio.ServicerContext, violations: Violations) -> None:
    if violations:
        await abort_with(context, invalid_argument_status(violations, "transaction request"))


async def _violated(context: grpc.aio.ServicerContext, error: ProtocolViolation) -> None:
    await abort_with(context, rpc_status.to_status(refusal(error.code, error.reason, str(error))))


class ParticipantServicer(tx_grpc.ParticipantServiceServicer):
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    async def Prepare(
        self, request: tx.PrepareRequest, context: grpc.aio.ServicerContext
    ) -> tx.PrepareResponse:
        violations = Violations()
        key = _key(request.transaction_id, request.branch_id, violations)
        await _reject(context, violations)
        return self.ledger.prepare(key, request.method, request.request, request.coordinator)

    async def Commit(
        self, request: tx.CommitRequest, context: grpc.aio.ServicerContext
    ) -> tx.CommitResponse:
        violations = Violations()
        key = _key(request.transaction_id, request.branch_id, violations)
        await _reject(context, violations)
        try:
            self.ledger.commit(key)
        except ProtocolViolation as error:
            await _violated(context, error)
        return tx.CommitResponse(state=tx.BRANCH_STATE_COMMITTED)

    async def Abort(
        self, request: tx.AbortRequest, context: grpc.aio.ServicerContext
    ) -> tx.AbortResponse:
        violations = Violations()
        key = _key(request.transaction_id, request.branch_id, violations)
        await _reject(context, violations)
        try:
            null_abort = self.ledger.abort(key)
        except ProtocolViolation as error:
            await _violated(context, error)
        return tx.AbortResponse(state=tx.BRANCH_STATE_ABORTED, null_abort=null_abort)


class InDoubtResolver:
    """Asks the coordinator about branches prepared and undecided for too long."""

    def __init__(self, ledger: Ledger, after_s: float | None = None, poll_s: float = 0.25) -> None:
        self.ledger = ledger
        self.after_s = in_doubt_after_s() if after_s is None else after_s
        self.poll_s = poll_s
        self._next_ask: dict[BranchKey, tuple[float, float]] = {}  # key -> (when, backoff)
        self._channels: dict[str, grpc.aio.Channel] = {}
        self._task: asyncio.Task[None] | None = None
        self.asked = 0

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="in-doubt-resolver")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for channel in self._channels.values():
            await channel.close(grace=None)
        self._channels.clear()

    async def _loop(self) -> None:
        while True:
            with contextlib.suppress(Exception):
                await self.resolve_once()
            await asyncio.sleep(self.poll_s)

    async def resolve_once(self) -> None:
        now = time.monotonic()
        doubts = [d for d in self.ledger.in_doubt(self.after_s) if d.coordinator]
        due = [d for d in doubts if self._next_ask.get(d.key, (0.0, 0.0))[0] <= now]
        await asyncio.gather(*(self._ask(d.key, d.coordinator) for d in due))

    async def _ask(self, key: BranchKey, coordinator: str) -> None:
        self.asked += 1
        decision = run_pb2.TRANSACTION_DECISION_UNSPECIFIED
        try:
            channel = self._channels.get(coordinator)
            if channel is None:
                channel = self._channels[coordinator] = orchestrator_channel(coordinator)
            stub = orchestrator_pb2_grpc.OrchestratorServiceStub(channel)
            answer = await stub.GetTransactionOutcome(
                orchestrator_pb2.GetTransactionOutcomeRequest(transaction_id=key.transaction_id),
                timeout=2.0,
                metadata=_bearer_token(),
            )
            decision = answer.decision
        except grpc.aio.AioRpcError as error:
            log.info("outcome of %s unknown (%s); asking again", key, error.code().name)
        if decision == run_pb2.TRANSACTION_DECISION_COMMIT:
            self.ledger.commit(key)
        elif decision == run_pb2.TRANSACTION_DECISION_ABORT:
            self.ledger.abort(key)
        else:
            _, backoff = self._next_ask.get(key, (0.0, ASK_BACKOFF_S[0] / 2))
            backoff = min(2 * backoff, ASK_BACKOFF_S[1])
            self._next_ask[key] = (time.monotonic() + backoff, backoff)
            return
        self._next_ask.pop(key, None)
        log.info("in-doubt branch %s resolved by the coordinator", key)


def idempotency_key(context: grpc.aio.ServicerContext) -> str | None:
    for key, value in context.invocation_metadata() or ():
        if key == IDEMPOTENCY_KEY_HEADER and isinstance(value, str) and value:
            return value
    return None


async def apply_direct(
    ledger: Ledger,
    method: str,
    request: Message,
    response: MessageT,
    context: grpc.aio.ServicerContext,
) -> MessageT:
    """A change outside any transaction (prepared and committed at once), idempotent on
    the call's aura-idempotency-key; a refusal ends the call with its status."""
    try:
        ledger.apply(method, request, response, idempotency_key(context))
    except RefusedChange as refused:
        await abort_with(context, rpc_status.to_status(refused.status))
    return response


def _bearer_token() -> tuple[tuple[str, str], ...] | None:
    """AURA_MOCK_ORCHESTRATOR_TOKEN, sent when the orchestrator asks callers for a token
    (a token with the `read` permission suffices for GetTransactionOutcome)."""
    token = os.environ.get("AURA_MOCK_ORCHESTRATOR_TOKEN", "").strip()
    return (("authorization", f"Bearer {token}"),) if token else None
