//! A transaction on a sandboxed SQLite connection. The service cannot send
//! `BEGIN`, `COMMIT` or `ROLLBACK` itself (see `authorizer.rs`), so the host
//! sends them, each after the statement that allows exactly one. A
//! transaction dropped unfinished (the request ended, trapped or timed out)
//! is rolled back before its connection serves anyone else.

use sqlx::pool::PoolConnection;
use sqlx::sqlite::{Sqlite, SqlitePool};
use sqlx::{AssertSqlSafe, SqliteConnection};

use super::host_tx_prelude;

pub struct SqliteTx {
    /// `None` once finished.
    conn: Option<PoolConnection<Sqlite>>,
}

async fn control(conn: &mut SqliteConnection, statement: &str) -> Result<(), sqlx::Error> {
    let sql = format!("{}; {statement}", host_tx_prelude());
    sqlx::raw_sql(AssertSqlSafe(sql))
        .execute(conn)
        .await
        .map(drop)
}

impl SqliteTx {
    /// Opens a transaction that holds the write lock from the start, so
    /// that a read-then-write transaction cannot fail half-way on a lock
    /// upgrade.
    pub async fn begin(pool: &SqlitePool) -> Result<SqliteTx, sqlx::Error> {
        // Built before BEGIN runs: if this future is dropped half-way, the
        // drop below still cleans the connection up.
        let mut tx = SqliteTx {
            conn: Some(pool.acquire().await?),
        };
        control(tx.connection(), "BEGIN IMMEDIATE").await?;
        Ok(tx)
    }

    /// The connection, for statements inside the transaction.
    pub fn connection(&mut self) -> &mut SqliteConnection {
        self.conn
            .as_deref_mut()
            .expect("a finished transaction is not used again")
    }

    pub async fn commit(mut self) -> Result<(), sqlx::Error> {
        control(self.connection(), "COMMIT").await?;
        self.conn = None;
        Ok(())
    }

    pub async fn rollback(mut self) -> Result<(), sqlx::Error> {
        control(self.connection(), "ROLLBACK").await?;
        self.conn = None;
        Ok(())
    }
}

impl Drop for SqliteTx {
    fn drop(&mut self) {
        let Some(mut conn) = self.conn.take() else {
            return;
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    if control(&mut conn, "ROLLBACK").await.is_err() {
                        // Not in a transaction after all (the future was
                        // dropped before BEGIN or after COMMIT), or broken:
                        // either way, a fresh connection is the safe one.
                        conn.close_on_drop();
                    }
                });
            }
            // Closing a SQLite connection rolls back what it had open.
            Err(_) => conn.close_on_drop(),
        }
    }
}
