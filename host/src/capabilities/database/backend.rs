//! What a database behind the capability does, whichever it is: SQLite
//! (`sqlite/`) or PostgreSQL (`postgres/`). A [`Store`] opens the namespace
//! of a tenant × service; a [`Backend`] runs the service's statements in
//! it; a [`BackendTx`] is one open transaction.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;

use super::limits::{LiveLimits, NamespaceLimits};
use super::migrate::MigrationError;
use crate::bindings::berth::service::database::{Error, Rows, Value};
use crate::bindings::{Dialect, Migration};

/// The most one SQL text may be, in bytes.
pub const MAX_SQL_BYTES: usize = 1 << 20;
/// The most parameters one statement may bind (on either database).
pub const MAX_PARAMETERS: usize = 10_000;
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

/// The rows of one query as they are read, refused (not truncated) as
/// soon as they pass the [`ResultLimits`]: the caller then stops reading.
pub struct RowCollector {
    limits: ResultLimits,
    rows: Rows,
    bytes: u64,
}

impl RowCollector {
    pub fn new(limits: ResultLimits) -> RowCollector {
        RowCollector {
            limits,
            rows: Rows {
                columns: Vec::new(),
                rows: Vec::new(),
            },
            bytes: 0,
        }
    }

    /// The column names, once: whether they were still unknown.
    pub fn first_row(&mut self, columns: impl FnOnce() -> Vec<String>) -> bool {
        let first = self.rows.rows.is_empty() && self.rows.columns.is_empty();
        if first {
            self.rows.columns = columns();
        }
        first
    }

    pub fn columns(&self) -> usize {
        self.rows.columns.len()
    }

    /// Whether one more row may be read: checked before decoding it.
    pub fn room(&self) -> Result<(), Error> {
        if self.rows.rows.len() as u64 >= self.limits.max_rows {
            return Err(Error::LimitExceeded(format!(
                "a query may return at most {} rows",
                self.limits.max_rows
            )));
        }
        Ok(())
    }

    /// Adds a decoded row, counting its bytes.
    pub fn push(&mut self, values: Vec<Value>) -> Result<(), Error> {
        self.bytes += values.iter().map(size_of_value).sum::<u64>();
        if self.bytes > self.limits.max_bytes {
            return Err(Error::LimitExceeded(format!(
                "a query may return at most {} bytes",
                self.limits.max_bytes
            )));
        }
        self.rows.rows.push(values);
        Ok(())
    }

    pub fn finish(self) -> Rows {
        self.rows
    }
}

/// What a value counts for against the byte limit.
fn size_of_value(value: &Value) -> u64 {
    match value {
        Value::Text(t) => t.len() as u64 + 8,
        Value::Blob(b) => b.len() as u64 + 8,
        _ => 8,
    }
}

/// Where namespaces live: opens (and creates) one.
pub trait Store: Send + Sync {
    fn open<'a>(
        &'a self,
        tenant: &'a str,
        service: &'a str,
        limits: Arc<LiveLimits>,
    ) -> BoxFuture<'a, anyhow::Result<Box<dyn Backend>>>;
}

/// What one request holds of its namespace between statements: on
/// PostgreSQL the connection its first statement took, which serves all
/// its statements and goes back to the pool (and its check) when the
/// request ends, not after each statement.
#[derive(Default)]
pub enum Held {
    #[default]
    Nothing,
    Postgres(sqlx::pool::PoolConnection<sqlx::Postgres>),
}

impl Held {
    /// Gives back what is held, now.
    pub fn release(&mut self) {
        *self = Held::Nothing;
    }
}

/// One namespace's database.
pub trait Backend: Send + Sync {
    fn dialect(&self) -> Dialect;

    /// Runs a statement that returns rows, on what the request holds.
    fn query<'a>(
        &'a self,
        held: &'a mut Held,
        sql: &'a str,
        params: Vec<Value>,
        limits: ResultLimits,
    ) -> BoxFuture<'a, Result<Rows, Error>>;

    /// Runs a statement; the rows it changed.
    fn execute<'a>(
        &'a self,
        held: &'a mut Held,
        sql: &'a str,
        params: Vec<Value>,
    ) -> BoxFuture<'a, Result<u64, Error>>;

    /// Opens a transaction (on the connection the request holds, which
    /// it then holds no more).
    fn begin<'a>(&'a self, held: &'a mut Held) -> BoxFuture<'a, Result<Box<dyn BackendTx>, Error>>;

    /// Applies the migrations not applied yet.
    fn migrate<'a>(
        &'a self,
        migrations: &'a [Migration],
    ) -> BoxFuture<'a, Result<Vec<u32>, MigrationError>>;

    /// The limits changed (a redeploy): what the database itself holds of
    /// them follows.
    fn limits_changed<'a>(&'a self, limits: &'a NamespaceLimits) -> BoxFuture<'a, ()>;

    fn close(&self) -> BoxFuture<'_, ()>;
}

/// An open transaction; dropped, it is rolled back.
pub trait BackendTx: Send {
    fn query<'a>(
        &'a mut self,
        sql: &'a str,
        params: Vec<Value>,
        limits: ResultLimits,
    ) -> BoxFuture<'a, Result<Rows, Error>>;

    fn execute<'a>(
        &'a mut self,
        sql: &'a str,
        params: Vec<Value>,
    ) -> BoxFuture<'a, Result<u64, Error>>;

    fn commit(self: Box<Self>) -> BoxFuture<'static, Result<(), Error>>;

    fn rollback(self: Box<Self>) -> BoxFuture<'static, Result<(), Error>>;
}
