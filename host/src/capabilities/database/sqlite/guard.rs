//! The state SQLite's callbacks share on one sandboxed connection: who is
//! speaking (the service, or the host doing its bookkeeping), whether the
//! host has just opened the door for one transaction statement, and the
//! statement clock. It lives as long as the connection: SQLite reports the
//! close (`SQLITE_TRACE_CLOSE`), and the last reference is released then.

use std::ffi::{CStr, c_char, c_int, c_uint, c_void};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use libsqlite3_sys as ffi;

use super::authorizer::{self, Speaker};

/// The SQL function through which the host (and only the host, which knows
/// the per-process secret) allows the next transaction statement.
pub const HOST_TX_FUNCTION: &str = "berth_tx";

/// A per-process secret, never shown to a service.
fn secret() -> &'static str {
    static SECRET: OnceLock<String> = OnceLock::new();
    SECRET.get_or_init(|| {
        format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        )
    })
}

/// The statement the host runs right before its own `BEGIN`, `COMMIT` or
/// `ROLLBACK` on a service connection.
pub fn host_tx_prelude() -> String {
    format!("SELECT {HOST_TX_FUNCTION}('{}')", secret())
}

/// Shared by the callbacks of one connection and by the host code that
/// drives it.
#[derive(Debug)]
pub struct Guard {
    speaker: AtomicU8,
    /// Set by the host right before one transaction statement; the next
    /// authorizer call consumes it, whatever it is for.
    transaction_allowed: AtomicBool,
    /// When the running statement started, in ns since `EPOCH`.
    started: AtomicU64,
    /// How long a statement may run, in ms; shared with the namespace so
    /// that a redeploy with other limits applies to open connections.
    timeout_ms: Arc<AtomicU64>,
}

impl Guard {
    pub fn new(speaker: Speaker, timeout_ms: Arc<AtomicU64>) -> Arc<Guard> {
        Arc::new(Guard {
            speaker: AtomicU8::new(speaker as u8),
            transaction_allowed: AtomicBool::new(false),
            started: AtomicU64::new(now_ns()),
            timeout_ms,
        })
    }

    pub fn speaker(&self) -> Speaker {
        Speaker::from_u8(self.speaker.load(Ordering::Acquire))
    }

    /// Who speaks next on this connection (the migrator switches between
    /// the service's migration SQL and its own bookkeeping).
    pub fn set_speaker(&self, speaker: Speaker) {
        self.speaker.store(speaker as u8, Ordering::Release);
    }

    /// Lets the next statement be a transaction statement.
    pub fn allow_next_transaction_statement(&self) {
        self.transaction_allowed.store(true, Ordering::Release);
    }

    fn take_transaction_allowed(&self) -> bool {
        self.transaction_allowed.swap(false, Ordering::AcqRel)
    }
}

fn now_ns() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    u64::try_from(EPOCH.get_or_init(Instant::now).elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// Installs the authorizer, the statement clock and the host's transaction
/// function on `db`, all sharing `guard`.
///
/// # Safety
/// `db` must be a live connection handle that the caller has exclusive use
/// of for the duration of the call.
pub unsafe fn install(db: *mut ffi::sqlite3, guard: &Arc<Guard>) -> bool {
    // One strong reference for SQLite, released at SQLITE_TRACE_CLOSE.
    let context = Arc::into_raw(guard.clone()) as *mut c_void;
    let name = c"berth_tx";
    debug_assert_eq!(name.to_str(), Ok(HOST_TX_FUNCTION));
    // SAFETY: `db` is live and ours; `context` stays valid until the close
    // event, after which SQLite makes no more callbacks.
    unsafe {
        ffi::sqlite3_set_authorizer(db, Some(authorize), context) == ffi::SQLITE_OK
            && ffi::sqlite3_create_function_v2(
                db,
                name.as_ptr(),
                1,
                ffi::SQLITE_UTF8 | ffi::SQLITE_DIRECTONLY,
                context,
                Some(host_tx),
                None,
                None,
                None,
            ) == ffi::SQLITE_OK
            && ffi::sqlite3_trace_v2(
                db,
                (ffi::SQLITE_TRACE_STMT | ffi::SQLITE_TRACE_CLOSE) as c_uint,
                Some(trace),
                context,
            ) == ffi::SQLITE_OK
            && {
                ffi::sqlite3_progress_handler(db, 10_000, Some(progress), context);
                true
            }
    }
}

fn text<'a>(ptr: *const c_char) -> Option<&'a str> {
    // SAFETY: SQLite passes NUL-terminated strings or null.
    (!ptr.is_null())
        .then(|| unsafe { CStr::from_ptr(ptr) }.to_str().ok())
        .flatten()
}

/// # Safety
/// Called by SQLite with the `context` given in `install`.
unsafe fn guard<'a>(context: *mut c_void) -> &'a Guard {
    // SAFETY: valid until SQLITE_TRACE_CLOSE (see `install`).
    unsafe { &*context.cast::<Guard>() }
}

unsafe extern "C" fn authorize(
    context: *mut c_void,
    action: c_int,
    arg1: *const c_char,
    arg2: *const c_char,
    _database: *const c_char,
    _trigger: *const c_char,
) -> c_int {
    // SAFETY: see `install`.
    let guard = unsafe { guard(context) };
    let request = authorizer::Request {
        speaker: guard.speaker(),
        action,
        arg1: text(arg1),
        arg2: text(arg2),
        transaction_allowed: guard.take_transaction_allowed(),
    };
    if authorizer::allows(&request) {
        ffi::SQLITE_OK
    } else {
        ffi::SQLITE_DENY
    }
}

/// `berth_tx(secret)`: allows the next transaction statement when the
/// secret is right, fails the statement otherwise.
unsafe extern "C" fn host_tx(
    context: *mut ffi::sqlite3_context,
    argc: c_int,
    argv: *mut *mut ffi::sqlite3_value,
) {
    // SAFETY: SQLite passes `argc` values and the user data of `install`.
    unsafe {
        let guard = guard(ffi::sqlite3_user_data(context));
        let given = if argc == 1 {
            text(ffi::sqlite3_value_text(*argv).cast())
        } else {
            None
        };
        let right = given.is_some_and(|given| {
            subtle::ConstantTimeEq::ct_eq(given.as_bytes(), secret().as_bytes()).into()
        });
        if right {
            guard.allow_next_transaction_statement();
            ffi::sqlite3_result_null(context);
        } else {
            let message = c"not authorized";
            ffi::sqlite3_result_error(context, message.as_ptr(), -1);
        }
    }
}

/// Whether a statement starting now is one the service sent, rather than a
/// trigger program (reported as `-- TRIGGER …`) or a statement a virtual
/// table runs inside another (FTS and R*Tree do): only the outermost one
/// restarts the clock, or the clock could be restarted for ever.
///
/// # Safety
/// `stmt` is the statement SQLite reports; `sql` its text or null.
unsafe fn is_outermost(stmt: *mut ffi::sqlite3_stmt, sql: *const c_char) -> bool {
    if text(sql).is_none_or(|sql| sql.starts_with("--")) {
        return false;
    }
    // SAFETY: SQLite hands a live statement of a live connection, and the
    // connection's statement list is only walked on its own thread.
    unsafe {
        let db = ffi::sqlite3_db_handle(stmt);
        let mut other = ffi::sqlite3_next_stmt(db, std::ptr::null_mut());
        while !other.is_null() {
            if other != stmt && ffi::sqlite3_stmt_busy(other) != 0 {
                return false;
            }
            other = ffi::sqlite3_next_stmt(db, other);
        }
    }
    true
}

unsafe extern "C" fn trace(
    mask: c_uint,
    context: *mut c_void,
    p: *mut c_void,
    x: *mut c_void,
) -> c_int {
    if mask == ffi::SQLITE_TRACE_STMT as c_uint {
        // SAFETY: for SQLITE_TRACE_STMT, `p` is the statement and `x` its
        // text (see sqlite3_trace_v2); `context` is valid until the close
        // event below.
        unsafe {
            if is_outermost(p.cast(), x.cast()) {
                guard(context).started.store(now_ns(), Ordering::Relaxed);
            }
        }
    } else if mask == ffi::SQLITE_TRACE_CLOSE as c_uint {
        // SAFETY: the reference handed over by `Arc::into_raw` in
        // `install`; the connection is closing, so no callback uses it again.
        drop(unsafe { Arc::from_raw(context.cast::<Guard>().cast_const()) });
    }
    0
}

/// Interrupts any statement that runs longer than its timeout (a recursive
/// CTE that never ends, say): SQLite reports `SQLITE_INTERRUPT` and the
/// connection is free again.
unsafe extern "C" fn progress(context: *mut c_void) -> c_int {
    // SAFETY: valid while the connection is open.
    let guard = unsafe { guard(context) };
    let elapsed = now_ns().saturating_sub(guard.started.load(Ordering::Relaxed));
    let limit = guard
        .timeout_ms
        .load(Ordering::Relaxed)
        .saturating_mul(1_000_000);
    c_int::from(elapsed > limit)
}
