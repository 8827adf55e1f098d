-- Schema 4: whose run it is. `tenant` stays the store's partition (one per database
-- schema, `default`); `run_tenant` is the tenant of the caller that created the run,
-- which every read a client asks is scoped by. Request ids are kept per tenant
-- (`tenant/request_id`), so two tenants' equal request ids make two runs.
ALTER TABLE runs ADD COLUMN run_tenant TEXT NOT NULL DEFAULT 'default';
UPDATE runs SET request_id = 'default/' || request_id WHERE request_id IS NOT NULL;
CREATE INDEX runs_tenant_newest_first ON runs (tenant, run_tenant, create_time_us DESC, name DESC);
