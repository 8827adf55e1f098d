-- Schema 2: several replicas share the store. Each unfinished run has an owner and an
-- epoch (every event write is fenced by both); runs may wait QUEUED for a replica.

CREATE TABLE replicas (
    tenant       TEXT NOT NULL,
    id           TEXT NOT NULL,
    address      TEXT NOT NULL DEFAULT '',
    started_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    heartbeat_at TIMESTAMPTZ NOT NULL DEFAULT now(),  -- the database's clock, never a replica's
    PRIMARY KEY (tenant, id)
);

-- owner: the replica executing the run (NULL: queued, or written before schema 2, which
-- any live replica takes over). epoch: +1 on every change of owner.
ALTER TABLE runs
    ADD COLUMN owner         TEXT,
    ADD COLUMN epoch         INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN priority      INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN cancel_reason TEXT;  -- a Cancel asked on any replica, until the run ends

-- Takeover: unfinished runs by owner.
CREATE INDEX runs_owned ON runs (tenant, owner) WHERE state NOT IN (3, 4, 5, 6);
-- The queue (7 = RUN_STATE_QUEUED): highest priority first, then oldest.
CREATE INDEX runs_queued ON runs (tenant, priority DESC, id) WHERE state = 7;
