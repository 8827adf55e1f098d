"""A batch of appends only (no creation) in ONE statement and one round trip.

Most commits are appends to runs this replica holds. Written as BEGIN, the advance,
then NOTIFY + COMMIT, each is three round trips; this statement is one, committed on
its own (autocommit), with the same all-or-nothing result:

1. `locked`: every run row the batch advances, locked `FOR UPDATE` and only if it still
   matches the fence (this replica as owner at the held epoch, the expected `last_seq`,
   unfinished). A row another transaction changed meanwhile is re-checked in its newest
   version, so a concurrent takeover (epoch + 1) leaves it out.
2. `ok`: all of them matched. Only then does the UPDATE move the rows (ours now, locked),
   the events go in, and the NOTIFY is sent (delivered at commit).

A batch of one run uses `_APPEND_ONE`: the fenced UPDATE alone decides, as one row
is all or nothing. When `ok` is false nothing was written: the batch is redone in a
transaction, request by request (`postgres_isolated`), so the bad request fails alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import asyncpg

from aura.orchestrator.v1 import run_pb2
from orchestrator.store.postgres_requests import RunAdvance
from orchestrator.store.postgres_schema import UNFINISHED

_APPEND_AT_ONCE = f"""
WITH v AS (
    SELECT * FROM unnest($3::text[], $4::int[], $5::int[], $6::smallint[], $7::bigint[],
        $8::int[]) AS v(name, prev, last_seq, state, end_us, epoch)
), locked AS (
    SELECT r.id FROM runs r JOIN v ON r.name = v.name
    WHERE r.tenant = $1 AND r.last_seq = v.prev AND r.owner = $2
        AND r.epoch = coalesce(v.epoch, r.epoch) AND r.{UNFINISHED}
    FOR UPDATE OF r
), ok AS (
    SELECT count(*) = $9 AS ok FROM locked
), advanced AS (
    UPDATE runs r SET last_seq = v.last_seq, state = coalesce(v.state, r.state),
        end_time_us = coalesce(v.end_us, r.end_time_us)
    FROM v
    WHERE (SELECT ok FROM ok) AND r.id IN (SELECT id FROM locked) AND r.name = v.name
    RETURNING r.id, r.name, r.epoch
), inserted AS (
    INSERT INTO events (tenant, run_id, seq, body)
    SELECT $1, advanced.id, e.seq, e.body
    FROM unnest($10::text[], $11::int[], $12::bytea[]) AS e(name, seq, body)
    JOIN advanced ON advanced.name = e.name
    RETURNING 1
)
SELECT (SELECT ok FROM ok) AS ok,
    (SELECT count(*) FROM inserted) AS inserted,
    (SELECT count(pg_notify($13, p)) FROM unnest($14::text[]) AS p WHERE (SELECT ok FROM ok))
        AS notified,
    (SELECT array_agg(name || ' ' || epoch) FROM advanced) AS epochs
"""

#: The same for a batch of ONE run (at low load, most): its row updated only if it
#: matches the fence, its events inserted only if it was; no lock-and-count step (one row
#: is all or nothing by itself), about 15% less server time. Same parameters and result.
_APPEND_ONE = f"""
WITH advanced AS (
    UPDATE runs r SET last_seq = ($5::int[])[1], state = coalesce(($6::smallint[])[1], r.state),
        end_time_us = coalesce(($7::bigint[])[1], r.end_time_us)
    WHERE r.tenant = $1 AND r.name = ($3::text[])[1] AND r.last_seq = ($4::int[])[1]
        AND r.owner = $2 AND r.epoch = coalesce(($8::int[])[1], r.epoch) AND r.{UNFINISHED}
        AND $9::int = 1
    RETURNING r.id, r.name, r.epoch
), inserted AS (
    INSERT INTO events (tenant, run_id, seq, body)
    SELECT $1, advanced.id, e.seq, e.body
    FROM advanced, unnest($10::text[], $11::int[], $12::bytea[]) AS e(name, seq, body)
    RETURNING 1
)
SELECT EXISTS (SELECT FROM advanced) AS ok,
    (SELECT count(*) FROM inserted) AS inserted,
    (SELECT count(pg_notify($13, p)) FROM unnest($14::text[]) AS p
        WHERE EXISTS (SELECT FROM advanced)) AS notified,
    (SELECT array_agg(name || ' ' || epoch) FROM advanced) AS epochs
"""


async def append_at_once(
    db: asyncpg.Connection,
    *,
    tenant: str,
    replica_id: str,
    channel: str,
    advances: Mapping[str, RunAdvance],
    events: Sequence[run_pb2.RunEvent],
    bodies: Sequence[bytes],
    held: Mapping[str, int],
    payloads: Sequence[str],
) -> dict[str, int] | None:
    """Commits the batch, returning each advanced run's epoch; None if some run did not
    match its fence (then nothing was written)."""
    rows = [
        (
            run,
            advance.expected_last_seq,
            advance.last_seq,
            advance.state,
            advance.end_time_us,
            held.get(run),
        )
        for run, advance in advances.items()
    ]
    columns = [list(column) for column in zip(*rows, strict=True)]
    row = await db.fetchrow(
        _APPEND_ONE if len(rows) == 1 else _APPEND_AT_ONCE,
        tenant,
        replica_id,
        *columns,
        len(rows),
        [event.run for event in events],
        [event.seq for event in events],
        list(bodies),
        channel,
        list(payloads),
    )
    if row is None or not row["ok"]:
        return None
    epochs: dict[str, int] = {}
    for pair in row["epochs"] or []:
        name, _, epoch = str(pair).rpartition(" ")
        epochs[name] = int(epoch)
    return epochs
