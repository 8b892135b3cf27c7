-- Component bytes by digest. On SQLite the bytes live in the artifact store
-- under the data dir; this table records what the store holds.
CREATE TABLE artifacts (
    digest TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

-- Every attempt to put a service version live, successful or not: the
-- history the admin API shows.
CREATE TABLE deployments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant TEXT NOT NULL,
    service TEXT NOT NULL,
    version TEXT NOT NULL,
    digest TEXT NOT NULL,
    source TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('live', 'retired', 'failed', 'undeployed')),
    error TEXT,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE INDEX deployments_by_service ON deployments (tenant, service, id);

-- What is live: one row per tenant × service, changed in the same
-- transaction as the deployment it points to, so that a restart (even after
-- kill -9) finds each service at exactly one complete version.
CREATE TABLE live (
    tenant TEXT NOT NULL,
    service TEXT NOT NULL,
    deployment_id INTEGER NOT NULL REFERENCES deployments (id),
    PRIMARY KEY (tenant, service)
);

-- The last content seen of each file in the plugins dir, so that a restart
-- deploys only files that changed while berth was down (and does not undo a
-- rollback made through the admin API).
CREATE TABLE plugin_files (
    path TEXT PRIMARY KEY,
    digest TEXT NOT NULL,
    service TEXT,
    seen_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

-- Tenants created through the admin API (those in berth.toml exist anyway).
CREATE TABLE tenants (
    name TEXT PRIMARY KEY,
    created_at TEXT NOT NULL
);
