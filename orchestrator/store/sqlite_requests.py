"""What the SQLite writer is asked to do, and how appended events move a run's row."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from aura.orchestrator.v1 import run_pb2, workflow_pb2
from orchestrator.errors import RUN_RESOURCE, run_not_found
from orchestrator.names import DEFAULT_TENANT
from orchestrator.runs import FINAL_RUN_STATES
from orchestrator.store.sqlite_multirow import Row

__all__ = ["RUN_RESOURCE", "run_not_found"]  # re-exported for the store's modules
DEFINITION_RESOURCE = workflow_pb2.WorkflowDefinition.DESCRIPTOR.full_name


@dataclass(slots=True)
class CreateRequest:
    event: run_pb2.RunEvent  # the run_created event, seq 1
    request_id: str
    fingerprint: str
    queued: bool = False  # stored RUN_STATE_QUEUED, for `claim_queued` to hand out
    priority: int = 0


@dataclass(slots=True)
class AppendRequest:
    events: Sequence[run_pb2.RunEvent]


WriteRequest = CreateRequest | AppendRequest
#: Per request: (name, created) for a creation, None for an append, or the error.
Outcome = tuple[str, bool] | None | BaseException
#: An outcome per request, the events committed in commit order, and their serialized
#: bodies as stored (same order).
WriteResult = tuple[list[Outcome], list[run_pb2.RunEvent], list[bytes]]


def timestamp_us(seconds: int, nanos: int) -> int:
    return seconds * 1_000_000 + nanos // 1_000


def new_run_row(request: CreateRequest) -> Row:
    """The `runs` row of a new run (columns as in `INSERT INTO runs`, last_seq aside)."""
    event = request.event
    created = event.run_created
    return (
        event.run,
        created.workflow_definition,
        run_pb2.RUN_STATE_QUEUED if request.queued else run_pb2.RUN_STATE_PENDING,
        timestamp_us(event.time.seconds, event.time.nanos),
        json.dumps(dict(created.labels), separators=(",", ":"), sort_keys=True),
        request.request_id or None,
        request.fingerprint,
        request.priority,
        created.tenant or DEFAULT_TENANT,
    )


class RunAdvance:
    """What a group of appended events does to one run's projection row."""

    __slots__ = ("end_time_us", "expected_last_seq", "finished", "last_seq", "state")

    def __init__(self, first_seq: int) -> None:
        self.expected_last_seq = first_seq - 1
        self.last_seq = first_seq - 1
        self.state: int | None = None
        self.end_time_us: int | None = None
        self.finished = False

    def add(self, event: run_pb2.RunEvent) -> str | None:
        """Records `event`; returns why it cannot follow the previous ones, if it cannot."""
        if self.finished:
            return f"event seq {event.seq} follows run_finished"
        if event.seq != self.last_seq + 1:
            return f"event seq {event.seq} does not follow seq {self.last_seq}"
        kind = event.WhichOneof("event")
        if kind == "run_finished":
            if event.run_finished.state not in FINAL_RUN_STATES:
                return f"run_finished at seq {event.seq} has a state that is not final"
            self.state = event.run_finished.state
            self.end_time_us = timestamp_us(event.time.seconds, event.time.nanos)
            self.finished = True
        elif kind in ("run_started", "run_resumed"):
            self.state = run_pb2.RUN_STATE_RUNNING
        elif kind == "run_created" or kind is None:
            return f"event seq {event.seq} is {kind or 'empty'}, which cannot be appended"
        self.last_seq = event.seq
        return None

    def row(self, run: str) -> Row:
        """(last_seq, state or NULL, end_time_us or NULL, run, expected previous last_seq)."""
        return (self.last_seq, self.state, self.end_time_us, run, self.expected_last_seq)
