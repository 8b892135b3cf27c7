//! Namespaces on PostgreSQL, with isolation PostgreSQL itself enforces: each
//! tenant × service gets a schema of its own and a login role that owns that
//! schema and has no other rights. Its connections log in as that role, so
//! that no SQL it sends — `SET ROLE`, `set_config('search_path', …)`,
//! schema-qualified names, `COPY`, functions, `DO` blocks — reaches anything
//! else. Its pool opens lazily, closes idle connections, and takes back only
//! connections as clean as new ones (`session.rs`).

mod harden;
mod keyword;
pub mod names;
mod provision;
mod quota;
mod session;
mod tx;
mod values;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use futures_util::FutureExt as _;
use futures_util::future::BoxFuture;
use sqlx::pool::{MaybePoolConnection, PoolConnection};
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::{
    AssertSqlSafe, Connection as _, PgConnection, Postgres, Row as _, SqlSafeStr as _, Transaction,
};

use super::backend::{
    ACQUIRE_TIMEOUT, Backend, BackendTx, Held, IDLE_TIMEOUT, MAX_CONNECTIONS, ResultLimits,
};
use super::errors::guest_error;
use super::limits::{LiveLimits, NamespaceLimits};
use super::migrate::{MigrationError, apply_postgres};
use crate::bindings::berth::service::database::{Error, Rows, Value};
use crate::bindings::{Dialect, Migration};
pub use names::role_prefix;
pub use provision::Provisioner;
use quota::Quota;
use tx::{PgTx, REAPER_SLACK, ran_past, timed};
use values::{bind_pg, read_pg_rows};

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
    limits: Arc<LiveLimits>,
}

impl PgNamespace {
    fn connect(
        provisioner: &Provisioner,
        (schema, role): (&str, &str),
        password: &str,
        limits: Arc<LiveLimits>,
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
            quota: Quota::new(limits.get().max_database_bytes),
            limits,
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

    fn timeout(&self) -> Duration {
        self.limits.get().statement_timeout
    }

    /// The connection the request holds, taken from the pool at its first
    /// statement.
    async fn connection(&self, held: &mut Held) -> Result<PoolConnection<Postgres>, Error> {
        match std::mem::take(held) {
            Held::Postgres(conn) => Ok(conn),
            Held::Nothing => self.pool.acquire().await.map_err(guest_error),
        }
    }

    /// Runs `work` on the request's connection, within the statement
    /// timeout. The connection stays held for the next statement, even
    /// after an error the server reported (it is usable); a statement ended
    /// at its deadline was stopped half-way, and its connection is closed.
    async fn on_connection<T>(
        &self,
        held: &mut Held,
        work: impl AsyncFnOnce(&mut PgConnection) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let timeout = self.timeout();
        let mut conn = self.connection(held).await?;
        match timed(&self.admin, &self.role, timeout, work(&mut conn)).await {
            Some(result) => {
                *held = Held::Postgres(conn);
                result
            }
            None => {
                conn.close_on_drop();
                Err(ran_past(timeout))
            }
        }
    }

    async fn run_query(
        &self,
        held: &mut Held,
        sql: &str,
        params: Vec<Value>,
        limits: ResultLimits,
    ) -> Result<Rows, Error> {
        if self.read_only(sql) {
            let mut tx = self.run_begin(held).await?;
            let rows = tx.query(sql, params, limits).await;
            // Read-only: nothing to keep; the statement's own outcome counts.
            let _ = Box::new(tx).rollback().await;
            return rows;
        }
        let rows = self
            .on_connection(held, async |conn: &mut PgConnection| {
                let query = bind_pg(sqlx::query(AssertSqlSafe(sql)), params);
                read_pg_rows(query.fetch(conn), limits).await
            })
            .await;
        let_go_of_a_transaction_block(held, sql);
        rows
    }

    async fn run_execute(
        &self,
        held: &mut Held,
        sql: &str,
        params: Vec<Value>,
    ) -> Result<u64, Error> {
        if self.read_only(sql) {
            let mut tx = self.run_begin(held).await?;
            let changed = tx.execute(sql, params).await;
            let _ = Box::new(tx).rollback().await;
            return changed;
        }
        let changed = self
            .on_connection(held, async |conn: &mut PgConnection| {
                let query = bind_pg(sqlx::query(AssertSqlSafe(sql)), params);
                Ok(query
                    .execute(conn)
                    .await
                    .map_err(guest_error)?
                    .rows_affected())
            })
            .await;
        let_go_of_a_transaction_block(held, sql);
        changed
    }

    /// Opens a transaction on the request's connection (which the
    /// transaction then holds, and gives back to the pool when it ends);
    /// read-only (with its snapshot taken, so that the service cannot
    /// switch it back) while the namespace is over quota.
    async fn run_begin(&self, held: &mut Held) -> Result<PgTx, Error> {
        let timeout = self.timeout();
        let read_only = self.read_only("");
        let conn = MaybePoolConnection::PoolConnection(self.connection(held).await?);
        let tx = if read_only {
            let mut tx = Transaction::begin(conn, Some("BEGIN READ ONLY".into_sql_str()))
                .await
                .map_err(guest_error)?;
            sqlx::query("SELECT 1")
                .execute(&mut *tx)
                .await
                .map_err(guest_error)?;
            tx
        } else {
            Transaction::begin(conn, None).await.map_err(guest_error)?
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
    async fn run_migrate(&self, migrations: &[Migration]) -> Result<Vec<u32>, MigrationError> {
        let timeout = self.limits.get().migration_timeout;
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
}

/// A `BEGIN` the service sent itself opened a transaction block that would
/// take in its next statements, to be rolled back with the session when the
/// request ends: the connection goes back now instead (its check closes
/// it), so that the statements after it run, and commit, on a fresh one.
/// Transactions are the host's (`begin`), as on SQLite.
fn let_go_of_a_transaction_block(held: &mut Held, sql: &str) {
    if keyword::opens_transaction(sql) {
        held.release();
    }
}

impl Backend for PgNamespace {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn query<'a>(
        &'a self,
        held: &'a mut Held,
        sql: &'a str,
        params: Vec<Value>,
        limits: ResultLimits,
    ) -> BoxFuture<'a, Result<Rows, Error>> {
        self.run_query(held, sql, params, limits).boxed()
    }

    fn execute<'a>(
        &'a self,
        held: &'a mut Held,
        sql: &'a str,
        params: Vec<Value>,
    ) -> BoxFuture<'a, Result<u64, Error>> {
        self.run_execute(held, sql, params).boxed()
    }

    fn begin<'a>(&'a self, held: &'a mut Held) -> BoxFuture<'a, Result<Box<dyn BackendTx>, Error>> {
        async move { Ok(Box::new(self.run_begin(held).await?) as Box<dyn BackendTx>) }.boxed()
    }

    fn migrate<'a>(
        &'a self,
        migrations: &'a [Migration],
    ) -> BoxFuture<'a, Result<Vec<u32>, MigrationError>> {
        self.run_migrate(migrations).boxed()
    }

    fn limits_changed<'a>(&'a self, limits: &'a NamespaceLimits) -> BoxFuture<'a, ()> {
        async move {
            if let Err(error) = self.set_limits(limits).await {
                tracing::warn!(%error, "cannot change the limits of a namespace role");
            }
        }
        .boxed()
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        self.pool.close().boxed()
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
