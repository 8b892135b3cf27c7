-- Progressive delivery. A version may run beside the live one as a canary
-- (state 'canary'), and end promoted (it becomes 'live') or aborted
-- ('aborted'); `note` says who decided and why, with the numbers.
--
-- SQLite cannot change a CHECK constraint, so `deployments` (and `live`,
-- which refers to it) are rebuilt with the new states, keeping every row and
-- id; the renames carry the reference over to the new table.
CREATE TABLE deployments_next (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant TEXT NOT NULL,
    service TEXT NOT NULL,
    version TEXT NOT NULL,
    digest TEXT NOT NULL,
    source TEXT NOT NULL,
    state TEXT NOT NULL
        CHECK (state IN ('live', 'retired', 'failed', 'undeployed', 'canary', 'aborted')),
    error TEXT,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    note TEXT
);

INSERT INTO deployments_next (id, tenant, service, version, digest, source, state, error, created_at)
SELECT id, tenant, service, version, digest, source, state, error, created_at FROM deployments;

CREATE TABLE live_next (
    tenant TEXT NOT NULL,
    service TEXT NOT NULL,
    deployment_id INTEGER NOT NULL REFERENCES deployments_next (id),
    PRIMARY KEY (tenant, service)
);

INSERT INTO live_next (tenant, service, deployment_id)
SELECT tenant, service, deployment_id FROM live;

DROP TABLE live;
DROP TABLE deployments;
ALTER TABLE deployments_next RENAME TO deployments;
ALTER TABLE live_next RENAME TO live;
CREATE INDEX deployments_by_service ON deployments (tenant, service, id);

-- The canary of a tenant × service, at most one: its deployment, its plan
-- (share, sticky header, judgement, bake; JSON) and when it started (unix
-- milliseconds, the same on every replica).
CREATE TABLE canaries (
    tenant TEXT NOT NULL,
    service TEXT NOT NULL,
    deployment_id INTEGER NOT NULL REFERENCES deployments (id),
    plan TEXT NOT NULL,
    started_ms INTEGER NOT NULL,
    PRIMARY KEY (tenant, service)
);
