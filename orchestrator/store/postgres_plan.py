"""What a batch does, worked out in Python before the first statement of its fast path.

A run created in the batch gets its later events of the batch folded into its new row
(so no statement has to update a row another statement of the same batch inserts);
every other run gets one `RunAdvance` (its expected previous seq, its new last seq,
state and end). A request id already used settles its creation here. Whatever Python can
see is off (seqs out of order, the same name twice, a run known lost, an event for a
queued run) raises `FastPathFailed`: the batch is then redone request by request.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from aura.orchestrator.v1 import run_pb2
from orchestrator.store.postgres_isolated import reused_request_id
from orchestrator.store.postgres_requests import (
    BatchResult,
    CreateRequest,
    RunAdvance,
    WriteRequest,
)


class FastPathFailed(Exception):
    """The batch cannot be written as a whole: it is redone request by request."""


@dataclass
class BatchPlan:
    """The fast path's rows, computed in Python before the first statement."""

    creations: dict[str, tuple[CreateRequest, RunAdvance]] = field(default_factory=dict)
    advances: dict[str, RunAdvance] = field(default_factory=dict)
    created: list[run_pb2.RunEvent] = field(default_factory=list)
    appended: list[run_pb2.RunEvent] = field(default_factory=list)


def plan_batch(
    requests: Sequence[WriteRequest],
    lost: set[str] | frozenset[str],
    claimed: Mapping[str, tuple[str, str]],
    result: BatchResult,
) -> BatchPlan:
    """The batch's rows. `claimed`: request id -> (run, fingerprint) already stored;
    creations it settles get their outcome in `result`."""
    plan = BatchPlan()
    taken = dict(claimed)  # and the ones this batch takes
    for index, request in enumerate(requests):
        if isinstance(request, CreateRequest):
            event = request.event
            earlier = taken.get(request.request_id) if request.request_id else None
            if earlier is not None:
                name, fingerprint = earlier
                same = fingerprint == request.fingerprint
                result.outcomes[index] = (name, False) if same else reused_request_id(request, name)
                continue
            if request.request_id:
                taken[request.request_id] = (event.run, request.fingerprint)
            if event.run in plan.creations:
                raise FastPathFailed  # the same name twice: the second fails alone
            plan.creations[event.run] = (request, RunAdvance(2))
            plan.created.append(event)
            result.outcomes[index] = (event.run, True)
            continue
        for event in request.events:
            if event.run in lost:
                raise FastPathFailed
            creation = plan.creations.get(event.run)
            if creation is not None:
                if creation[0].queued:
                    raise FastPathFailed  # nobody owns a queued run
                advance = creation[1]
            elif event.run in plan.advances:
                advance = plan.advances[event.run]
            else:
                advance = plan.advances[event.run] = RunAdvance(event.seq)
            if advance.add(event) is not None:
                raise FastPathFailed
        plan.appended.extend(request.events)
    return plan
