-- Keys the host derives namespace names and replication signatures from.
-- Service roles have no rights on this table (or any other of the host's).
CREATE TABLE host_secrets (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- Namespace names are derived with a keyed hash now; two namespaces can
-- never share a schema.
ALTER TABLE pg_namespaces ADD CONSTRAINT pg_namespaces_schema_unique UNIQUE (schema_name);
