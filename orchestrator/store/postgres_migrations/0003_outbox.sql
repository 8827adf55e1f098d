-- Schema 3: the event bus's outbox. Written in the same transaction as the run events it
-- describes (only when the bus is on); the relays publish pending entries to Redis and
-- confirm them. claimed_by / claimed_until: the relay publishing an entry now (a lease,
-- so one replica's relay publishes it at a time and a dead relay's claim runs out).

CREATE TABLE outbox (
    id            BIGSERIAL PRIMARY KEY,
    tenant        TEXT NOT NULL,
    topic         TEXT NOT NULL,
    key           TEXT NOT NULL,
    event_id      TEXT NOT NULL,
    payload       JSONB NOT NULL,
    created_us    BIGINT NOT NULL,
    confirmed_us  BIGINT,              -- NULL: not yet published
    claimed_by    TEXT,
    claimed_until TIMESTAMPTZ,
    UNIQUE (tenant, event_id)
);
CREATE INDEX outbox_pending ON outbox (tenant, id) WHERE confirmed_us IS NULL;
CREATE INDEX outbox_confirmed ON outbox (tenant, created_us) WHERE confirmed_us IS NOT NULL;
