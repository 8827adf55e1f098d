"""`aura run` / `aura watch` show each vote, the decision and each acknowledgement."""

from __future__ import annotations

from aura.orchestrator.v1 import run_pb2
from aura.transaction.v1 import participant_pb2
from orchestrator.cli.progress import ProgressView, _event_line


def _event(seq: int, **kind: object) -> run_pb2.RunEvent:
    event = run_pb2.RunEvent(run="workflowRuns/r1", seq=seq, **kind)  # type: ignore[arg-type]
    event.time.FromNanoseconds(1_767_225_600 * 10**9 + seq)
    return event


def test_votes_decision_and_acknowledgements_are_shown() -> None:
    voted = _event(
        3,
        transaction_voted={
            "transaction_id": "r1/adopt",
            "step_id": "feedback",
            "vote": 2,
            "refusal": {"code": 9, "message": "TOP-001: 0 units left"},
        },
    )
    decided = _event(4, transaction_decided={"transaction_id": "r1/adopt", "decision": 2})
    acked = _event(
        5,
        transaction_acknowledged={
            "transaction_id": "r1/adopt",
            "step_id": "learn",
            "decision": 2,
            "attempts": 1,
        },
    )
    assert "vote NO" in _event_line(voted) and "0 units left" in _event_line(voted)
    assert "decision ABORT" in _event_line(decided)
    assert "ABORT after 1 call(s)" in _event_line(acked)

    view = ProgressView()
    view.apply(_event(1, run_created={"steps": [{"step_id": "feedback"}, {"step_id": "learn"}]}))
    for event in (voted, decided, acked):
        view.apply(event)
    assert view.steps["feedback"].note == "voted NO"
    assert view.steps["learn"].note == "ABORT acknowledged"
    assert participant_pb2.VOTE_NO == 2 and run_pb2.TRANSACTION_DECISION_ABORT == 2
