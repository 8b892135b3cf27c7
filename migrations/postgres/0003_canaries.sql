-- The same change as migrations/sqlite/0003, in PostgreSQL's dialect: the
-- canary states, the `note` of who decided and why, and the canary of each
-- tenant × service, shared by every replica.
ALTER TABLE deployments DROP CONSTRAINT deployments_state_check;
ALTER TABLE deployments ADD CONSTRAINT deployments_state_check
    CHECK (state IN ('live', 'retired', 'failed', 'undeployed', 'canary', 'aborted'));
ALTER TABLE deployments ADD COLUMN note TEXT;

CREATE TABLE canaries (
    tenant TEXT NOT NULL,
    service TEXT NOT NULL,
    deployment_id BIGINT NOT NULL REFERENCES deployments (id),
    plan TEXT NOT NULL,
    started_ms BIGINT NOT NULL,
    PRIMARY KEY (tenant, service)
);
