-- Schema 1: runs, their events and workflow definitions; every row carries its tenant.
-- Unqualified names: the store's search_path (its schema) decides where they live.

CREATE TABLE definitions (
    tenant TEXT NOT NULL,
    name   TEXT NOT NULL,
    body   BYTEA NOT NULL,  -- a serialized aura.orchestrator.v1.WorkflowDefinition
    PRIMARY KEY (tenant, name)
);

CREATE TABLE runs (
    id                  BIGSERIAL PRIMARY KEY,
    tenant              TEXT NOT NULL,
    name                TEXT NOT NULL,
    workflow_definition TEXT NOT NULL,
    state               SMALLINT NOT NULL,  -- aura.orchestrator.v1.RunState
    create_time_us      BIGINT NOT NULL,
    end_time_us         BIGINT,
    labels              JSONB NOT NULL DEFAULT '{}',
    request_id          TEXT,               -- NULL when the run has none
    fingerprint         TEXT NOT NULL DEFAULT '',
    last_seq            INTEGER NOT NULL,
    UNIQUE (tenant, name)
);
-- Idempotent creation: one run per request id, enforced by the database.
CREATE UNIQUE INDEX runs_by_request_id ON runs (tenant, request_id) WHERE request_id IS NOT NULL;
-- Listing, newest first, with keyset pages on (create_time_us, name).
CREATE INDEX runs_newest_first ON runs (tenant, create_time_us DESC, name DESC);
-- Resume: unfinished runs (final states: 3 SUCCEEDED, 4 PARTIALLY_SUCCEEDED, 5 FAILED, 6 CANCELLED).
CREATE INDEX runs_unfinished ON runs (tenant, create_time_us) WHERE state NOT IN (3, 4, 5, 6);
-- Retention: finished runs, oldest end first.
CREATE INDEX runs_finished ON runs (tenant, end_time_us) WHERE end_time_us IS NOT NULL;

CREATE TABLE events (
    tenant TEXT NOT NULL,
    run_id BIGINT NOT NULL,  -- runs.id
    seq    INTEGER NOT NULL,
    body   BYTEA NOT NULL,   -- a serialized aura.orchestrator.v1.RunEvent
    PRIMARY KEY (run_id, seq)
);
