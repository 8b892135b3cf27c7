//! Bounding the service's statements on PostgreSQL, and its transactions.

use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt as _;
use futures_util::future::BoxFuture;
use sqlx::AssertSqlSafe;
use sqlx::postgres::{PgPool, Postgres};

use super::values::{bind_pg, read_pg_rows};
use crate::bindings::berth::service::database::{Error, Rows, Value};
use crate::capabilities::database::backend::{BackendTx, ResultLimits};
use crate::capabilities::database::errors::guest_error;

/// Time given to PostgreSQL's own statement timeout before the host ends
/// the statement itself (the guest may have raised its timeout with `SET`).
pub const REAPER_SLACK: Duration = Duration::from_secs(1);

/// A write refused in a transaction made read-only by a full quota, said
/// as such.
fn over_quota(quota: Option<u64>, error: Error) -> Error {
    match (quota, error) {
        (Some(max), Error::InvalidQuery(message) | Error::Other(message))
            if message.contains("read-only transaction") =>
        {
            Error::LimitExceeded(format!(
                "the namespace is over its size quota of {} MiB: writes are refused until \
                 data is deleted (DELETE, TRUNCATE or DROP outside a transaction; only DROP \
                 once it is more than a quarter over) ({message})",
                max >> 20
            ))
        }
        (_, other) => other,
    }
}

/// Runs `work` as `role`, ending the role's statements that outlive
/// `timeout`.
pub async fn bounded<T>(
    admin: &PgPool,
    role: &str,
    timeout: Duration,
    work: impl Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    timed(admin, role, timeout, work)
        .await
        .unwrap_or_else(|| Err(ran_past(timeout)))
}

/// [`bounded`], saying `None` when the work ran out of time: it was then
/// stopped half-way, and the connection it used is not to be used again.
pub async fn timed<T>(
    admin: &PgPool,
    role: &str,
    timeout: Duration,
    work: impl Future<Output = Result<T, Error>>,
) -> Option<Result<T, Error>> {
    match tokio::time::timeout(timeout + REAPER_SLACK, work).await {
        Ok(result) => Some(result),
        Err(_) => {
            reap(admin, role, timeout).await;
            None
        }
    }
}

/// The error of a statement ended at its deadline.
pub fn ran_past(timeout: Duration) -> Error {
    Error::LimitExceeded(format!("the statement ran past {timeout:?} and was ended"))
}

/// Ends `role`'s statements running longer than `timeout`: the guest cannot
/// escape this with `SET statement_timeout`, as it runs as the host.
async fn reap(admin: &PgPool, role: &str, timeout: Duration) {
    let result = sqlx::query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE usename = $1 AND state <> 'idle' AND now() - query_start > make_interval(secs => $2)",
    )
    .bind(role)
    .bind(timeout.as_secs_f64())
    .execute(admin)
    .await;
    match result {
        Ok(done) => tracing::warn!(
            role,
            ended = done.rows_affected(),
            "ended runaway statements"
        ),
        Err(error) => tracing::error!(role, %error, "cannot end runaway statements"),
    }
}

/// An open transaction on a PostgreSQL namespace.
pub struct PgTx {
    pub(super) tx: sqlx::Transaction<'static, Postgres>,
    pub(super) admin: PgPool,
    pub(super) role: Arc<str>,
    pub(super) timeout: Duration,
    /// The quota, in bytes, when the transaction is read-only for it.
    pub(super) quota: Option<u64>,
}

impl PgTx {
    async fn run_query(
        &mut self,
        sql: &str,
        params: Vec<Value>,
        limits: ResultLimits,
    ) -> Result<Rows, Error> {
        let PgTx {
            tx,
            admin,
            role,
            timeout,
            quota,
        } = self;
        bounded(admin, role, *timeout, async move {
            let query = bind_pg(sqlx::query(AssertSqlSafe(sql)), params);
            read_pg_rows(query.fetch(&mut **tx), limits).await
        })
        .await
        .map_err(|e| over_quota(*quota, e))
    }

    async fn run_execute(&mut self, sql: &str, params: Vec<Value>) -> Result<u64, Error> {
        let PgTx {
            tx,
            admin,
            role,
            timeout,
            quota,
        } = self;
        bounded(admin, role, *timeout, async move {
            let query = bind_pg(sqlx::query(AssertSqlSafe(sql)), params);
            Ok(query
                .execute(&mut **tx)
                .await
                .map_err(guest_error)?
                .rows_affected())
        })
        .await
        .map_err(|e| over_quota(*quota, e))
    }
}

impl BackendTx for PgTx {
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
        async move { self.tx.commit().await.map_err(guest_error) }.boxed()
    }

    fn rollback(self: Box<Self>) -> BoxFuture<'static, Result<(), Error>> {
        async move { self.tx.rollback().await.map_err(guest_error) }.boxed()
    }
}
