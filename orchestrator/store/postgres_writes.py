"""The write side of the PostgreSQL run store: one transaction per batch of requests.

`BatchWriter.write` takes everything queued (run creations and event appends of many
runs) and writes it in ONE transaction with at most two statements whatever the row
count, arrays `unnest`ed (measured: 1.3x asyncpg's `executemany`, benchmarks/pg_drivers.py):
the new runs with their events (a run created in the batch gets its later events of the
batch folded into its row), then every other touched run's projection advanced once with
its events. The advance is fenced: `last_seq` must be the expected one, the run
unfinished, and its owner this replica at the epoch it holds. The NOTIFY for other
replicas goes with the COMMIT, in one round trip.

If anything is off (a duplicate or missing seq, an unknown, finished or lost run, a name
or request id taken), the transaction is rolled back and redone request by request
(`postgres_isolated`), so the bad request fails alone while the others commit. A fault
outside the requests (`postgres_faults`) raises `StorageFault`: nothing was written, or,
if the connection died during COMMIT, the store finds out what landed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import asyncpg

from aura.orchestrator.v1 import run_pb2
from orchestrator.store.postgres_faults import StorageFault, is_connection_lost, is_storage_fault
from orchestrator.store.postgres_isolated import IsolatedWriter, reused_request_id
from orchestrator.store.postgres_notify import commit_payloads, literal
from orchestrator.store.postgres_requests import (
    BatchResult,
    CreateRequest,
    RunAdvance,
    WriteRequest,
)
from orchestrator.store.postgres_schema import UNFINISHED

_INSERT_RUNS = """
WITH new AS (
    INSERT INTO runs (tenant, name, workflow_definition, state, create_time_us, end_time_us,
        labels, request_id, fingerprint, last_seq, owner, epoch, priority)
    SELECT $1, v.name, v.definition, v.state, v.create_us, v.end_us, v.labels::jsonb,
        v.request_id, v.fingerprint, v.last_seq,
        CASE WHEN v.queued THEN NULL ELSE $2 END, CASE WHEN v.queued THEN 0 ELSE 1 END,
        v.priority
    FROM unnest($3::text[], $4::text[], $5::smallint[], $6::bigint[], $7::bigint[],
        $8::text[], $9::text[], $10::text[], $11::int[], $12::bool[], $13::int[])
        AS v(name, definition, state, create_us, end_us, labels, request_id, fingerprint,
            last_seq, queued, priority)
    ON CONFLICT DO NOTHING
    RETURNING id, name
), inserted AS (
    INSERT INTO events (tenant, run_id, seq, body)
    SELECT $1, new.id, e.seq, e.body
    FROM unnest($14::text[], $15::int[], $16::bytea[]) AS e(name, seq, body)
    JOIN new ON new.name = e.name
)
SELECT count(*) FROM new
"""
_ADVANCE_RUNS = f"""
WITH advanced AS (
    UPDATE runs r SET last_seq = v.last_seq, state = coalesce(v.state, r.state),
        end_time_us = coalesce(v.end_us, r.end_time_us)
    FROM unnest($3::text[], $4::int[], $5::int[], $6::smallint[], $7::bigint[], $8::int[])
        AS v(name, prev, last_seq, state, end_us, epoch)
    WHERE r.tenant = $1 AND r.name = v.name AND r.last_seq = v.prev AND r.owner = $2
        AND r.epoch = coalesce(v.epoch, r.epoch) AND r.{UNFINISHED}
    RETURNING r.id, r.name, r.epoch
), inserted AS (
    INSERT INTO events (tenant, run_id, seq, body)
    SELECT $1, advanced.id, e.seq, e.body
    FROM unnest($9::text[], $10::int[], $11::bytea[]) AS e(name, seq, body)
    JOIN advanced ON advanced.name = e.name
)
SELECT name, epoch FROM advanced
"""


class _FastPathFailed(Exception):
    pass


@dataclass
class _Plan:
    """The fast path's rows, computed in Python before the first statement."""

    creations: dict[str, tuple[CreateRequest, RunAdvance]] = field(default_factory=dict)
    advances: dict[str, RunAdvance] = field(default_factory=dict)
    created: list[run_pb2.RunEvent] = field(default_factory=list)
    appended: list[run_pb2.RunEvent] = field(default_factory=list)


class BatchWriter:
    """Writes batches on the writer connection; one instance per store."""

    def __init__(self, tenant: str, replica_id: str, channel: str) -> None:
        self.tenant = tenant
        self.replica_id = replica_id
        self.channel = channel
        self.commit_count = 0

    async def write(
        self,
        db: asyncpg.Connection,
        requests: Sequence[WriteRequest],
        held: Mapping[str, int],
        lost: set[str] | frozenset[str],
    ) -> BatchResult:
        """Writes `requests` in one transaction. `held`: epochs of the runs held here;
        `lost`: runs known lost (their appends fail at once)."""
        result = BatchResult([None] * len(requests))
        try:
            await db.execute("BEGIN")
            try:
                await self._write_fast(db, requests, held, lost, result)
            except (_FastPathFailed, asyncpg.IntegrityConstraintViolationError):
                await db.execute("ROLLBACK")
                await db.execute("BEGIN")
                result = BatchResult([None] * len(requests))
                isolated = IsolatedWriter(db, self.tenant, self.replica_id, held, lost)
                await isolated.write(requests, result)
            queued = any(
                isinstance(request, CreateRequest)
                and request.queued
                and outcome == (request.event.run, True)
                for request, outcome in zip(requests, result.outcomes, strict=True)
            )
            await self._commit(db, result.committed, queued=queued)
        except StorageFault:
            raise
        except Exception as error:
            await _roll_back(db)
            if is_storage_fault(error):
                raise StorageFault(error) from error
            return BatchResult([error] * len(requests))
        self.commit_count += 1
        return result

    async def _commit(
        self, db: asyncpg.Connection, committed: list[run_pb2.RunEvent], *, queued: bool
    ) -> None:
        """COMMIT, with the batch's NOTIFY in the same round trip (delivered at commit)."""
        notify = "".join(
            f"SELECT pg_notify({literal(self.channel)}, {literal(payload)}); "
            for payload in commit_payloads(committed, queued=queued)
        )
        try:
            await db.execute(notify + "COMMIT")
        except Exception as error:
            if is_connection_lost(error):
                raise StorageFault(error, in_doubt=True) from error
            raise

    async def _write_fast(
        self,
        db: asyncpg.Connection,
        requests: Sequence[WriteRequest],
        held: Mapping[str, int],
        lost: set[str] | frozenset[str],
        result: BatchResult,
    ) -> None:
        plan = await self._plan(db, requests, lost, result)
        if plan.creations:
            await self._insert_runs(db, plan, result)
        if plan.advances:
            await self._advance_runs(db, plan, held, result)
        result.committed = plan.created + plan.appended
        result.bodies = [event.SerializeToString() for event in result.committed]

    async def _plan(
        self,
        db: asyncpg.Connection,
        requests: Sequence[WriteRequest],
        lost: set[str] | frozenset[str],
        result: BatchResult,
    ) -> _Plan:
        """Settles what Python can (a request id reused); raises `_FastPathFailed` for the
        rest of what is off (seqs out of order, a run lost)."""
        plan = _Plan()
        claimed = await self._runs_by_request_id(db, requests)
        for index, request in enumerate(requests):
            if isinstance(request, CreateRequest):
                event = request.event
                earlier = claimed.get(request.request_id) if request.request_id else None
                if earlier is not None:
                    name, fingerprint = earlier
                    same = fingerprint == request.fingerprint
                    result.outcomes[index] = (
                        (name, False) if same else reused_request_id(request, name)
                    )
                    continue
                if request.request_id:
                    claimed[request.request_id] = (event.run, request.fingerprint)
                if event.run in plan.creations:
                    raise _FastPathFailed  # the same name twice: the second fails alone
                plan.creations[event.run] = (request, RunAdvance(2))
                plan.created.append(event)
                result.outcomes[index] = (event.run, True)
                continue
            for event in request.events:
                if event.run in lost:
                    raise _FastPathFailed
                creation = plan.creations.get(event.run)
                if creation is not None:
                    if creation[0].queued:
                        raise _FastPathFailed  # nobody owns a queued run
                    advance = creation[1]
                elif event.run in plan.advances:
                    advance = plan.advances[event.run]
                else:
                    advance = plan.advances[event.run] = RunAdvance(event.seq)
                if advance.add(event) is not None:
                    raise _FastPathFailed
            plan.appended.extend(request.events)
        return plan

    async def _insert_runs(self, db: asyncpg.Connection, plan: _Plan, result: BatchResult) -> None:
        rows = []
        for name, (request, advance) in plan.creations.items():
            created = request.event.run_created
            state = request.state() if advance.state is None else advance.state
            rows.append(
                (
                    name,
                    created.workflow_definition,
                    state,
                    request.create_time_us(),
                    advance.end_time_us,
                    request.labels_json(),
                    request.request_id or None,
                    request.fingerprint,
                    advance.last_seq,
                    request.queued,
                    request.priority,
                )
            )
        events = [event for event in plan.created + plan.appended if event.run in plan.creations]
        inserted = await db.fetchval(
            _INSERT_RUNS,
            self.tenant,
            self.replica_id,
            *_columns(rows, 11),
            [event.run for event in events],
            [event.seq for event in events],
            [event.SerializeToString() for event in events],
        )
        if inserted != len(rows):
            raise _FastPathFailed  # a name or request id taken meanwhile
        for name, (request, _) in plan.creations.items():
            if not request.queued:
                result.held[name] = 1

    async def _advance_runs(
        self, db: asyncpg.Connection, plan: _Plan, held: Mapping[str, int], result: BatchResult
    ) -> None:
        rows = [
            (
                run,
                advance.expected_last_seq,
                advance.last_seq,
                advance.state,
                advance.end_time_us,
                held.get(run),
            )
            for run, advance in plan.advances.items()
        ]
        events = [event for event in plan.appended if event.run in plan.advances]
        advanced = await db.fetch(
            _ADVANCE_RUNS,
            self.tenant,
            self.replica_id,
            *_columns(rows, 6),
            [event.run for event in events],
            [event.seq for event in events],
            [event.SerializeToString() for event in events],
        )
        if len(advanced) != len(rows):
            raise _FastPathFailed
        for name, epoch in advanced:
            result.held[name] = epoch

    async def _runs_by_request_id(
        self, db: asyncpg.Connection, requests: Sequence[WriteRequest]
    ) -> dict[str, tuple[str, str]]:
        request_ids = [
            request.request_id
            for request in requests
            if isinstance(request, CreateRequest) and request.request_id
        ]
        if not request_ids:
            return {}
        rows = await db.fetch(
            "SELECT request_id, name, fingerprint FROM runs "
            "WHERE tenant = $1 AND request_id = ANY($2::text[])",
            self.tenant,
            request_ids,
        )
        return {row[0]: (row[1], row[2]) for row in rows}


def _columns(rows: Sequence[Sequence[object]], width: int) -> list[list[object]]:
    """Row tuples turned into one list per column, for `unnest`."""
    if not rows:
        return [[] for _ in range(width)]
    return [list(column) for column in zip(*rows, strict=True)]


async def _roll_back(db: asyncpg.Connection) -> None:
    if db.is_closed() or not db.is_in_transaction():
        return
    try:
        await db.execute("ROLLBACK")
    except Exception:  # the connection broke: the server rolls back on its own
        db.terminate()
