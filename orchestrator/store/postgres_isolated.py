"""The careful write path of the PostgreSQL store: one request at a time, each in its own
savepoint.

Used only when a batch's fast path found a problem; a bad request then fails alone with
an error that says what is wrong (no such run, seq conflict, finished, lost to another
replica), and the rest of the batch still commits in the same transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import asyncpg

from aura.orchestrator.v1 import run_pb2
from orchestrator.errors import AlreadyExists, AuraError
from orchestrator.names import DEFAULT_TENANT
from orchestrator.runs import FINAL_RUN_STATES, request_id_of
from orchestrator.store.base import EventSequenceConflict, RunOwnershipLost
from orchestrator.store.postgres_requests import (
    AppendRequest,
    BatchResult,
    CreateRequest,
    RunAdvance,
    WriteRequest,
)
from orchestrator.store.postgres_schema import UNFINISHED
from orchestrator.store.sqlite_requests import RUN_RESOURCE, run_not_found

__all__ = ["IsolatedWriter", "reused_request_id"]

_INSERT_RUN = """
INSERT INTO runs (tenant, name, workflow_definition, state, create_time_us, labels,
    request_id, fingerprint, last_seq, owner, epoch, priority, run_tenant)
VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, 1, $9, $10, $11, $12)
RETURNING id
"""
_INSERT_EVENTS = (
    "INSERT INTO events (tenant, run_id, seq, body) "
    "SELECT $1, $2, e.seq, e.body FROM unnest($3::int[], $4::bytea[]) AS e(seq, body)"
)
_ADVANCE_RUN = f"""
UPDATE runs SET last_seq = $3, state = coalesce($4, state), end_time_us = coalesce($5, end_time_us)
WHERE tenant = $1 AND name = $2 AND last_seq = $6 AND owner = $7
    AND epoch = coalesce($8, epoch) AND {UNFINISHED}
RETURNING id, epoch
"""


def reused_request_id(request: CreateRequest, existing_run: str) -> AlreadyExists:
    """As on SQLite: a request id already used for a request with another fingerprint."""
    request_id = request_id_of(request.request_id)
    return AlreadyExists(
        f"request_id {request_id!r} was already used for a different request (run {existing_run})",
        reason="REQUEST_ID_REUSED",
        metadata={"request_id": request_id, "run": existing_run},
        resource_type=RUN_RESOURCE,
        resource_name=existing_run,
    )


class _Rejected(Exception):
    def __init__(self, error: AuraError) -> None:
        super().__init__(error.message)
        self.error = error


class IsolatedWriter:
    """Writes one batch request by request inside the batch's open transaction."""

    def __init__(
        self,
        db: asyncpg.Connection,
        tenant: str,
        replica_id: str,
        held: Mapping[str, int],
        lost: set[str] | frozenset[str],
    ) -> None:
        self._db = db
        self._tenant = tenant
        self._me = replica_id
        self._held = held
        self._lost = lost

    async def write(self, requests: Sequence[WriteRequest], result: BatchResult) -> None:
        """Fills `result`: creations first, then appends, as committed."""
        created: list[run_pb2.RunEvent] = []
        appended: list[run_pb2.RunEvent] = []
        for index, request in enumerate(requests):
            if isinstance(request, CreateRequest):
                outcome = await self._create(request)
                result.outcomes[index] = outcome
                if outcome == (request.event.run, True):
                    created.append(request.event)
                    if not request.queued:
                        result.held[request.event.run] = 1
        for index, request in enumerate(requests):
            if isinstance(request, AppendRequest):
                error = await self._append(request, result.held, result.lost)
                result.outcomes[index] = error
                if error is None:
                    appended.extend(request.events)
        result.committed = created + appended
        result.bodies = [event.SerializeToString() for event in result.committed]

    async def _create(self, request: CreateRequest) -> tuple[str, bool] | AuraError:
        event = request.event
        existing = await self._existing_request(request)
        if existing is not None:
            return existing
        db = self._db
        await db.execute("SAVEPOINT create_run")
        try:
            run_id = await db.fetchval(
                _INSERT_RUN,
                self._tenant,
                event.run,
                event.run_created.workflow_definition,
                request.state(),
                request.create_time_us(),
                request.labels_json(),
                request.request_id or None,
                request.fingerprint,
                None if request.queued else self._me,
                0 if request.queued else 1,
                request.priority,
                event.run_created.tenant or DEFAULT_TENANT,
            )
            await db.execute(_INSERT_EVENTS, self._tenant, run_id, [1], [event.SerializeToString()])
        except asyncpg.UniqueViolationError:
            await db.execute("ROLLBACK TO SAVEPOINT create_run")
            await db.execute("RELEASE SAVEPOINT create_run")
            # Another replica may have taken the request_id meanwhile.
            return await self._existing_request(request) or AlreadyExists(
                f"run {event.run} already exists",
                reason="RUN_EXISTS",
                resource_type=RUN_RESOURCE,
                resource_name=event.run,
            )
        await db.execute("RELEASE SAVEPOINT create_run")
        return (event.run, True)

    async def _existing_request(
        self, request: CreateRequest
    ) -> tuple[str, bool] | AuraError | None:
        if not request.request_id:
            return None
        row = await self._db.fetchrow(
            "SELECT name, fingerprint FROM runs WHERE tenant = $1 AND request_id = $2",
            self._tenant,
            request.request_id,
        )
        if row is None:
            return None
        if row["fingerprint"] == request.fingerprint:
            return (row["name"], False)
        return reused_request_id(request, row["name"])

    async def _append(
        self, request: AppendRequest, held_now: dict[str, int], lost_now: list[str]
    ) -> AuraError | None:
        """Appends one request's events, or returns why it cannot (nothing written then)."""
        advances: dict[str, RunAdvance] = {}
        for event in request.events:
            if event.run in self._lost:
                return _lost(event.run)
            advance = advances.get(event.run)
            if advance is None:
                advance = advances[event.run] = RunAdvance(event.seq)
            problem = advance.add(event)
            if problem is not None:
                return EventSequenceConflict(f"cannot append to {event.run}: {problem}")
        db = self._db
        await db.execute("SAVEPOINT append_one")
        try:
            for run, advance in advances.items():
                held = held_now.get(run, self._held.get(run))
                row = await db.fetchrow(
                    _ADVANCE_RUN,
                    self._tenant,
                    run,
                    advance.last_seq,
                    advance.state,
                    advance.end_time_us,
                    advance.expected_last_seq,
                    self._me,
                    held,
                )
                if row is None:
                    raise _Rejected(await self._explain(run, advance, held))
                held_now[run] = row["epoch"]
                events = [event for event in request.events if event.run == run]
                await db.execute(
                    _INSERT_EVENTS,
                    self._tenant,
                    row["id"],
                    [event.seq for event in events],
                    [event.SerializeToString() for event in events],
                )
        except (asyncpg.IntegrityConstraintViolationError, _Rejected) as error:
            await db.execute("ROLLBACK TO SAVEPOINT append_one")
            await db.execute("RELEASE SAVEPOINT append_one")
            if isinstance(error, _Rejected):
                if isinstance(error.error, RunOwnershipLost):
                    lost_now.append(error.error.resource_name or "")
                    for run in advances:
                        held_now.pop(run, None)
                return error.error
            return EventSequenceConflict(f"cannot append events: {error}")
        await db.execute("RELEASE SAVEPOINT append_one")
        return None

    async def _explain(self, run: str, advance: RunAdvance, held: int | None) -> AuraError:
        row = await self._db.fetchrow(
            "SELECT last_seq, state, owner, epoch FROM runs WHERE tenant = $1 AND name = $2",
            self._tenant,
            run,
        )
        if row is None:
            return run_not_found(run, f"cannot append to {run}: no such run")
        last_seq, state, owner, epoch = row
        first = advance.expected_last_seq + 1
        if owner != self._me or (held is not None and epoch != held):
            return _lost(run, owner, epoch)
        if state in FINAL_RUN_STATES:
            return EventSequenceConflict(
                f"cannot append seq {first} to {run}: the run finished at seq {last_seq}"
            )
        return EventSequenceConflict(
            f"cannot append seq {first} to {run}: its last seq is {last_seq}, "
            f"so the next must be {last_seq + 1}"
        )


def _lost(run: str, owner: str | None = None, epoch: int | None = None) -> RunOwnershipLost:
    now = "" if epoch is None else f" (now {owner or 'queued'} at epoch {epoch})"
    return RunOwnershipLost(
        f"run {run} is no longer owned by this replica{now}; its events are refused",
        resource_type=RUN_RESOURCE,
        resource_name=run,
    )
