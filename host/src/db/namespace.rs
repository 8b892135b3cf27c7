//! One isolated namespace per tenant × service. On SQLite it is a database
//! file of its own, reached only through sandboxed connections; on
//! PostgreSQL a schema of its own, reached only as a login role with rights
//! on that schema alone. Either way the service cannot name another
//! service's tables, whatever SQL it sends. Pools open lazily and let idle
//! connections go.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sqlx::sqlite::{Sqlite, SqlitePool, SqlitePoolOptions};
use sqlx::{AssertSqlSafe, Connection as _, SqliteConnection};

use super::errors::guest_error;
use super::postgres::{PgNamespace, PgTx, Provisioner};
use super::sqlite::{self, Role};
use super::values::{bind_sqlite, read_sqlite_rows};
use crate::bindings::berth::service::database::{Error, Rows, Value};
use crate::bindings::berth::service::types::Dialect;

/// Connections one namespace may hold at once.
pub const MAX_CONNECTIONS: u32 = 4;
/// How long an unused connection stays open.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a statement waits for a connection before the database counts
/// as unavailable.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(2);

/// Bounds on what one query may return.
#[derive(Debug, Clone, Copy)]
pub struct ResultLimits {
    pub max_rows: u64,
    pub max_bytes: u64,
}

impl Default for ResultLimits {
    fn default() -> Self {
        ResultLimits {
            max_rows: 10_000,
            max_bytes: 16 << 20,
        }
    }
}

enum Store {
    /// Files under `root/<tenant>/<service>.db`.
    Sqlite { root: PathBuf },
    /// Schemas and roles in the host's PostgreSQL database.
    Postgres(Box<Provisioner>),
}

/// Opens namespaces, one per tenant × service, and hands out the same one to
/// every version of a service.
pub struct Namespaces {
    store: Store,
    open: tokio::sync::Mutex<HashMap<(String, String), Arc<Namespace>>>,
}

impl std::fmt::Debug for Namespaces {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Namespaces").finish_non_exhaustive()
    }
}

impl Namespaces {
    pub fn sqlite(root: impl Into<PathBuf>) -> Namespaces {
        Namespaces {
            store: Store::Sqlite { root: root.into() },
            open: tokio::sync::Mutex::new(HashMap::new()),
        }
    }

    pub fn postgres(provisioner: Provisioner) -> Namespaces {
        Namespaces {
            store: Store::Postgres(Box::new(provisioner)),
            open: tokio::sync::Mutex::new(HashMap::new()),
        }
    }

    /// The namespace of `service` for `tenant` (created on first use), its
    /// statements limited to `statement_timeout`. Names are validated
    /// identifiers (see `registry::manifest`).
    pub async fn get(
        &self,
        tenant: &str,
        service: &str,
        statement_timeout: Duration,
    ) -> anyhow::Result<Arc<Namespace>> {
        let key = (tenant.to_string(), service.to_string());
        let mut open = self.open.lock().await;
        if let Some(ns) = open.get(&key) {
            ns.set_statement_timeout(statement_timeout).await;
            return Ok(ns.clone());
        }
        let timeout = Arc::new(AtomicU64::new(millis(statement_timeout)));
        let backend = match &self.store {
            Store::Sqlite { root } => {
                let dir = root.join(tenant);
                std::fs::create_dir_all(&dir)
                    .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
                let path = dir.join(format!("{service}.db"));
                Backend::Sqlite {
                    pool: sqlite_pool(&path, timeout.clone()),
                    path,
                }
            }
            Store::Postgres(provisioner) => Backend::Postgres(
                provisioner
                    .namespace(tenant, service, statement_timeout)
                    .await?,
            ),
        };
        let ns = Arc::new(Namespace {
            backend,
            statement_timeout_ms: timeout,
        });
        open.insert(key, ns.clone());
        Ok(ns)
    }

    pub async fn close(&self) {
        let all: Vec<_> = self.open.lock().await.drain().collect();
        for (_, ns) in all {
            ns.close().await;
        }
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

fn sqlite_pool(path: &std::path::Path, timeout: Arc<AtomicU64>) -> SqlitePool {
    SqlitePoolOptions::new()
        .max_connections(MAX_CONNECTIONS)
        .min_connections(0)
        .idle_timeout(IDLE_TIMEOUT)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        // A local file does not drop connections: skip the ping before each
        // use, a round trip to the connection's thread per statement.
        .test_before_acquire(false)
        .after_connect(move |conn, _| {
            let timeout = timeout.clone();
            Box::pin(async move {
                sqlite::sandbox(conn, Role::Service).await?;
                sqlite::limit_statement_time(conn, timeout).await
            })
        })
        .connect_lazy_with(sqlite::namespace_options(path))
}

enum Backend {
    Sqlite { path: PathBuf, pool: SqlitePool },
    Postgres(PgNamespace),
}

/// A service's own database.
pub struct Namespace {
    backend: Backend,
    statement_timeout_ms: Arc<AtomicU64>,
}

impl std::fmt::Debug for Namespace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Namespace")
            .field("dialect", &self.dialect())
            .finish_non_exhaustive()
    }
}

impl Namespace {
    async fn set_statement_timeout(&self, timeout: Duration) {
        let old = self
            .statement_timeout_ms
            .swap(millis(timeout), Ordering::Relaxed);
        if let Backend::Postgres(pg) = &self.backend
            && old != millis(timeout)
            && let Err(error) = pg.set_statement_timeout(timeout).await
        {
            tracing::warn!(%error, "cannot change the statement timeout of a namespace role");
        }
    }

    fn statement_timeout(&self) -> Duration {
        Duration::from_millis(self.statement_timeout_ms.load(Ordering::Relaxed))
    }

    pub fn dialect(&self) -> Dialect {
        match self.backend {
            Backend::Sqlite { .. } => Dialect::Sqlite,
            Backend::Postgres(_) => Dialect::Postgres,
        }
    }

    pub async fn query(
        &self,
        sql: &str,
        params: Vec<Value>,
        limits: ResultLimits,
    ) -> Result<Rows, Error> {
        match &self.backend {
            Backend::Sqlite { pool, .. } => {
                let query = bind_sqlite(sqlx::query(AssertSqlSafe(sql)), params);
                read_sqlite_rows(query.fetch(pool), limits).await
            }
            Backend::Postgres(pg) => {
                pg.query(sql, params, limits, self.statement_timeout())
                    .await
            }
        }
    }

    pub async fn execute(&self, sql: &str, params: Vec<Value>) -> Result<u64, Error> {
        match &self.backend {
            Backend::Sqlite { pool, .. } => {
                let query = bind_sqlite(sqlx::query(AssertSqlSafe(sql)), params);
                Ok(query
                    .execute(pool)
                    .await
                    .map_err(guest_error)?
                    .rows_affected())
            }
            Backend::Postgres(pg) => pg.execute(sql, params, self.statement_timeout()).await,
        }
    }

    /// Opens a transaction. On SQLite it takes the write lock up front, so
    /// that a read-then-write transaction cannot fail half-way on a lock
    /// upgrade.
    pub async fn begin(&self) -> Result<NamespaceTx, Error> {
        match &self.backend {
            Backend::Sqlite { pool, .. } => Ok(NamespaceTx::Sqlite(
                pool.begin_with("BEGIN IMMEDIATE")
                    .await
                    .map_err(guest_error)?,
            )),
            Backend::Postgres(pg) => Ok(NamespaceTx::Postgres(
                pg.begin(self.statement_timeout()).await?,
            )),
        }
    }

    /// Applies the service's migrations that are not yet applied.
    pub async fn migrate(
        &self,
        migrations: &[crate::bindings::Migration],
    ) -> Result<Vec<u32>, super::migrate::MigrationError> {
        match &self.backend {
            Backend::Sqlite { path, .. } => {
                let mut conn =
                    SqliteConnection::connect_with(&sqlite::namespace_options(path)).await?;
                sqlite::sandbox(&mut conn, Role::Migrator).await?;
                let applied = super::migrate::apply_sqlite(&mut conn, migrations).await;
                conn.close().await?;
                applied
            }
            Backend::Postgres(pg) => pg.migrate(migrations).await,
        }
    }

    pub async fn close(&self) {
        match &self.backend {
            Backend::Sqlite { pool, .. } => pool.close().await,
            Backend::Postgres(pg) => pg.close().await,
        }
    }
}

/// An open transaction on a namespace; dropped means rolled back.
pub enum NamespaceTx {
    Sqlite(sqlx::Transaction<'static, Sqlite>),
    Postgres(PgTx),
}

impl NamespaceTx {
    pub async fn query(
        &mut self,
        sql: &str,
        params: Vec<Value>,
        limits: ResultLimits,
    ) -> Result<Rows, Error> {
        match self {
            NamespaceTx::Sqlite(tx) => {
                let query = bind_sqlite(sqlx::query(AssertSqlSafe(sql)), params);
                read_sqlite_rows(query.fetch(&mut **tx), limits).await
            }
            NamespaceTx::Postgres(tx) => tx.query(sql, params, limits).await,
        }
    }

    pub async fn execute(&mut self, sql: &str, params: Vec<Value>) -> Result<u64, Error> {
        match self {
            NamespaceTx::Sqlite(tx) => {
                let query = bind_sqlite(sqlx::query(AssertSqlSafe(sql)), params);
                Ok(query
                    .execute(&mut **tx)
                    .await
                    .map_err(guest_error)?
                    .rows_affected())
            }
            NamespaceTx::Postgres(tx) => tx.execute(sql, params).await,
        }
    }

    pub async fn commit(self) -> Result<(), Error> {
        match self {
            NamespaceTx::Sqlite(tx) => tx.commit().await.map_err(guest_error),
            NamespaceTx::Postgres(tx) => tx.commit().await,
        }
    }

    pub async fn rollback(self) -> Result<(), Error> {
        match self {
            NamespaceTx::Sqlite(tx) => tx.rollback().await.map_err(guest_error),
            NamespaceTx::Postgres(tx) => tx.rollback().await,
        }
    }
}
