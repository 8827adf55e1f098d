"""What a history says of its transactions: the fold's TransactionRun, where a resumed
coordinator goes on, and the outcome an in-doubt participant is told (presumed abort)."""

from __future__ import annotations

from aura.orchestrator.v1 import run_pb2
from aura.transaction.v1 import participant_pb2 as tx
from orchestrator.engine import run_of_transaction, transaction_outcome
from orchestrator.engine.transaction_history import transaction_records
from orchestrator.runs import fold_run

RUN = "workflowRuns/r1"
TXN = "r1/adopt"
COMMIT = run_pb2.TRANSACTION_DECISION_COMMIT
ABORT = run_pb2.TRANSACTION_DECISION_ABORT
UNDECIDED = run_pb2.TRANSACTION_DECISION_UNSPECIFIED


def _history(*kinds: tuple[str, dict[str, object]]) -> list[run_pb2.RunEvent]:
    steps = [run_pb2.StepRun(step_id="a"), run_pb2.StepRun(step_id="b")]
    events = [
        run_pb2.RunEvent(run=RUN, seq=1, run_created=run_pb2.RunCreated(steps=steps)),
        run_pb2.RunEvent(run=RUN, seq=2, run_started={}),
        run_pb2.RunEvent(
            run=RUN,
            seq=3,
            transaction_started=run_pb2.TransactionStarted(
                transaction_id=TXN, group_id="adopt", step_ids=["a", "b"]
            ),
        ),
    ]
    for kind, fields in kinds:
        events.append(run_pb2.RunEvent(run=RUN, seq=len(events) + 1, **{kind: fields}))
    return events


def _vote(step: str, vote: int) -> tuple[str, dict[str, object]]:
    return "transaction_voted", {"transaction_id": TXN, "step_id": step, "vote": vote}


def _ack(step: str, decision: int) -> tuple[str, dict[str, object]]:
    return "transaction_acknowledged", {
        "transaction_id": TXN,
        "step_id": step,
        "decision": decision,
    }


def _decided(decision: int) -> tuple[str, dict[str, object]]:
    return "transaction_decided", {"transaction_id": TXN, "decision": decision}


def test_the_fold_follows_votes_decision_and_acknowledgements() -> None:
    preparing = _history(_vote("a", tx.VOTE_YES))
    assert fold_run(preparing).transactions[0].state == run_pb2.TRANSACTION_STATE_PREPARING
    committing = _history(
        _vote("a", tx.VOTE_YES), _vote("b", tx.VOTE_YES), _decided(COMMIT), _ack("a", COMMIT)
    )
    [transaction] = fold_run(committing).transactions
    assert transaction.state == run_pb2.TRANSACTION_STATE_COMMITTING
    assert [(b.step_id, b.acknowledged) for b in transaction.branches] == [
        ("a", True),
        ("b", False),
    ]
    committed = fold_run([*committing, *_history(_ack("b", COMMIT))[3:]])
    assert committed.transactions[0].state == run_pb2.TRANSACTION_STATE_COMMITTED
    assert [step.transaction_id for step in committed.steps] == [TXN, TXN]


def test_an_abort_needs_no_acknowledgement_from_a_no_voter() -> None:
    aborted = _history(
        _vote("a", tx.VOTE_YES), _vote("b", tx.VOTE_NO), _decided(ABORT), _ack("a", ABORT)
    )
    assert fold_run(aborted).transactions[0].state == run_pb2.TRANSACTION_STATE_ABORTED
    record = transaction_records(aborted[:-1])["adopt"]
    assert record.to_tell() == ["a"]


def test_a_resumed_coordinator_tells_only_the_branches_not_acknowledged() -> None:
    record = transaction_records(
        _history(
            _vote("a", tx.VOTE_YES), _vote("b", tx.VOTE_YES), _decided(COMMIT), _ack("b", COMMIT)
        )
    )["adopt"]
    assert record.decision == COMMIT and record.to_tell() == ["a"]
    undecided = transaction_records(_history(_vote("a", tx.VOTE_YES)))["adopt"]
    assert undecided.decision == UNDECIDED
    undecided.decision = ABORT  # what the resumed coordinator records
    assert undecided.to_tell() == ["a", "b"]  # b's vote never came: it may be prepared


def test_the_outcome_is_the_decision_or_presumed_abort() -> None:
    assert transaction_outcome([], TXN)[0] == ABORT  # unknown run
    assert transaction_outcome(_history(_vote("a", tx.VOTE_YES)), TXN)[0] == UNDECIDED
    finished = _history(
        _vote("a", tx.VOTE_YES), ("run_finished", {"state": run_pb2.RUN_STATE_FAILED})
    )
    assert transaction_outcome(finished, TXN)[0] == ABORT
    decided = _history(_vote("a", tx.VOTE_YES), _vote("b", tx.VOTE_YES), _decided(COMMIT))
    assert transaction_outcome(decided, TXN) == (COMMIT, run_pb2.TRANSACTION_STATE_COMMITTING)


def test_a_transaction_id_names_its_run_and_group() -> None:
    assert run_of_transaction("r1/adopt") == (RUN, "adopt")
    assert run_of_transaction("adopt") is None
    assert run_of_transaction("/adopt") is None
