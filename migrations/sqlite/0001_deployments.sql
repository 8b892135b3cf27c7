-- Every attempt to put a service version live, successful or not: what the
-- admin API lists and what a restart restores.
CREATE TABLE deployments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant TEXT NOT NULL,
    service TEXT NOT NULL,
    version TEXT NOT NULL,
    digest TEXT NOT NULL,
    source TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('live', 'failed', 'retired')),
    error TEXT,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE INDEX deployments_by_service ON deployments (tenant, service, id);
