//! Namespaces on SQLite: a file per tenant × service under the data dir,
//! reached through a small pool of sealed connections (`mod.rs`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use futures_util::FutureExt as _;
use futures_util::future::BoxFuture;
use sqlx::sqlite::{SqlitePool, SqlitePoolOptions};
use sqlx::{AssertSqlSafe, Connection as _, SqliteConnection};

use super::values::{bind_sqlite, read_sqlite_rows};
use super::{Bounds, Speaker, SqliteTx, WalWatch, namespace_options, seal};
use crate::bindings::berth::service::database::{Error, Rows, Value};
use crate::bindings::{Dialect, Migration};
use crate::capabilities::database::backend::{
    ACQUIRE_TIMEOUT, Backend, BackendTx, Held, IDLE_TIMEOUT, MAX_CONNECTIONS, ResultLimits, Store,
};
use crate::capabilities::database::errors::guest_error;
use crate::capabilities::database::limits::{LiveLimits, NamespaceLimits, millis};
use crate::capabilities::database::migrate::{MigrationError, apply_sqlite};

/// Files under `root/<tenant>/<service>.db`.
#[derive(Debug)]
pub struct SqliteStore {
    root: PathBuf,
}

impl SqliteStore {
    pub fn new(root: impl Into<PathBuf>) -> SqliteStore {
        SqliteStore { root: root.into() }
    }
}

impl Store for SqliteStore {
    fn open<'a>(
        &'a self,
        tenant: &'a str,
        service: &'a str,
        limits: Arc<LiveLimits>,
    ) -> BoxFuture<'a, anyhow::Result<Box<dyn Backend>>> {
        async move {
            let dir = self.root.join(tenant);
            std::fs::create_dir_all(&dir)
                .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
            let path = dir.join(format!("{service}.db"));
            Ok(Box::new(SqliteNamespace {
                pool: pool(&path, limits.clone()),
                wal: WalWatch::new(&path),
                path,
                limits,
            }) as Box<dyn Backend>)
        }
        .boxed()
    }
}

/// The bounds of a connection opened now, with `clock` as its statement
/// clock.
fn bounds(limits: &LiveLimits, clock: Arc<AtomicU64>) -> Bounds {
    let now = limits.get();
    Bounds {
        max_value_bytes: now.max_value_bytes,
        max_database_bytes: now.max_database_bytes,
        statement_timeout_ms: clock,
    }
}

fn pool(path: &Path, limits: Arc<LiveLimits>) -> SqlitePool {
    SqlitePoolOptions::new()
        .max_connections(MAX_CONNECTIONS)
        .min_connections(0)
        .idle_timeout(IDLE_TIMEOUT)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        // A local file does not drop connections: skip the ping before each
        // use, a round trip to the connection's thread per statement.
        .test_before_acquire(false)
        .after_connect(move |conn, _| {
            let bounds = bounds(&limits, limits.statement_timeout_ms.clone());
            Box::pin(async move {
                seal(conn, Speaker::Service, &bounds).await?;
                Ok(())
            })
        })
        .connect_lazy_with(namespace_options(path))
}

struct SqliteNamespace {
    path: PathBuf,
    pool: SqlitePool,
    wal: Arc<WalWatch>,
    limits: Arc<LiveLimits>,
}

impl SqliteNamespace {
    /// Whether statements run now: the write-ahead log is within the quota.
    fn admit(&self) -> Result<(), Error> {
        self.wal.admit(self.limits.get().max_database_bytes)
    }
}

impl Backend for SqliteNamespace {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn query<'a>(
        &'a self,
        _: &'a mut Held,
        sql: &'a str,
        params: Vec<Value>,
        limits: ResultLimits,
    ) -> BoxFuture<'a, Result<Rows, Error>> {
        async move {
            self.admit()?;
            let query = bind_sqlite(sqlx::query(AssertSqlSafe(sql)), params);
            read_sqlite_rows(query.fetch(&self.pool), limits).await
        }
        .boxed()
    }

    fn execute<'a>(
        &'a self,
        _: &'a mut Held,
        sql: &'a str,
        params: Vec<Value>,
    ) -> BoxFuture<'a, Result<u64, Error>> {
        async move {
            self.admit()?;
            let query = bind_sqlite(sqlx::query(AssertSqlSafe(sql)), params);
            Ok(query
                .execute(&self.pool)
                .await
                .map_err(guest_error)?
                .rows_affected())
        }
        .boxed()
    }

    fn begin<'a>(&'a self, _: &'a mut Held) -> BoxFuture<'a, Result<Box<dyn BackendTx>, Error>> {
        async move {
            self.admit()?;
            let tx = SqliteTx::begin(&self.pool).await.map_err(guest_error)?;
            Ok(Box::new(tx) as Box<dyn BackendTx>)
        }
        .boxed()
    }

    /// On a connection of their own, under the service's rules and a
    /// statement clock of the migration timeout.
    fn migrate<'a>(
        &'a self,
        migrations: &'a [Migration],
    ) -> BoxFuture<'a, Result<Vec<u32>, MigrationError>> {
        async move {
            let timeout = self.limits.get().migration_timeout;
            let mut conn = SqliteConnection::connect_with(&namespace_options(&self.path)).await?;
            let clock = Arc::new(AtomicU64::new(millis(timeout)));
            let guard = seal(&mut conn, Speaker::Service, &bounds(&self.limits, clock)).await?;
            let applied = apply_sqlite(&mut conn, &guard, migrations).await;
            conn.close().await?;
            applied
        }
        .boxed()
    }

    /// Connections read the statement clock as it changes, and their size
    /// bounds when they open.
    fn limits_changed<'a>(&'a self, _: &'a NamespaceLimits) -> BoxFuture<'a, ()> {
        async {}.boxed()
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        self.pool.close().boxed()
    }
}
