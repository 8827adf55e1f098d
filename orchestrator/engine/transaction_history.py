"""What a run's history says of its transactions: where a resumed coordinator goes on, and
the outcome an in-doubt participant is told.

Presumed abort: a transaction whose history holds no decision is aborted. A resumed run
never prepares again what it had started to prepare: it records ABORT and tells every
branch. Only a decision on record is ever COMMIT.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from google.protobuf import any_pb2
from google.rpc import status_pb2

from aura.orchestrator.v1 import run_pb2
from aura.transaction.v1 import participant_pb2
from orchestrator.names import RUN_PREFIX
from orchestrator.runs import FINAL_RUN_STATES, fold_run


@dataclass
class BranchRecord:
    vote: int = participant_pb2.VOTE_UNSPECIFIED
    result: any_pb2.Any | None = None
    refusal: status_pb2.Status | None = None
    acknowledged: bool = False
    attempts: int = 0
    """Phase-two calls recorded for it (on its acknowledgement)."""


@dataclass
class TransactionRecord:
    """One transaction as its run's history left it."""

    transaction_id: str
    group_id: str
    branches: dict[str, BranchRecord] = field(default_factory=dict)
    decision: int = run_pb2.TRANSACTION_DECISION_UNSPECIFIED
    reason: status_pb2.Status | None = None

    def to_tell(self) -> list[str]:
        """Branches phase two must still reach: every YES voter for COMMIT; for ABORT every
        branch but a NO voter (a vote never heard may hide a prepared branch)."""
        return [
            step_id
            for step_id, branch in self.branches.items()
            if not branch.acknowledged
            and (
                branch.vote == participant_pb2.VOTE_YES
                or (
                    self.decision == run_pb2.TRANSACTION_DECISION_ABORT
                    and branch.vote != participant_pb2.VOTE_NO
                )
            )
        ]


def transaction_id(run: str, group_id: str) -> str:
    """ "<run id>/<group id>" of the run "workflowRuns/<run id>"."""
    return f"{run.removeprefix(RUN_PREFIX)}/{group_id}"


def run_of_transaction(txn_id: str) -> tuple[str, str] | None:
    """("workflowRuns/<run id>", group id) of a transaction id; None when malformed."""
    run_id, slash, group_id = txn_id.rpartition("/")
    if not slash or not run_id or not group_id:
        return None
    return f"{RUN_PREFIX}{run_id}", group_id


def transaction_records(events: Sequence[run_pb2.RunEvent]) -> dict[str, TransactionRecord]:
    """Group id -> its record, for every transaction the history started."""
    records: dict[str, TransactionRecord] = {}
    by_id: dict[str, TransactionRecord] = {}
    for event in events:
        kind = event.WhichOneof("event")
        if kind == "transaction_started":
            started = event.transaction_started
            record = TransactionRecord(started.transaction_id, started.group_id)
            record.branches = {step_id: BranchRecord() for step_id in started.step_ids}
            records[started.group_id] = by_id[started.transaction_id] = record
            continue
        if kind not in ("transaction_voted", "transaction_decided", "transaction_acknowledged"):
            continue
        detail = getattr(event, kind)
        record = by_id.get(detail.transaction_id)  # type: ignore[assignment]
        if record is None:
            continue
        if kind == "transaction_decided":
            record.decision = detail.decision
            record.reason = detail.reason if detail.HasField("reason") else None
            continue
        branch = record.branches.setdefault(detail.step_id, BranchRecord())
        if kind == "transaction_voted":
            branch.vote = detail.vote
            branch.result = detail.result if detail.HasField("result") else None
            branch.refusal = detail.refusal if detail.HasField("refusal") else None
        else:
            branch.acknowledged = True
            branch.attempts = detail.attempts
    return records


def transaction_outcome(events: Sequence[run_pb2.RunEvent], txn_id: str) -> tuple[int, int]:
    """(decision, state) of the transaction for GetTransactionOutcome: the recorded decision;
    ABORT when the run ended without one or is unknown (presumed abort); UNSPECIFIED while
    the run is unfinished and undecided (its coordinator decides, or will on restart)."""
    if not events:
        return run_pb2.TRANSACTION_DECISION_ABORT, run_pb2.TRANSACTION_STATE_UNSPECIFIED
    run = fold_run(events, include_outputs=False)
    found = next((t for t in run.transactions if t.transaction_id == txn_id), None)
    state = found.state if found is not None else run_pb2.TRANSACTION_STATE_UNSPECIFIED
    if found is not None and found.decision != run_pb2.TRANSACTION_DECISION_UNSPECIFIED:
        return found.decision, state
    if run.state in FINAL_RUN_STATES:
        return run_pb2.TRANSACTION_DECISION_ABORT, state
    return run_pb2.TRANSACTION_DECISION_UNSPECIFIED, state
