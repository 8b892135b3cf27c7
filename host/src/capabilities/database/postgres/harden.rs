//! What the host takes away from every role of the database (service roles
//! get their rights through PUBLIC), once at start: creating objects
//! outside their schema, temporary tables (which escape the size quota and
//! stay on pooled sessions), large objects (stored outside any schema),
//! advisory locks (they fill the server's lock table, shared by every
//! database), and the catalog views that list other tenants' roles, sessions
//! and locks.
//! Most of this needs the owner of the objects (a superuser for the
//! catalogs): where the host's role may not, berth says what stays open.

use sqlx::AssertSqlSafe;
use sqlx::postgres::PgPool;

/// (statement, what stays open if it is refused)
fn statements(database: &str) -> Vec<(String, &'static str)> {
    vec![
        (
            "REVOKE CREATE ON SCHEMA public FROM PUBLIC".into(),
            "services may create objects in schema public (servers before 15)",
        ),
        (
            "REVOKE ALL ON SCHEMA public FROM PUBLIC".into(),
            "services can see the names of the host's own tables",
        ),
        (
            format!("REVOKE TEMPORARY ON DATABASE \"{database}\" FROM PUBLIC"),
            "services may create temporary tables, outside their size quota",
        ),
        (
            "REVOKE EXECUTE ON FUNCTION lo_creat(integer), lo_create(oid), lo_from_bytea(oid, bytea), lo_import(text), lo_import(text, oid) FROM PUBLIC".into(),
            "services may store large objects, outside their size quota",
        ),
        (
            "REVOKE EXECUTE ON FUNCTION pg_advisory_lock(bigint), pg_advisory_lock(integer, integer), pg_advisory_lock_shared(bigint), pg_advisory_lock_shared(integer, integer), pg_try_advisory_lock(bigint), pg_try_advisory_lock(integer, integer), pg_try_advisory_lock_shared(bigint), pg_try_advisory_lock_shared(integer, integer), pg_advisory_xact_lock(bigint), pg_advisory_xact_lock(integer, integer), pg_advisory_xact_lock_shared(bigint), pg_advisory_xact_lock_shared(integer, integer), pg_try_advisory_xact_lock(bigint), pg_try_advisory_xact_lock(integer, integer), pg_try_advisory_xact_lock_shared(bigint), pg_try_advisory_xact_lock_shared(integer, integer) FROM PUBLIC".into(),
            "services may take advisory locks: a million of them fill the server's shared lock table for every database",
        ),
        (
            "REVOKE SELECT ON pg_catalog.pg_roles, pg_catalog.pg_user, pg_catalog.pg_group FROM PUBLIC".into(),
            "services can list every role of the server",
        ),
        (
            "REVOKE SELECT ON pg_catalog.pg_stat_activity, pg_catalog.pg_locks FROM PUBLIC".into(),
            "services can see other roles' sessions and locks",
        ),
        (
            "REVOKE EXECUTE ON FUNCTION pg_stat_get_activity(integer), pg_lock_status() FROM PUBLIC".into(),
            "services can see other roles' sessions and locks",
        ),
    ]
}

/// Applies what it can, warning about the rest.
pub async fn database(admin: &PgPool, database: &str) {
    for (statement, open) in statements(database) {
        if let Err(error) = sqlx::query(AssertSqlSafe(statement.clone()))
            .execute(admin)
            .await
        {
            tracing::warn!(%error, %statement, "cannot restrict PUBLIC: {open}");
        }
    }
}
