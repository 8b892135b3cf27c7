//! SQLite connections: tuning shared by the host and the namespaces, and the
//! sandbox sealed onto every namespace connection so that whatever SQL a
//! service sends, it reaches only its own database file, calls only reviewed
//! functions, and stays within size, time and disk bounds.

mod allowlist;
mod authorizer;
mod guard;
mod namespace;
mod tx;
pub(crate) mod values;
mod wal;

use std::ffi::c_int;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use libsqlite3_sys as ffi;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{AssertSqlSafe, SqliteConnection};

#[cfg(test)]
use allowlist::{ALLOWED_FUNCTIONS, ALLOWED_MODULES, DENIED_FUNCTIONS};
pub use authorizer::Speaker;
pub use guard::{Guard, host_tx_prelude};
pub use namespace::SqliteStore;
pub use tx::SqliteTx;
pub use wal::WalWatch;

/// A namespace's connections: temporary data (sorts, temporary b-trees)
/// spills to files beyond the page cache rather than growing the host's
/// memory, and the write-ahead log is truncated back after checkpoints.
pub fn namespace_options(path: &Path) -> SqliteConnectOptions {
    crate::db::host::tune(SqliteConnectOptions::new().filename(path))
        .pragma("temp_store", "file")
        .pragma("cache_size", "-2000")
        .pragma("journal_size_limit", (16u64 << 20).to_string())
}

/// The most one SQL text may be, in bytes (a migration's script included).
const MAX_SQL_BYTES: i32 = super::backend::MAX_SQL_BYTES as i32;
/// The most parameters one statement may bind.
const MAX_PARAMETERS: i32 = super::backend::MAX_PARAMETERS as i32;

/// The size bounds of one namespace's connections.
#[derive(Debug, Clone)]
pub struct Bounds {
    /// Longest text or blob SQLite may build, in bytes.
    pub max_value_bytes: u64,
    /// Largest the database file may grow, in bytes.
    pub max_database_bytes: u64,
    /// How long one statement may run, in ms (shared, so that a redeploy
    /// with other limits applies to open connections).
    pub statement_timeout_ms: Arc<AtomicU64>,
}

/// Seals a namespace connection: no ATTACH (so no other file can be named),
/// defensive mode (no writes to the schema table or other corruption paths),
/// no untrusted schema functions, no extension loading, size limits, a disk
/// quota, a statement clock, and the authorizer of `authorizer.rs`. Returns
/// the guard through which the host switches who is speaking.
pub async fn seal(
    conn: &mut SqliteConnection,
    speaker: Speaker,
    bounds: &Bounds,
) -> Result<Arc<Guard>, sqlx::Error> {
    // Pragmas first: once the authorizer is on, they are refused.
    let page_size: i64 = sqlx::query_scalar("PRAGMA page_size")
        .fetch_one(&mut *conn)
        .await?;
    let pages = (bounds.max_database_bytes / page_size.max(512) as u64).max(1);
    sqlx::query(AssertSqlSafe(format!("PRAGMA max_page_count = {pages}")))
        .execute(&mut *conn)
        .await?;
    let guard = Guard::new(speaker, bounds.statement_timeout_ms.clone());
    let value_bytes =
        c_int::try_from(bounds.max_value_bytes.clamp(1 << 16, 1 << 30)).unwrap_or(c_int::MAX);
    let mut handle = conn.lock_handle().await?;
    let db = handle.as_raw_handle().as_ptr();
    // SAFETY: `db` is a live connection handle whose lock we hold.
    let ok = unsafe {
        for (limit, value) in [
            (ffi::SQLITE_LIMIT_ATTACHED, 0),
            (ffi::SQLITE_LIMIT_LENGTH, value_bytes),
            (ffi::SQLITE_LIMIT_SQL_LENGTH, MAX_SQL_BYTES),
            (ffi::SQLITE_LIMIT_COLUMN, 1000),
            (ffi::SQLITE_LIMIT_EXPR_DEPTH, 500),
            (ffi::SQLITE_LIMIT_COMPOUND_SELECT, 200),
            (ffi::SQLITE_LIMIT_VDBE_OP, 1_000_000),
            (ffi::SQLITE_LIMIT_FUNCTION_ARG, 127),
            // A LIKE or GLOB runs as one step, which the statement clock
            // cannot interrupt; its cost is the value's length times this.
            (ffi::SQLITE_LIMIT_LIKE_PATTERN_LENGTH, 100),
            (ffi::SQLITE_LIMIT_VARIABLE_NUMBER, MAX_PARAMETERS),
            (ffi::SQLITE_LIMIT_TRIGGER_DEPTH, 16),
            (ffi::SQLITE_LIMIT_WORKER_THREADS, 0),
        ] {
            ffi::sqlite3_limit(db, limit, value);
        }
        let config = |option: c_int, value: c_int| {
            ffi::sqlite3_db_config(db, option, value, std::ptr::null_mut::<c_int>())
                == ffi::SQLITE_OK
        };
        config(ffi::SQLITE_DBCONFIG_DEFENSIVE, 1)
            && config(ffi::SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0)
            && config(ffi::SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0)
            && guard::install(db, &guard)
    };
    if ok {
        Ok(guard)
    } else {
        Err(sqlx::Error::Configuration(
            "cannot apply the SQLite sandbox to a connection".into(),
        ))
    }
}

/// Bounds the memory all SQLite connections of the process may use
/// together: sorting, temporary tables and caches of a runaway statement
/// fail with "out of memory" instead of growing the host.
pub fn limit_heap(bytes: u64) {
    let bytes = i64::try_from(bytes).unwrap_or(i64::MAX);
    // SAFETY: a plain setter, safe to call at any time.
    unsafe {
        ffi::sqlite3_hard_heap_limit64(bytes);
    }
}

#[cfg(test)]
mod tests;
