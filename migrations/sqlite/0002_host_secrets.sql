-- Keys the host derives names and signatures from; never shown to services.
CREATE TABLE host_secrets (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
