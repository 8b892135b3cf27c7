//! Namespaces on PostgreSQL, with isolation PostgreSQL itself enforces: each
//! tenant × service gets a schema of its own and a login role that owns that
//! schema and has no other rights. Its connections log in as that role, so
//! that no SQL it sends — `SET ROLE`, `set_config('search_path', …)`,
//! schema-qualified names, `COPY`, functions, `DO` blocks — reaches anything
//! else. Its pool opens lazily, closes idle connections, and takes back only
//! connections as clean as new ones (`session.rs`).

mod harden;
pub mod names;
mod provision;
mod quota;
mod session;
mod values;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use sqlx::postgres::{PgPool, PgPoolOptions, Postgres};
use sqlx::{AssertSqlSafe, Connection as _, PgConnection, Row as _};

use super::errors::guest_error;
use super::migrate::{MigrationError, apply_postgres};
use super::namespace::{
    ACQUIRE_TIMEOUT, IDLE_TIMEOUT, MAX_CONNECTIONS, NamespaceLimits, ResultLimits,
};
use crate::bindings::Migration;
use crate::bindings::berth::service::database::{Error, Rows, Value};
pub use names::role_prefix;
pub use provision::Provisioner;
use quota::Quota;
use values::{bind_pg, read_pg_rows};

/// Time given to PostgreSQL's own statement timeout before the host ends
/// the statement itself (the guest may have raised its timeout with `SET`).
const REAPER_SLACK: Duration = Duration::from_secs(1);

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

/// A namespace on PostgreSQL.
#[derive(Debug)]
pub struct PgNamespace {
    pool: PgPool,
    admin: PgPool,
    options: sqlx::postgres::PgConnectOptions,
    role: Arc<str>,
    schema: String,
    database: String,
    quota: Arc<Quota>,
}

impl PgNamespace {
    fn connect(
        provisioner: &Provisioner,
        (schema, role): (&str, &str),
        password: &str,
        limits: &NamespaceLimits,
    ) -> PgNamespace {
        let options = provisioner
            .options
            .clone()
            .username(role)
            .password(password);
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .min_connections(0)
            .idle_timeout(IDLE_TIMEOUT)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .after_release(|conn, _| Box::pin(session::is_clean(conn)))
            .connect_lazy_with(options.clone());
        PgNamespace {
            pool,
            admin: provisioner.admin.clone(),
            options,
            role: Arc::from(role),
            schema: schema.to_string(),
            database: provisioner.database.clone(),
            quota: Quota::new(limits.max_database_bytes),
        }
    }

    /// PostgreSQL's own statement timeout for the role (the host also ends
    /// statements that outlive it, see `reap`), and the size quota.
    pub async fn set_limits(&self, limits: &NamespaceLimits) -> Result<(), sqlx::Error> {
        self.quota.set_max_bytes(limits.max_database_bytes);
        let statement = format!(
            "ALTER ROLE \"{}\" IN DATABASE \"{}\" SET statement_timeout = {}",
            self.role,
            self.database,
            limits.statement_timeout.as_millis()
        );
        sqlx::query(AssertSqlSafe(statement))
            .execute(&self.admin)
            .await
            .map(drop)
    }

    /// Whether `sql` must run read-only: the namespace is over its quota
    /// and the statement does not free space.
    fn read_only(&self, sql: &str) -> bool {
        self.quota.refresh(&self.admin, &self.schema);
        self.quota.restricts(sql)
    }

    pub async fn query(
        &self,
        sql: &str,
        params: Vec<Value>,
        limits: ResultLimits,
        timeout: Duration,
    ) -> Result<Rows, Error> {
        if self.read_only(sql) {
            let mut tx = self.begin(timeout).await?;
            let rows = tx.query(sql, params, limits).await;
            // Read-only: nothing to keep; the statement's own outcome counts.
            let _ = tx.rollback().await;
            return rows;
        }
        bounded(&self.admin, &self.role, timeout, async {
            let query = bind_pg(sqlx::query(AssertSqlSafe(sql)), params);
            read_pg_rows(query.fetch(&self.pool), limits).await
        })
        .await
    }

    pub async fn execute(
        &self,
        sql: &str,
        params: Vec<Value>,
        timeout: Duration,
    ) -> Result<u64, Error> {
        if self.read_only(sql) {
            let mut tx = self.begin(timeout).await?;
            let changed = tx.execute(sql, params).await;
            let _ = tx.rollback().await;
            return changed;
        }
        bounded(&self.admin, &self.role, timeout, async {
            let query = bind_pg(sqlx::query(AssertSqlSafe(sql)), params);
            Ok(query
                .execute(&self.pool)
                .await
                .map_err(guest_error)?
                .rows_affected())
        })
        .await
    }

    /// Opens a transaction; read-only (with its snapshot taken, so that the
    /// service cannot switch it back) while the namespace is over quota.
    pub async fn begin(&self, timeout: Duration) -> Result<PgTx, Error> {
        let read_only = self.read_only("");
        let tx = if read_only {
            let mut tx = self
                .pool
                .begin_with("BEGIN READ ONLY")
                .await
                .map_err(guest_error)?;
            sqlx::query("SELECT 1")
                .execute(&mut *tx)
                .await
                .map_err(guest_error)?;
            tx
        } else {
            self.pool.begin().await.map_err(guest_error)?
        };
        Ok(PgTx {
            tx,
            admin: self.admin.clone(),
            role: self.role.clone(),
            timeout,
            quota: read_only.then(|| self.quota.max_bytes()),
        })
    }

    /// Applies migrations as the namespace's own role (so that what they
    /// create belongs to it) on a session of their own. One replica at a
    /// time: the host holds the namespace's row in its records (a lock no
    /// service can take or wait out) while they run, and ends them at
    /// `migration_timeout`, whatever they `SET`.
    pub async fn migrate(
        &self,
        migrations: &[Migration],
        limits: &NamespaceLimits,
    ) -> Result<Vec<u32>, MigrationError> {
        let timeout = limits.migration_timeout;
        let mut lock = provision::admin_tx(&self.admin).await?;
        sqlx::query("SELECT 1 FROM pg_namespaces WHERE role_name = $1 FOR UPDATE")
            .bind(&*self.role)
            .execute(&mut *lock)
            .await?;
        let mut conn = PgConnection::connect_with(&self.options).await?;
        sqlx::query(AssertSqlSafe(format!(
            "SET statement_timeout = {}",
            timeout.as_millis()
        )))
        .execute(&mut conn)
        .await?;
        let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
            .fetch_one(&mut conn)
            .await?;
        let applied = match tokio::time::timeout(
            timeout + REAPER_SLACK,
            apply_postgres(&mut conn, migrations),
        )
        .await
        {
            Ok(applied) => applied,
            Err(_) => {
                let _ = sqlx::query("SELECT pg_terminate_backend($1)")
                    .bind(pid)
                    .execute(&self.admin)
                    .await;
                Err(MigrationError::TimedOut(timeout))
            }
        };
        let _ = conn.close().await;
        lock.commit().await?;
        applied
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Runs `work` as `role`, ending the role's statements that outlive
/// `timeout`.
async fn bounded<T>(
    admin: &PgPool,
    role: &str,
    timeout: Duration,
    work: impl Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    match tokio::time::timeout(timeout + REAPER_SLACK, work).await {
        Ok(result) => result,
        Err(_) => {
            reap(admin, role, timeout).await;
            Err(Error::LimitExceeded(format!(
                "the statement ran past {timeout:?} and was ended"
            )))
        }
    }
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
    tx: sqlx::Transaction<'static, Postgres>,
    admin: PgPool,
    role: Arc<str>,
    timeout: Duration,
    /// The quota, in bytes, when the transaction is read-only for it.
    quota: Option<u64>,
}

impl PgTx {
    pub async fn query(
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

    pub async fn execute(&mut self, sql: &str, params: Vec<Value>) -> Result<u64, Error> {
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

    pub async fn commit(self) -> Result<(), Error> {
        self.tx.commit().await.map_err(guest_error)
    }

    pub async fn rollback(self) -> Result<(), Error> {
        self.tx.rollback().await.map_err(guest_error)
    }
}

/// Drops every database object and role berth made for `database` — used by
/// the tests to clean up after themselves.
pub async fn drop_roles(admin: &PgPool, database: &str) -> anyhow::Result<()> {
    let roles: Vec<String> =
        sqlx::query("SELECT rolname FROM pg_roles WHERE starts_with(rolname, $1)")
            .bind(role_prefix(database))
            .fetch_all(admin)
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
    for role in roles {
        sqlx::query(AssertSqlSafe(format!("DROP ROLE IF EXISTS \"{role}\"")))
            .execute(admin)
            .await
            .with_context(|| format!("cannot drop role {role}"))?;
    }
    Ok(())
}
