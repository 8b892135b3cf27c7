//! A transaction on a sandboxed SQLite connection. The service cannot send
//! `BEGIN`, `COMMIT` or `ROLLBACK` itself (see `authorizer.rs`), so the host
//! sends them, each after the statement that allows exactly one. A
//! transaction dropped unfinished (the request ended, trapped or timed out)
//! is rolled back before its connection serves anyone else.

use libsqlite3_sys as ffi;
use sqlx::pool::PoolConnection;
use sqlx::sqlite::{Sqlite, SqlitePool};
use sqlx::{AssertSqlSafe, SqliteConnection};

use futures_util::FutureExt as _;
use futures_util::future::BoxFuture;

use super::host_tx_prelude;
use super::values::{bind_sqlite, read_sqlite_rows};
use crate::bindings::berth::service::database::{Error, Rows, Value};
use crate::capabilities::database::backend::{BackendTx, ResultLimits};
use crate::capabilities::database::errors::guest_error;

pub struct SqliteTx {
    /// `None` once finished.
    conn: Option<PoolConnection<Sqlite>>,
    /// Why SQLite ended the transaction by itself (a full disk, no memory,
    /// an interrupted statement roll the whole transaction back).
    ended: Option<String>,
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
            ended: None,
        };
        control(tx.connection(), "BEGIN IMMEDIATE").await?;
        Ok(tx)
    }

    fn connection(&mut self) -> &mut SqliteConnection {
        self.conn
            .as_deref_mut()
            .expect("a finished transaction is not used again")
    }

    fn still_open(&self) -> Result<(), Error> {
        match &self.ended {
            None => Ok(()),
            Some(why) => Err(Error::Other(format!(
                "the database rolled this transaction back after an earlier statement failed ({why}); nothing of it was kept, begin a new one"
            ))),
        }
    }

    /// After a failed statement: whether SQLite ended the transaction.
    async fn check_still_open(&mut self, error: &Error) {
        let open = match self.connection().lock_handle().await {
            // SAFETY: a live handle whose lock is held.
            Ok(mut handle) => unsafe {
                ffi::sqlite3_get_autocommit(handle.as_raw_handle().as_ptr()) == 0
            },
            Err(_) => false,
        };
        if !open {
            self.ended = Some(format!("{error:?}"));
        }
    }

    async fn run_query(
        &mut self,
        sql: &str,
        params: Vec<Value>,
        limits: ResultLimits,
    ) -> Result<Rows, Error> {
        self.still_open()?;
        let query = bind_sqlite(sqlx::query(AssertSqlSafe(sql)), params);
        let result = read_sqlite_rows(query.fetch(self.connection()), limits).await;
        if let Err(error) = &result {
            self.check_still_open(error).await;
        }
        result
    }

    async fn run_execute(&mut self, sql: &str, params: Vec<Value>) -> Result<u64, Error> {
        self.still_open()?;
        let query = bind_sqlite(sqlx::query(AssertSqlSafe(sql)), params);
        let result = query
            .execute(self.connection())
            .await
            .map(|done| done.rows_affected())
            .map_err(guest_error);
        if let Err(error) = &result {
            self.check_still_open(error).await;
        }
        result
    }

    async fn finish_commit(mut self) -> Result<(), Error> {
        self.still_open()?;
        control(self.connection(), "COMMIT")
            .await
            .map_err(guest_error)?;
        self.conn = None;
        Ok(())
    }

    async fn finish_rollback(mut self) -> Result<(), Error> {
        if self.ended.is_none() {
            control(self.connection(), "ROLLBACK")
                .await
                .map_err(guest_error)?;
        }
        self.conn = None;
        Ok(())
    }
}

impl BackendTx for SqliteTx {
    fn query<'a>(
        &'a mut self,
        sql: &'a str,
        params: Vec<Value>,
        limits: ResultLimits,
    ) -> BoxFuture<'a, Result<Rows, Error>> {
        self.run_query(sql, params, limits).boxed()
    }

    fn execute<'a>(
        &'a mut self,
        sql: &'a str,
        params: Vec<Value>,
    ) -> BoxFuture<'a, Result<u64, Error>> {
        self.run_execute(sql, params).boxed()
    }

    fn commit(self: Box<Self>) -> BoxFuture<'static, Result<(), Error>> {
        (*self).finish_commit().boxed()
    }

    fn rollback(self: Box<Self>) -> BoxFuture<'static, Result<(), Error>> {
        (*self).finish_rollback().boxed()
    }
}

impl Drop for SqliteTx {
    fn drop(&mut self) {
        let Some(mut conn) = self.conn.take() else {
            return;
        };
        if self.ended.is_some() {
            return; // SQLite already rolled it back.
        }
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
