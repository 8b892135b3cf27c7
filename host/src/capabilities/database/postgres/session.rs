//! A pooled connection goes back to the pool only as clean as a fresh one:
//! whatever session state a request left on it (an open transaction,
//! advisory locks, `SET`, prepared statements, cursors, `LISTEN`, temporary
//! tables) ends the session instead, so that the next request — of the same
//! service, the only one that shares the pool — starts from nothing.

use sqlx::PgConnection;

/// True when the session holds nothing beyond what a fresh one has.
/// Advisory locks are released on the way (they cannot be listed without
/// `pg_locks`, which PUBLIC may not read). Sent as a simple query: then the
/// statement starts the implicit transaction it runs in, so its timestamps
/// differ only inside a transaction block that was left open. Every name is
/// qualified: the service may have put look-alikes of its own first in its
/// `search_path`.
const CLEAN: &str = "SELECT pg_catalog.pg_advisory_unlock_all()::text OPERATOR(pg_catalog.=) ''
    AND pg_catalog.statement_timestamp() OPERATOR(pg_catalog.=) pg_catalog.transaction_timestamp()
    AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_prepared_statements p WHERE p.from_sql)
    AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_cursors c WHERE c.is_holdable)
    AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_listening_channels())
    AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_settings s WHERE s.source OPERATOR(pg_catalog.=) 'session')
    AND pg_catalog.pg_my_temp_schema() OPERATOR(pg_catalog.=) 0";

/// Whether the connection may serve another request; `false` closes it.
pub async fn is_clean(conn: &mut PgConnection) -> Result<bool, sqlx::Error> {
    // A failed transaction answers with an error: not clean either.
    use sqlx::Row as _;
    Ok(sqlx::raw_sql(CLEAN)
        .fetch_one(conn)
        .await
        .ok()
        .and_then(|row| row.try_get::<bool, _>(0).ok())
        .unwrap_or(false))
}
