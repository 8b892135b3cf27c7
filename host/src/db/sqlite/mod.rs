//! SQLite connections: tuning shared by the host and the namespaces, and the
//! sandbox put on every namespace connection so that whatever SQL a service
//! sends, it reaches only its own database file.

use std::ffi::{CStr, c_char, c_int, c_uint, c_void};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use libsqlite3_sys as ffi;
use sqlx::SqliteConnection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};

/// WAL, a busy timeout, foreign keys, temporary data in memory.
pub fn tune(options: SqliteConnectOptions) -> SqliteConnectOptions {
    options
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(Duration::from_secs(5))
        .foreign_keys(true)
        .pragma("temp_store", "memory")
}

pub fn namespace_options(path: &Path) -> SqliteConnectOptions {
    tune(SqliteConnectOptions::new().filename(path))
}

/// Who is speaking on a sandboxed connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The service itself: its bookkeeping tables are out of reach.
    Service,
    /// The host applying the service's migrations and recording them.
    Migrator,
}

static SERVICE: Role = Role::Service;
static MIGRATOR: Role = Role::Migrator;

/// Tables the host keeps inside a namespace for itself.
pub const INTERNAL_PREFIX: &str = "_berth_";

/// Seals a connection: no ATTACH (so no other file can be named), defensive
/// mode (no writes to the schema table or other corruption paths), no
/// untrusted schema functions, no extension loading, and an authorizer that
/// refuses pragmas beyond read-only introspection.
pub async fn sandbox(conn: &mut SqliteConnection, role: Role) -> Result<(), sqlx::Error> {
    let mut handle = conn.lock_handle().await?;
    let db = handle.as_raw_handle().as_ptr();
    let role: &'static Role = match role {
        Role::Service => &SERVICE,
        Role::Migrator => &MIGRATOR,
    };
    // SAFETY: `db` is a live connection handle we hold the lock of; the
    // authorizer's user data points to a `static`, valid for the connection's
    // whole life.
    let ok = unsafe {
        ffi::sqlite3_limit(db, ffi::SQLITE_LIMIT_ATTACHED, 0);
        ffi::sqlite3_db_config(
            db,
            ffi::SQLITE_DBCONFIG_DEFENSIVE,
            1,
            std::ptr::null_mut::<c_int>(),
        ) == ffi::SQLITE_OK
            && ffi::sqlite3_db_config(
                db,
                ffi::SQLITE_DBCONFIG_TRUSTED_SCHEMA,
                0,
                std::ptr::null_mut::<c_int>(),
            ) == ffi::SQLITE_OK
            && ffi::sqlite3_db_config(
                db,
                ffi::SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION,
                0,
                std::ptr::null_mut::<c_int>(),
            ) == ffi::SQLITE_OK
            && ffi::sqlite3_set_authorizer(db, Some(authorize), role as *const Role as *mut c_void)
                == ffi::SQLITE_OK
    };
    if ok {
        Ok(())
    } else {
        Err(sqlx::Error::Configuration(
            "cannot apply the SQLite sandbox to a connection".into(),
        ))
    }
}

/// Pragmas a service may use: introspection of its own schema, and its own
/// file's `user_version`. Everything that changes how the connection or the
/// file behaves is refused.
const READABLE_PRAGMAS: &[&str] = &[
    "table_info",
    "table_xinfo",
    "table_list",
    "index_list",
    "index_info",
    "index_xinfo",
    "foreign_key_list",
    "foreign_key_check",
    "integrity_check",
    "quick_check",
    "user_version",
    "data_version",
];

fn text<'a>(ptr: *const c_char) -> Option<&'a str> {
    // SAFETY: SQLite passes NUL-terminated strings or null.
    (!ptr.is_null())
        .then(|| unsafe { CStr::from_ptr(ptr) }.to_str().ok())
        .flatten()
}

unsafe extern "C" fn authorize(
    user: *mut c_void,
    action: c_int,
    arg1: *const c_char,
    arg2: *const c_char,
    _database: *const c_char,
    _trigger: *const c_char,
) -> c_int {
    // SAFETY: `user` is the `&'static Role` given in `sandbox`.
    let role = unsafe { *(user as *const Role) };
    let allowed = match action {
        ffi::SQLITE_ATTACH | ffi::SQLITE_DETACH => false,
        ffi::SQLITE_PRAGMA => {
            role == Role::Migrator
                || text(arg1)
                    .is_some_and(|p| READABLE_PRAGMAS.contains(&p.to_ascii_lowercase().as_str()))
        }
        ffi::SQLITE_FUNCTION => {
            !text(arg2).is_some_and(|f| f.eq_ignore_ascii_case("load_extension"))
        }
        ffi::SQLITE_READ
        | ffi::SQLITE_INSERT
        | ffi::SQLITE_UPDATE
        | ffi::SQLITE_DELETE
        | ffi::SQLITE_CREATE_TABLE
        | ffi::SQLITE_DROP_TABLE
        | ffi::SQLITE_ALTER_TABLE => role == Role::Migrator || !text(arg1).is_some_and(is_internal),
        // arg1 names the index or trigger, arg2 the table it is on.
        ffi::SQLITE_CREATE_INDEX | ffi::SQLITE_CREATE_TRIGGER => {
            role == Role::Migrator || !text(arg2).is_some_and(is_internal)
        }
        _ => true,
    };
    if allowed {
        ffi::SQLITE_OK
    } else {
        ffi::SQLITE_DENY
    }
}

fn is_internal(table: &str) -> bool {
    table.len() >= INTERNAL_PREFIX.len()
        && table[..INTERNAL_PREFIX.len()].eq_ignore_ascii_case(INTERNAL_PREFIX)
}

/// Per-connection state of the statement clock.
struct StatementClock {
    /// When the running statement started, in ns since `EPOCH`.
    started: AtomicU64,
    /// How long a statement may run, in ms; shared with the namespace so
    /// that a redeploy with other limits applies to open connections.
    timeout_ms: Arc<AtomicU64>,
}

fn now_ns() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    u64::try_from(EPOCH.get_or_init(Instant::now).elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// Interrupts any statement that runs longer than `timeout_ms` (a recursive
/// CTE that never ends, say): SQLite reports `SQLITE_INTERRUPT` and the
/// connection is free again. A statement start is seen through the trace
/// hook, elapsed time is checked from the progress handler.
pub async fn limit_statement_time(
    conn: &mut SqliteConnection,
    timeout_ms: Arc<AtomicU64>,
) -> Result<(), sqlx::Error> {
    let mut handle = conn.lock_handle().await?;
    let db = handle.as_raw_handle().as_ptr();
    let clock = Box::into_raw(Box::new(StatementClock {
        started: AtomicU64::new(now_ns()),
        timeout_ms,
    }));
    // SAFETY: `db` is live and locked. `clock` stays valid until SQLite
    // reports the connection closing (SQLITE_TRACE_CLOSE), when `trace` frees
    // it; no callback runs after that.
    unsafe {
        ffi::sqlite3_trace_v2(
            db,
            (ffi::SQLITE_TRACE_STMT | ffi::SQLITE_TRACE_CLOSE) as c_uint,
            Some(trace),
            clock.cast(),
        );
        ffi::sqlite3_progress_handler(db, 10_000, Some(progress), clock.cast());
    }
    Ok(())
}

unsafe extern "C" fn trace(
    mask: c_uint,
    context: *mut c_void,
    _p: *mut c_void,
    _x: *mut c_void,
) -> c_int {
    let clock = context.cast::<StatementClock>();
    if mask == ffi::SQLITE_TRACE_STMT as c_uint {
        // SAFETY: valid until the close event below.
        unsafe { (*clock).started.store(now_ns(), Ordering::Relaxed) };
    } else if mask == ffi::SQLITE_TRACE_CLOSE as c_uint {
        // SAFETY: created by `Box::into_raw` in `limit_statement_time`;
        // the connection is closing, so no callback will use it again.
        drop(unsafe { Box::from_raw(clock) });
    }
    0
}

unsafe extern "C" fn progress(context: *mut c_void) -> c_int {
    // SAFETY: valid while the connection is open.
    let clock = unsafe { &*context.cast::<StatementClock>() };
    let elapsed = now_ns().saturating_sub(clock.started.load(Ordering::Relaxed));
    let limit = clock
        .timeout_ms
        .load(Ordering::Relaxed)
        .saturating_mul(1_000_000);
    c_int::from(elapsed > limit)
}
