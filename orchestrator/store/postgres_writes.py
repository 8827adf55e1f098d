"""The write side of the PostgreSQL run store: a batch of requests, all or the good ones.

`BatchWriter.write` takes everything queued (run creations and event appends of many
runs) and writes it with a few statements whatever the row count, arrays `unnest`ed
(1.3x asyncpg's `executemany`, benchmarks/pg_drivers.py). Work is planned in Python
first (`postgres_plan`). Then:

- appends only (most commits): ONE fenced statement committed on its own
  (`postgres_appends`): a round trip instead of three, 0.6 ms instead of 0.85 here;
- creations, with the events of those same runs queued behind them (a new run's
  `run_started` always is): one statement too, so a run's creation is one round trip;
  creations are independent, so one that meets a name or request id taken meanwhile is
  redone alone (with its run's events) afterwards;
- anything else: one transaction: the new runs with their events (a run created in the
  batch gets its later events folded into its row), then every other run's projection
  advanced once with its events, fenced on `last_seq`, "unfinished" and this replica
  as owner at the epoch it holds; the NOTIFY goes with the COMMIT, in one round trip.

If anything is off (a duplicate or missing seq, an unknown, finished or lost run, a name
or request id taken), nothing of the fast path stays and the batch is redone request by
request in one transaction (`postgres_isolated`), so the bad request fails alone while
the others commit. A fault outside the requests (`postgres_faults`) raises
`StorageFault`: nothing was written, or, if the connection died while a commit was on
its way, the store finds out what landed (`postgres_doubt`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import asyncpg

from aura.orchestrator.v1 import run_pb2
from orchestrator.names import DEFAULT_TENANT
from orchestrator.store import postgres_outbox
from orchestrator.store.outbox_entries import produces_entries
from orchestrator.store.postgres_appends import append_at_once
from orchestrator.store.postgres_faults import StorageFault, is_connection_lost, is_storage_fault
from orchestrator.store.postgres_isolated import IsolatedWriter
from orchestrator.store.postgres_notify import commit_payloads, literal
from orchestrator.store.postgres_plan import BatchPlan, FastPathFailed, plan_batch
from orchestrator.store.postgres_requests import (
    AppendRequest,
    BatchResult,
    CreateRequest,
    WriteRequest,
)
from orchestrator.store.postgres_schema import UNFINISHED

_INSERT_RUNS = """
WITH new AS (
    INSERT INTO runs (tenant, name, workflow_definition, state, create_time_us, end_time_us,
        labels, request_id, fingerprint, last_seq, owner, epoch, priority, run_tenant)
    SELECT $1, v.name, v.definition, v.state, v.create_us, v.end_us, v.labels::jsonb,
        v.request_id, v.fingerprint, v.last_seq,
        CASE WHEN v.queued THEN NULL ELSE $2 END, CASE WHEN v.queued THEN 0 ELSE 1 END,
        v.priority, v.run_tenant
    FROM unnest($3::text[], $4::text[], $5::smallint[], $6::bigint[], $7::bigint[],
        $8::text[], $9::text[], $10::text[], $11::int[], $12::bool[], $13::int[], $19::text[])
        AS v(name, definition, state, create_us, end_us, labels, request_id, fingerprint,
            last_seq, queued, priority, run_tenant)
    ON CONFLICT DO NOTHING
    RETURNING id, name
), inserted AS (
    INSERT INTO events (tenant, run_id, seq, body)
    SELECT $1, new.id, e.seq, e.body
    FROM unnest($14::text[], $15::int[], $16::bytea[]) AS e(name, seq, body)
    JOIN new ON new.name = e.name
)
SELECT (SELECT array_agg(name) FROM new) AS names,
    (SELECT count(pg_notify($17, p)) FROM unnest($18::text[]) AS p) AS notified
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


class BatchWriter:
    """Writes batches on the writer connection; one instance per store."""

    def __init__(self, tenant: str, replica_id: str, channel: str, *, outbox: bool = False) -> None:
        self.tenant = tenant
        self.replica_id = replica_id
        self.channel = channel
        self.commit_count = 0
        #: Write the bus's outbox entries in the batch's transaction (postgres_outbox).
        self.outbox = outbox

    async def write(
        self,
        db: asyncpg.Connection,
        requests: Sequence[WriteRequest],
        held: Mapping[str, int],
        lost: set[str] | frozenset[str],
    ) -> BatchResult:
        """Writes `requests`, all or (when one is bad) all the good ones. `held`: epochs of
        the runs held here; `lost`: runs known lost (their appends fail at once).

        A batch of appends only, or of creations with only their own runs' events, is one
        statement committed on its own (one round trip instead of three); any other is one
        transaction.
        """
        try:
            if self.outbox and _produces_entries(requests):
                # One transaction with the outbox rows (no single-statement shortcut).
                return await self._write_in_transaction(db, requests, held, lost)
            if all(isinstance(request, AppendRequest) for request in requests):
                result = BatchResult([None] * len(requests))
                if not any(request.events for request in requests):  # type: ignore[union-attr]
                    return result  # nothing to write
                if await self._append_at_once(db, requests, held, lost, result):
                    self.commit_count += 1
                    return result
            elif _creations_with_their_events(requests):
                return await self._create_at_once(db, requests, held, lost)
            return await self._write_in_transaction(db, requests, held, lost)
        except StorageFault:
            raise
        except Exception as error:
            await _roll_back(db)
            if is_storage_fault(error):
                raise StorageFault(error) from error
            return BatchResult([error] * len(requests))

    async def _write_in_transaction(
        self,
        db: asyncpg.Connection,
        requests: Sequence[WriteRequest],
        held: Mapping[str, int],
        lost: set[str] | frozenset[str],
    ) -> BatchResult:
        result = BatchResult([None] * len(requests))
        await db.execute("BEGIN")
        try:
            await self._write_fast(db, requests, held, lost, result)
        except (FastPathFailed, asyncpg.IntegrityConstraintViolationError):
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
        if self.outbox:
            await postgres_outbox.write_for_commit(db, self.tenant, result.committed)
        await self._commit(db, result.committed, queued=queued)
        self.commit_count += 1
        return result

    async def _create_at_once(
        self,
        db: asyncpg.Connection,
        requests: Sequence[WriteRequest],
        held: Mapping[str, int],
        lost: set[str] | frozenset[str],
    ) -> BatchResult:
        """Creations, each with any events of its own run queued behind it (a new run's
        `run_started`), in one statement committed on its own. Creations are independent:
        one the statement could not insert (a name or request id taken meanwhile) wrote
        nothing, nor did its run's events: they are redone carefully after the others
        committed."""
        result = BatchResult([None] * len(requests))
        try:
            plan = await self._plan(db, requests, lost, result)
        except FastPathFailed:
            return await self._write_in_transaction(db, requests, held, lost)
        if plan.advances:  # events of a run settled by its request id: not new
            return await self._write_in_transaction(db, requests, held, lost)
        if not plan.creations:
            return result  # every one settled by its request id
        queued = any(request.queued for request, _ in plan.creations.values())
        try:
            inserted = await self._insert_runs(
                db, plan, commit_payloads(plan.created + plan.appended, queued=queued)
            )
        except asyncpg.IntegrityConstraintViolationError:
            return await self._write_in_transaction(db, requests, held, lost)
        except Exception as error:
            if is_connection_lost(error):  # it commits on its own: it may have landed
                raise StorageFault(error, in_doubt=True) from error
            raise
        self.commit_count += 1
        result.committed = [
            event for event in plan.created + plan.appended if event.run in inserted
        ]
        result.bodies = [event.SerializeToString() for event in result.committed]
        result.held = {
            name: 1
            for name, (request, _) in plan.creations.items()
            if name in inserted and not request.queued
        }
        redo = [
            index
            for index, request in enumerate(requests)
            if (
                isinstance(request, CreateRequest)
                and result.outcomes[index] == (request.event.run, True)
                and request.event.run not in inserted
            )
            or (isinstance(request, AppendRequest) and request.events[0].run not in inserted)
        ]
        if redo:
            again = await self._write_in_transaction(db, [requests[i] for i in redo], held, lost)
            for index, outcome in zip(redo, again.outcomes, strict=True):
                result.outcomes[index] = outcome
            result.committed += again.committed
            result.bodies += again.bodies
            result.held.update(again.held)
        return result

    async def _append_at_once(
        self,
        db: asyncpg.Connection,
        requests: Sequence[WriteRequest],
        held: Mapping[str, int],
        lost: set[str] | frozenset[str],
        result: BatchResult,
    ) -> bool:
        """The common batch, appends only, in one statement (`postgres_appends`); False
        when a request is off (nothing was written: the caller redoes it carefully)."""
        try:
            plan = await self._plan(db, requests, lost, result)
        except FastPathFailed:
            return False
        bodies = [event.SerializeToString() for event in plan.appended]
        try:
            epochs = await append_at_once(
                db,
                tenant=self.tenant,
                replica_id=self.replica_id,
                channel=self.channel,
                advances=plan.advances,
                events=plan.appended,
                bodies=bodies,
                held=held,
                payloads=commit_payloads(plan.appended),
            )
        except asyncpg.IntegrityConstraintViolationError:
            return False
        except Exception as error:
            if is_connection_lost(error):  # it commits on its own: it may have landed
                raise StorageFault(error, in_doubt=True) from error
            raise
        if epochs is None:
            return False
        result.held, result.committed, result.bodies = epochs, plan.appended, bodies
        return True

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
            if len(await self._insert_runs(db, plan)) != len(plan.creations):
                raise FastPathFailed  # a name or request id taken meanwhile
            for name, (request, _) in plan.creations.items():
                if not request.queued:
                    result.held[name] = 1
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
    ) -> BatchPlan:
        return plan_batch(requests, lost, await self._runs_by_request_id(db, requests), result)

    async def _insert_runs(
        self, db: asyncpg.Connection, plan: BatchPlan, payloads: Sequence[str] = ()
    ) -> set[str]:
        """Inserts the new runs with their events; returns the names inserted (a name or
        request id taken meanwhile is skipped). `payloads`: NOTIFYs to send with them."""
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
                    created.tenant or DEFAULT_TENANT,
                )
            )
        events = [event for event in plan.created + plan.appended if event.run in plan.creations]
        columns = _columns(rows, 12)
        row = await db.fetchrow(
            _INSERT_RUNS,
            self.tenant,
            self.replica_id,
            *columns[:11],
            [event.run for event in events],
            [event.seq for event in events],
            [event.SerializeToString() for event in events],
            self.channel,
            list(payloads),
            columns[11],  # run_tenant, $19
        )
        return set(row["names"] or []) if row is not None else set()

    async def _advance_runs(
        self, db: asyncpg.Connection, plan: BatchPlan, held: Mapping[str, int], result: BatchResult
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
            raise FastPathFailed
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


def _creations_with_their_events(requests: Sequence[WriteRequest]) -> bool:
    """Creations, and appends each of only one run created earlier in the batch."""
    created: set[str] = set()
    for request in requests:
        if isinstance(request, CreateRequest):
            created.add(request.event.run)
            continue
        if not request.events:
            return False
        run = request.events[0].run
        if run not in created or any(event.run != run for event in request.events):
            return False
    return bool(created)


def _produces_entries(requests: Sequence[WriteRequest]) -> bool:
    return any(
        isinstance(request, CreateRequest)
        or any(produces_entries(event) for event in request.events)
        for request in requests
    )


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
