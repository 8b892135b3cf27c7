//! A pooled connection goes back to the pool only as clean as a fresh one:
//! whatever session state a request left on it ends the session instead
//! (an open transaction, prepared statements, `WITH HOLD` cursors,
//! `LISTEN`, temporary tables), or is reset (`SET`, advisory locks), so
//! that the next request — of the same service, the only one that shares
//! the pool — starts from nothing. A request holds one connection for all
//! its statements (`Held`), so this runs once per request that used the
//! database, not once per statement.

use sqlx::PgConnection;

/// Resets what a statement can reset cheaply, then checks the rest: one
/// simple-query message, so one round trip, and no catalog scan (looking
/// for session-level settings in `pg_settings` cost most of a millisecond;
/// `RESET ALL` puts every one back to the role's defaults instead).
/// Advisory locks are released on the way (they cannot be listed without
/// `pg_locks`, which PUBLIC may not read). As one message, its statements
/// share its receipt time: `statement_timestamp()` differs from
/// `transaction_timestamp()` only inside a transaction block that was left
/// open (and in a failed one, `RESET ALL` fails and so does the check).
/// Every name is qualified: the service may have put look-alikes of its own
/// first in its `search_path`.
const CLEAN: &str = "RESET ALL;
    SELECT pg_catalog.pg_advisory_unlock_all()::text OPERATOR(pg_catalog.=) ''
    AND pg_catalog.statement_timestamp() OPERATOR(pg_catalog.=) pg_catalog.transaction_timestamp()
    AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_prepared_statements p WHERE p.from_sql)
    AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_cursors c WHERE c.is_holdable)
    AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_listening_channels())
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
