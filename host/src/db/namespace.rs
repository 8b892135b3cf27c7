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

use sqlx::sqlite::{SqlitePool, SqlitePoolOptions};
use sqlx::{AssertSqlSafe, Connection as _, SqliteConnection};
use tokio::sync::OnceCell;

use super::errors::guest_error;
use super::postgres::{PgNamespace, PgTx, Provisioner};
use super::sqlite::{self, Bounds, Speaker, SqliteTx};
use super::values::{bind_sqlite, read_sqlite_rows};
use crate::bindings::berth::service::database::{Error, Rows, Value};
use crate::bindings::berth::service::types::Dialect;

/// The most one SQL text may be, in bytes.
pub const MAX_SQL_BYTES: usize = sqlite::MAX_SQL_BYTES as usize;
/// The most parameters one statement may bind (on either database).
pub const MAX_PARAMETERS: usize = sqlite::MAX_PARAMETERS as usize;

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

/// The limits of one namespace, from the deployment's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NamespaceLimits {
    pub statement_timeout: Duration,
    pub migration_timeout: Duration,
    /// Longest text or blob a statement may build.
    pub max_value_bytes: u64,
    /// Largest the namespace's data may grow.
    pub max_database_bytes: u64,
}

impl Default for NamespaceLimits {
    fn default() -> Self {
        NamespaceLimits {
            statement_timeout: Duration::from_secs(5),
            migration_timeout: Duration::from_secs(60),
            max_value_bytes: 16 << 20,
            max_database_bytes: 1 << 30,
        }
    }
}

/// The limits as the connections read them, changeable while they run.
#[derive(Debug, Default)]
struct LiveLimits {
    statement_timeout_ms: Arc<AtomicU64>,
    migration_timeout_ms: AtomicU64,
    max_value_bytes: AtomicU64,
    max_database_bytes: AtomicU64,
}

impl LiveLimits {
    fn new(limits: &NamespaceLimits) -> Arc<LiveLimits> {
        let live = Arc::new(LiveLimits::default());
        live.set(limits);
        live
    }

    /// Whether anything changed.
    fn set(&self, limits: &NamespaceLimits) -> bool {
        let old = self.get();
        self.statement_timeout_ms
            .store(millis(limits.statement_timeout), Ordering::Relaxed);
        self.migration_timeout_ms
            .store(millis(limits.migration_timeout), Ordering::Relaxed);
        self.max_value_bytes
            .store(limits.max_value_bytes, Ordering::Relaxed);
        self.max_database_bytes
            .store(limits.max_database_bytes, Ordering::Relaxed);
        old != *limits
    }

    fn get(&self) -> NamespaceLimits {
        NamespaceLimits {
            statement_timeout: Duration::from_millis(
                self.statement_timeout_ms.load(Ordering::Relaxed),
            ),
            migration_timeout: Duration::from_millis(
                self.migration_timeout_ms.load(Ordering::Relaxed),
            ),
            max_value_bytes: self.max_value_bytes.load(Ordering::Relaxed),
            max_database_bytes: self.max_database_bytes.load(Ordering::Relaxed),
        }
    }

    /// The bounds of a SQLite connection opened now, with `statement_ms`
    /// as its statement clock.
    fn sqlite_bounds(&self, statement_ms: Arc<AtomicU64>) -> Bounds {
        Bounds {
            max_value_bytes: self.max_value_bytes.load(Ordering::Relaxed),
            max_database_bytes: self.max_database_bytes.load(Ordering::Relaxed),
            statement_timeout_ms: statement_ms,
        }
    }
}

/// A namespace, once opened.
type NamespaceCell = Arc<OnceCell<Arc<Namespace>>>;

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
    /// One cell per tenant × service, filled once: opening one namespace
    /// (a database round trip on PostgreSQL) never waits for another.
    open: std::sync::Mutex<HashMap<(String, String), NamespaceCell>>,
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
            open: std::sync::Mutex::new(HashMap::new()),
        }
    }

    pub fn postgres(provisioner: Provisioner) -> Namespaces {
        Namespaces {
            store: Store::Postgres(Box::new(provisioner)),
            open: std::sync::Mutex::new(HashMap::new()),
        }
    }

    /// The namespace of `service` for `tenant` (created on first use),
    /// held to `limits`. Names are validated identifiers (see
    /// `registry::manifest`).
    pub async fn get(
        &self,
        tenant: &str,
        service: &str,
        limits: &NamespaceLimits,
    ) -> anyhow::Result<Arc<Namespace>> {
        let cell = self
            .open
            .lock()
            .expect("namespace map poisoned")
            .entry((tenant.to_string(), service.to_string()))
            .or_default()
            .clone();
        let mut created = false;
        let ns = cell
            .get_or_try_init(|| {
                created = true;
                self.open_namespace(tenant, service, limits)
            })
            .await?
            .clone();
        if !created {
            ns.set_limits(limits).await;
        }
        Ok(ns)
    }

    async fn open_namespace(
        &self,
        tenant: &str,
        service: &str,
        limits: &NamespaceLimits,
    ) -> anyhow::Result<Arc<Namespace>> {
        let live = LiveLimits::new(limits);
        let backend = match &self.store {
            Store::Sqlite { root } => {
                let dir = root.join(tenant);
                std::fs::create_dir_all(&dir)
                    .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
                let path = dir.join(format!("{service}.db"));
                Backend::Sqlite {
                    pool: sqlite_pool(&path, live.clone()),
                    wal: sqlite::WalWatch::new(&path),
                    path,
                }
            }
            Store::Postgres(provisioner) => Backend::Postgres(Box::new(
                provisioner.namespace(tenant, service, limits).await?,
            )),
        };
        Ok(Arc::new(Namespace {
            backend,
            limits: live,
        }))
    }

    pub async fn close(&self) {
        let all: Vec<_> = self
            .open
            .lock()
            .expect("namespace map poisoned")
            .drain()
            .collect();
        for (_, cell) in all {
            if let Some(ns) = cell.get() {
                ns.close().await;
            }
        }
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

fn sqlite_pool(path: &std::path::Path, limits: Arc<LiveLimits>) -> SqlitePool {
    SqlitePoolOptions::new()
        .max_connections(MAX_CONNECTIONS)
        .min_connections(0)
        .idle_timeout(IDLE_TIMEOUT)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        // A local file does not drop connections: skip the ping before each
        // use, a round trip to the connection's thread per statement.
        .test_before_acquire(false)
        .after_connect(move |conn, _| {
            let bounds = limits.sqlite_bounds(limits.statement_timeout_ms.clone());
            Box::pin(async move {
                sqlite::seal(conn, Speaker::Service, &bounds).await?;
                Ok(())
            })
        })
        .connect_lazy_with(sqlite::namespace_options(path))
}

enum Backend {
    Sqlite {
        path: PathBuf,
        pool: SqlitePool,
        wal: Arc<sqlite::WalWatch>,
    },
    Postgres(Box<PgNamespace>),
}

/// A service's own database.
pub struct Namespace {
    backend: Backend,
    limits: Arc<LiveLimits>,
}

impl std::fmt::Debug for Namespace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Namespace")
            .field("dialect", &self.dialect())
            .finish_non_exhaustive()
    }
}

impl Namespace {
    /// New limits (a redeploy with another configuration): open
    /// connections follow the statement clock at once, the size bounds on
    /// their next connection.
    async fn set_limits(&self, limits: &NamespaceLimits) {
        if self.limits.set(limits)
            && let Backend::Postgres(pg) = &self.backend
            && let Err(error) = pg.set_limits(limits).await
        {
            tracing::warn!(%error, "cannot change the limits of a namespace role");
        }
    }

    fn statement_timeout(&self) -> Duration {
        self.limits.get().statement_timeout
    }

    pub fn dialect(&self) -> Dialect {
        match self.backend {
            Backend::Sqlite { .. } => Dialect::Sqlite,
            Backend::Postgres(_) => Dialect::Postgres,
        }
    }

    /// Whether the namespace takes statements now (SQLite: its write-ahead
    /// log is within the quota).
    fn admit(&self) -> Result<(), Error> {
        match &self.backend {
            Backend::Sqlite { wal, .. } => wal.admit(self.limits.get().max_database_bytes),
            Backend::Postgres(_) => Ok(()),
        }
    }

    pub async fn query(
        &self,
        sql: &str,
        params: Vec<Value>,
        limits: ResultLimits,
    ) -> Result<Rows, Error> {
        self.admit()?;
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
        self.admit()?;
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
        self.admit()?;
        match &self.backend {
            Backend::Sqlite { pool, .. } => Ok(NamespaceTx::Sqlite(
                SqliteTx::begin(pool).await.map_err(guest_error)?,
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
                let timeout = self.limits.get().migration_timeout;
                let mut conn =
                    SqliteConnection::connect_with(&sqlite::namespace_options(path)).await?;
                let clock = Arc::new(AtomicU64::new(millis(timeout)));
                let guard = sqlite::seal(
                    &mut conn,
                    Speaker::Service,
                    &self.limits.sqlite_bounds(clock),
                )
                .await?;
                let applied = super::migrate::apply_sqlite(&mut conn, &guard, migrations).await;
                conn.close().await?;
                applied
            }
            Backend::Postgres(pg) => pg.migrate(migrations, &self.limits.get()).await,
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
    Sqlite(SqliteTx),
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
            NamespaceTx::Sqlite(tx) => tx.query(sql, params, limits).await,
            NamespaceTx::Postgres(tx) => tx.query(sql, params, limits).await,
        }
    }

    pub async fn execute(&mut self, sql: &str, params: Vec<Value>) -> Result<u64, Error> {
        match self {
            NamespaceTx::Sqlite(tx) => tx.execute(sql, params).await,
            NamespaceTx::Postgres(tx) => tx.execute(sql, params).await,
        }
    }

    pub async fn commit(self) -> Result<(), Error> {
        match self {
            NamespaceTx::Sqlite(tx) => tx.commit().await,
            NamespaceTx::Postgres(tx) => tx.commit().await,
        }
    }

    pub async fn rollback(self) -> Result<(), Error> {
        match self {
            NamespaceTx::Sqlite(tx) => tx.rollback().await,
            NamespaceTx::Postgres(tx) => tx.rollback().await,
        }
    }
}
