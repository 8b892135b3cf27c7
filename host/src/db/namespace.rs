//! One isolated namespace per tenant × service. On SQLite it is a database
//! file of its own, reached only through sandboxed connections, so that the
//! service cannot name another service's tables, whatever SQL it sends.
//! Pools open lazily and let idle connections go.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::sqlite::{Sqlite, SqlitePool, SqlitePoolOptions};
use sqlx::{AssertSqlSafe, Connection as _, SqliteConnection};

use super::errors::guest_error;
use super::sqlite::{self, Role};
use super::values::{bind_sqlite, read_sqlite_rows};
use crate::bindings::berth::service::database::{Error, Rows, Value};
use crate::bindings::berth::service::types::Dialect;

/// Connections one namespace may hold at once.
const MAX_CONNECTIONS: u32 = 4;
/// How long an unused connection stays open.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

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

/// Opens namespaces, one per tenant × service, and hands out the same one to
/// every version of a service.
#[derive(Debug)]
pub struct Namespaces {
    root: PathBuf,
    open: Mutex<HashMap<(String, String), Arc<Namespace>>>,
}

impl Namespaces {
    /// Namespaces as SQLite files under `root/<tenant>/<service>.db`.
    pub fn sqlite(root: impl Into<PathBuf>) -> Namespaces {
        Namespaces {
            root: root.into(),
            open: Mutex::new(HashMap::new()),
        }
    }

    /// The namespace of `service` for `tenant`, its statements limited to
    /// `statement_timeout`. Names are validated identifiers (see
    /// `registry::manifest`), safe as file names.
    pub fn get(
        &self,
        tenant: &str,
        service: &str,
        statement_timeout: Duration,
    ) -> anyhow::Result<Arc<Namespace>> {
        let key = (tenant.to_string(), service.to_string());
        let mut open = self.open.lock().expect("namespace map poisoned");
        if let Some(ns) = open.get(&key) {
            ns.set_statement_timeout(statement_timeout);
            return Ok(ns.clone());
        }
        let dir = self.root.join(tenant);
        std::fs::create_dir_all(&dir)
            .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
        let ns = Arc::new(Namespace::sqlite(
            dir.join(format!("{service}.db")),
            statement_timeout,
        ));
        open.insert(key, ns.clone());
        Ok(ns)
    }

    pub async fn close(&self) {
        let all: Vec<_> = self
            .open
            .lock()
            .expect("namespace map poisoned")
            .drain()
            .collect();
        for (_, ns) in all {
            ns.close().await;
        }
    }
}

/// A service's own database.
#[derive(Debug)]
pub struct Namespace {
    path: PathBuf,
    pool: SqlitePool,
    statement_timeout_ms: Arc<AtomicU64>,
}

impl Namespace {
    fn sqlite(path: PathBuf, statement_timeout: Duration) -> Namespace {
        let statement_timeout_ms = Arc::new(AtomicU64::new(0));
        let timeout = statement_timeout_ms.clone();
        let pool = SqlitePoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .min_connections(0)
            .idle_timeout(IDLE_TIMEOUT)
            .acquire_timeout(Duration::from_secs(5))
            .after_connect(move |conn, _| {
                let timeout = timeout.clone();
                Box::pin(async move {
                    sqlite::sandbox(conn, Role::Service).await?;
                    sqlite::limit_statement_time(conn, timeout).await
                })
            })
            .connect_lazy_with(sqlite::namespace_options(&path));
        let ns = Namespace {
            path,
            pool,
            statement_timeout_ms,
        };
        ns.set_statement_timeout(statement_timeout);
        ns
    }

    fn set_statement_timeout(&self, timeout: Duration) {
        let ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
        self.statement_timeout_ms.store(ms, Ordering::Relaxed);
    }

    pub fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub async fn query(
        &self,
        sql: &str,
        params: Vec<Value>,
        limits: ResultLimits,
    ) -> Result<Rows, Error> {
        let query = bind_sqlite(sqlx::query(AssertSqlSafe(sql)), params);
        read_sqlite_rows(query.fetch(&self.pool), limits).await
    }

    pub async fn execute(&self, sql: &str, params: Vec<Value>) -> Result<u64, Error> {
        let query = bind_sqlite(sqlx::query(AssertSqlSafe(sql)), params);
        let done = query.execute(&self.pool).await.map_err(guest_error)?;
        Ok(done.rows_affected())
    }

    /// Opens a transaction that takes the write lock up front, so that a
    /// read-then-write transaction cannot fail half-way on a lock upgrade.
    pub async fn begin(&self) -> Result<NamespaceTx, Error> {
        let tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(guest_error)?;
        Ok(NamespaceTx { tx })
    }

    /// A dedicated connection for the migrator, which may touch the
    /// namespace's bookkeeping tables.
    pub async fn migrator(&self) -> Result<SqliteConnection, sqlx::Error> {
        let mut conn =
            SqliteConnection::connect_with(&sqlite::namespace_options(&self.path)).await?;
        sqlite::sandbox(&mut conn, Role::Migrator).await?;
        Ok(conn)
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// An open transaction on a namespace; dropped means rolled back.
pub struct NamespaceTx {
    tx: sqlx::Transaction<'static, Sqlite>,
}

impl NamespaceTx {
    pub async fn query(
        &mut self,
        sql: &str,
        params: Vec<Value>,
        limits: ResultLimits,
    ) -> Result<Rows, Error> {
        let query = bind_sqlite(sqlx::query(AssertSqlSafe(sql)), params);
        read_sqlite_rows(query.fetch(&mut *self.tx), limits).await
    }

    pub async fn execute(&mut self, sql: &str, params: Vec<Value>) -> Result<u64, Error> {
        let query = bind_sqlite(sqlx::query(AssertSqlSafe(sql)), params);
        let done = query.execute(&mut *self.tx).await.map_err(guest_error)?;
        Ok(done.rows_affected())
    }

    pub async fn commit(self) -> Result<(), Error> {
        self.tx.commit().await.map_err(guest_error)
    }

    pub async fn rollback(self) -> Result<(), Error> {
        self.tx.rollback().await.map_err(guest_error)
    }
}
