//! Database failures as the guest sees them: constraint violation vs not
//! permitted vs unavailable vs a bad query. The database's message is passed
//! on (it names the service's own tables only); connection details are not.

use sqlx::error::ErrorKind;

use crate::bindings::berth::service::database::Error;

pub fn guest_error(error: sqlx::Error) -> Error {
    match error {
        sqlx::Error::Database(db) => {
            let message = db.message().to_string();
            match db.kind() {
                ErrorKind::UniqueViolation
                | ErrorKind::ForeignKeyViolation
                | ErrorKind::NotNullViolation
                | ErrorKind::CheckViolation => Error::ConstraintViolation(message),
                _ => classify_code(db.code().as_deref(), message),
            }
        }
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => {
            Error::Unavailable("no database connection became available in time".into())
        }
        sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::Protocol(_) => {
            Error::Unavailable("the database connection failed".into())
        }
        sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => {
            Error::Other(format!("a value could not be read: {error}"))
        }
        sqlx::Error::Encode(_) => {
            Error::InvalidQuery(format!("a parameter could not be bound: {error}"))
        }
        other => Error::Other(other.to_string()),
    }
}

/// Sorts by SQLite primary result code or PostgreSQL SQLSTATE.
fn classify_code(code: Option<&str>, message: String) -> Error {
    match code {
        // SQLite: SQLITE_AUTH (the sandbox's authorizer said no).
        Some("23") => Error::NotPermitted(not_authorized(message)),
        // SQLite: SQLITE_INTERRUPT, from the statement clock.
        Some("9") => Error::LimitExceeded(format!(
            "the statement ran too long and was interrupted ({message})"
        )),
        // SQLite: SQLITE_BUSY, SQLITE_LOCKED (and their extended codes).
        Some(c) if is_sqlite_code(c, &[5, 6]) => Error::Unavailable(message),
        // SQLite: SQLITE_FULL, the namespace's size quota (max_page_count).
        Some(c) if is_sqlite_code(c, &[13]) => Error::LimitExceeded(format!(
            "the namespace is full: it reached its size quota (limits.max_database_mb); \
             delete data to write again ({message})"
        )),
        // SQLite: SQLITE_TOOBIG (a value or statement past the sandbox's
        // size limits), SQLITE_NOMEM (the process-wide SQLite heap limit).
        Some(c) if is_sqlite_code(c, &[18, 7]) => Error::LimitExceeded(message),
        // SQLite: SQLITE_IOERR, SQLITE_CANTOPEN.
        Some(c) if is_sqlite_code(c, &[10, 14]) => Error::Unavailable(message),
        // The authorizer's refusals do not all carry SQLITE_AUTH.
        _ if message.contains("too many attached databases")
            || message.starts_with("not authorized")
            || message.contains("is prohibited") =>
        {
            Error::NotPermitted(not_authorized(message))
        }
        // PostgreSQL: query_canceled (its statement timeout).
        Some("57014") => Error::LimitExceeded(format!(
            "the statement ran too long and was cancelled ({message})"
        )),
        // PostgreSQL: insufficient privilege.
        Some("42501") => Error::NotPermitted(message),
        // PostgreSQL: connection, resources, operator intervention.
        Some(c) if c.starts_with("08") || c.starts_with("53") || c.starts_with("57") => {
            Error::Unavailable(message)
        }
        // PostgreSQL: constraint class not caught by kind().
        Some(c) if c.starts_with("23") && c.len() == 5 => Error::ConstraintViolation(message),
        _ => Error::InvalidQuery(message),
    }
}

/// SQLite's bare "not authorized", with what the sandbox refuses.
fn not_authorized(message: String) -> String {
    format!(
        "{message}: the SQLite sandbox refuses ATTACH, transaction statements (use the \
         transaction API), temporary objects, pragmas other than schema introspection, the \
         host's `_berth_` tables, and functions and virtual-table modules outside its reviewed \
         list"
    )
}

/// SQLite reports extended codes; the low byte is the primary code.
fn is_sqlite_code(code: &str, primary: &[i64]) -> bool {
    code.parse::<i64>()
        .is_ok_and(|c| code.len() < 5 && primary.contains(&(c & 0xff)))
}
