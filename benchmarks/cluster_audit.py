"""Who wrote which event of a shared PostgreSQL store: triggers for tests and benchmarks.

Installed in a test's (or a benchmark's) own schema, never by the product. Every
committed event row is recorded with the owner and epoch its run had when it was written
(an event commits only while its writer owns the run at the epoch it holds, so that is
its writer), and every change of a run's epoch (a claim) with its time. A fenced
replica's write would show as an event at an old epoch written after the claim that
ended that epoch.
"""

from __future__ import annotations

from typing import Any

AUDIT_SQL = """
CREATE TABLE event_audit (run_id BIGINT, seq INTEGER, owner TEXT, epoch INTEGER,
                          at TIMESTAMPTZ);
CREATE TABLE claim_audit (run_id BIGINT, old_owner TEXT, new_owner TEXT, new_epoch INTEGER,
                          at TIMESTAMPTZ);
CREATE FUNCTION audit_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO event_audit SELECT NEW.run_id, NEW.seq, r.owner, r.epoch, clock_timestamp()
    FROM runs r WHERE r.id = NEW.run_id;
    RETURN NULL;
END $$;
CREATE FUNCTION audit_claim() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.epoch <> OLD.epoch THEN
        INSERT INTO claim_audit VALUES (NEW.id, OLD.owner, NEW.owner, NEW.epoch,
                                        clock_timestamp());
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER audit_events AFTER INSERT ON events FOR EACH ROW EXECUTE FUNCTION audit_event();
CREATE TRIGGER audit_claims AFTER UPDATE OF epoch ON runs FOR EACH ROW
    EXECUTE FUNCTION audit_claim();
"""

# Events written at an epoch after the claim that ended it: a fenced replica's writes.
FENCED_WRITES_SQL = """
SELECT count(*) FROM event_audit e JOIN claim_audit c
  ON c.run_id = e.run_id AND e.epoch < c.new_epoch AND e.at > c.at
"""

# Runs whose events' epochs go down along seq: an old owner wrote after a new one.
EPOCH_REGRESSIONS_SQL = """
SELECT count(*) FROM (
    SELECT epoch < max(epoch) OVER (PARTITION BY run_id ORDER BY seq) AS regressed
    FROM event_audit) e WHERE regressed
"""


async def install_audit(conn: Any) -> None:
    await conn.execute(AUDIT_SQL)


async def fenced_writes(conn: Any) -> int:
    return int(await conn.fetchval(FENCED_WRITES_SQL))


async def epoch_regressions(conn: Any) -> int:
    return int(await conn.fetchval(EPOCH_REGRESSIONS_SQL))


async def writers_by_run(conn: Any) -> dict[str, list[str]]:
    """Run name -> the owner that wrote each of its events, in seq order."""
    rows = await conn.fetch(
        "SELECT r.name, e.owner FROM event_audit e JOIN runs r ON r.id = e.run_id"
        " ORDER BY r.name, e.seq"
    )
    writers: dict[str, list[str]] = {}
    for row in rows:
        writers.setdefault(row["name"], []).append(row["owner"])
    return writers


async def first_events_after_takeover(conn: Any, old_owner: str) -> dict[int, float]:
    """Run id -> when (unix s, database clock) the replica that took it from `old_owner`
    committed its first event of it."""
    rows = await conn.fetch(
        "SELECT c.run_id, extract(epoch FROM min(e.at))::float8 AS first_at"
        " FROM claim_audit c JOIN event_audit e"
        "   ON e.run_id = c.run_id AND e.epoch = c.new_epoch"
        " WHERE c.old_owner = $1 GROUP BY c.run_id",
        old_owner,
    )
    return {row["run_id"]: row["first_at"] for row in rows}


async def runs_owned_at_claim(conn: Any, old_owner: str) -> int:
    """How many runs were claimed away from `old_owner`."""
    return int(
        await conn.fetchval(
            "SELECT count(DISTINCT run_id) FROM claim_audit WHERE old_owner = $1", old_owner
        )
    )


async def events_written_by_after(conn: Any, owner: str, unix_s: float) -> int:
    """Events `owner` committed after `unix_s`."""
    return int(
        await conn.fetchval(
            "SELECT count(*) FROM event_audit WHERE owner = $1 AND at > to_timestamp($2)",
            owner,
            unix_s,
        )
    )
