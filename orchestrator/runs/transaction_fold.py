"""What transaction and compensation events mean for a run's visible state.

A `TransactionRun` appears with `transaction_started` (PREPARING), gathers one vote per
branch, moves to COMMITTING or ABORTING with `transaction_decided`, and to COMMITTED or
ABORTED once every branch that must hear the decision acknowledged it (for ABORT: every
branch that did not vote NO; a NO voter holds nothing). Compensation events set
`StepRun.compensation`.
"""

from __future__ import annotations

from collections.abc import Mapping

from aura.orchestrator.v1 import run_pb2
from aura.transaction.v1 import participant_pb2

TRANSACTION_EVENTS = frozenset(
    {
        "transaction_started",
        "transaction_voted",
        "transaction_decided",
        "transaction_acknowledged",
    }
)
COMPENSATION_EVENTS = frozenset(
    {"compensation_started", "compensation_attempt_failed", "step_compensated"}
)
_DECIDED_STATE = {
    run_pb2.TRANSACTION_DECISION_COMMIT: run_pb2.TRANSACTION_STATE_COMMITTING,
    run_pb2.TRANSACTION_DECISION_ABORT: run_pb2.TRANSACTION_STATE_ABORTING,
}
_DONE_STATE = {
    run_pb2.TRANSACTION_DECISION_COMMIT: run_pb2.TRANSACTION_STATE_COMMITTED,
    run_pb2.TRANSACTION_DECISION_ABORT: run_pb2.TRANSACTION_STATE_ABORTED,
}


def must_acknowledge(transaction: run_pb2.TransactionRun) -> list[run_pb2.TransactionBranch]:
    """The branches phase two must reach: all for COMMIT (only YES voters get there), and
    for ABORT every branch but a NO voter (an unknown vote may hide a prepared branch)."""
    return [
        branch
        for branch in transaction.branches
        if branch.vote != participant_pb2.VOTE_NO
        or transaction.decision == run_pb2.TRANSACTION_DECISION_COMMIT
    ]


def apply_transaction_event(
    run: run_pb2.WorkflowRun,
    steps: Mapping[str, run_pb2.StepRun],
    event: run_pb2.RunEvent,
    kind: str,
) -> None:
    detail = getattr(event, kind)
    transaction = next(
        (t for t in run.transactions if t.transaction_id == detail.transaction_id), None
    )
    if kind == "transaction_started":
        if transaction is None:
            transaction = run.transactions.add(
                transaction_id=detail.transaction_id,
                group_id=detail.group_id,
                state=run_pb2.TRANSACTION_STATE_PREPARING,
            )
            for step_id in detail.step_ids:
                transaction.branches.add(step_id=step_id)
                if step_id in steps:
                    steps[step_id].transaction_id = detail.transaction_id
        return
    if transaction is None:
        return
    if kind == "transaction_decided":
        transaction.decision = detail.decision
        transaction.state = _DECIDED_STATE.get(detail.decision, transaction.state)
        transaction.decide_time.CopyFrom(event.time)
        if detail.HasField("reason"):
            transaction.error.CopyFrom(detail.reason)
        _maybe_done(transaction, event)
        return
    branch = next((b for b in transaction.branches if b.step_id == detail.step_id), None)
    if branch is None:
        return
    if kind == "transaction_voted":
        branch.vote = detail.vote
        if detail.HasField("refusal"):
            branch.refusal.CopyFrom(detail.refusal)
    elif kind == "transaction_acknowledged":
        branch.acknowledged = True
        branch.phase_two_attempts = max(branch.phase_two_attempts, detail.attempts)
        _maybe_done(transaction, event)


def _maybe_done(transaction: run_pb2.TransactionRun, event: run_pb2.RunEvent) -> None:
    if transaction.decision == run_pb2.TRANSACTION_DECISION_UNSPECIFIED:
        return
    if all(branch.acknowledged for branch in must_acknowledge(transaction)):
        transaction.state = _DONE_STATE[transaction.decision]
        transaction.end_time.CopyFrom(event.time)


def apply_compensation_event(step: run_pb2.StepRun, event: run_pb2.RunEvent, kind: str) -> None:
    if kind == "step_compensated":
        step.compensation = run_pb2.COMPENSATION_STATE_COMPENSATED
    elif step.compensation != run_pb2.COMPENSATION_STATE_COMPENSATED:
        step.compensation = run_pb2.COMPENSATION_STATE_COMPENSATING
