//! The decision of SQLite's authorizer on a sandboxed connection, by
//! default deny: every action SQLite reports is listed here with what a
//! service may do with it; anything else is refused. Pure, so that it is
//! tested without a database.

use libsqlite3_sys as ffi;

use super::allowlist;

/// Who is speaking on a sandboxed connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Speaker {
    /// The service: its own SQL and its migrations.
    Service = 0,
    /// The host recording applied migrations: the service's rules, plus
    /// the bookkeeping tables.
    Bookkeeper = 1,
}

impl Speaker {
    pub fn from_u8(value: u8) -> Speaker {
        if value == Speaker::Bookkeeper as u8 {
            Speaker::Bookkeeper
        } else {
            Speaker::Service
        }
    }
}

/// Tables the host keeps inside a namespace for itself.
pub const INTERNAL_PREFIX: &str = "_berth_";

/// What SQLite asks about.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub speaker: Speaker,
    pub action: i32,
    pub arg1: Option<&'a str>,
    pub arg2: Option<&'a str>,
    /// The host allowed this one transaction statement.
    pub transaction_allowed: bool,
}

fn is_internal(table: Option<&str>) -> bool {
    table.is_some_and(|table| {
        table.len() >= INTERNAL_PREFIX.len()
            && table[..INTERNAL_PREFIX.len()].eq_ignore_ascii_case(INTERNAL_PREFIX)
    })
}

/// Whether the action is allowed.
pub fn allows(request: &Request<'_>) -> bool {
    let Request {
        speaker,
        action,
        arg1,
        arg2,
        transaction_allowed,
    } = *request;
    // Only the host's bookkeeping touches the `_berth_` tables.
    let own = |table: Option<&str>| speaker == Speaker::Bookkeeper || !is_internal(table);
    match action {
        // Reading and writing its own tables; arg1 is the table.
        ffi::SQLITE_READ => own(arg1) && table_valued_pragma_allowed(arg1),
        ffi::SQLITE_INSERT
        | ffi::SQLITE_UPDATE
        | ffi::SQLITE_DELETE
        | ffi::SQLITE_CREATE_TABLE
        | ffi::SQLITE_DROP_TABLE
        | ffi::SQLITE_CREATE_VIEW
        | ffi::SQLITE_DROP_VIEW
        | ffi::SQLITE_ANALYZE => own(arg1),
        // arg1 names the index or trigger, arg2 the table it is on.
        ffi::SQLITE_CREATE_INDEX
        | ffi::SQLITE_DROP_INDEX
        | ffi::SQLITE_CREATE_TRIGGER
        | ffi::SQLITE_DROP_TRIGGER => own(arg2),
        // arg1 is the schema ("main"), arg2 the table.
        ffi::SQLITE_ALTER_TABLE => own(arg2),
        ffi::SQLITE_REINDEX | ffi::SQLITE_SELECT | ffi::SQLITE_RECURSIVE => true,
        ffi::SQLITE_FUNCTION => arg2.is_some_and(allowlist::function_allowed),
        ffi::SQLITE_PRAGMA => arg1.is_some_and(allowlist::pragma_allowed),
        // arg1 is the table, arg2 the module.
        ffi::SQLITE_CREATE_VTABLE | ffi::SQLITE_DROP_VTABLE => {
            own(arg1) && arg2.is_some_and(allowlist::module_allowed)
        }
        // Transactions are the host's: a `BEGIN` (or an outermost
        // `SAVEPOINT`) left open by a service would stay on a pooled
        // connection and swallow later writes. Savepoints are refused
        // inside transactions too, as a prepared statement is reused on
        // the same connection without being authorized again.
        ffi::SQLITE_TRANSACTION | ffi::SQLITE_SAVEPOINT => transaction_allowed,
        // Temporary objects live on the (pooled) connection, in memory,
        // beyond the request; other files are never reachable.
        ffi::SQLITE_CREATE_TEMP_INDEX
        | ffi::SQLITE_CREATE_TEMP_TABLE
        | ffi::SQLITE_CREATE_TEMP_TRIGGER
        | ffi::SQLITE_CREATE_TEMP_VIEW
        | ffi::SQLITE_DROP_TEMP_INDEX
        | ffi::SQLITE_DROP_TEMP_TABLE
        | ffi::SQLITE_DROP_TEMP_TRIGGER
        | ffi::SQLITE_DROP_TEMP_VIEW
        | ffi::SQLITE_ATTACH
        | ffi::SQLITE_DETACH => false,
        _ => false,
    }
}

/// `SELECT * FROM pragma_x(…)` runs pragma `x`: only readable ones.
fn table_valued_pragma_allowed(table: Option<&str>) -> bool {
    match table {
        Some(table) if table.len() > 7 && table[..7].eq_ignore_ascii_case("pragma_") => {
            allowlist::pragma_allowed(&table[7..])
        }
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask(action: i32, arg1: Option<&str>, arg2: Option<&str>) -> bool {
        allows(&Request {
            speaker: Speaker::Service,
            action,
            arg1,
            arg2,
            transaction_allowed: false,
        })
    }

    #[test]
    fn the_bookkeeping_tables_are_the_hosts_alone_whatever_the_action() {
        let internal = Some("_BERTH_migrations");
        for action in [
            ffi::SQLITE_READ,
            ffi::SQLITE_INSERT,
            ffi::SQLITE_UPDATE,
            ffi::SQLITE_DELETE,
            ffi::SQLITE_DROP_TABLE,
        ] {
            assert!(!ask(action, internal, None), "{action}");
            assert!(ask(action, Some("items"), None), "{action}");
        }
        // ALTER TABLE names the schema first and the table second.
        assert!(!ask(ffi::SQLITE_ALTER_TABLE, Some("main"), internal));
        assert!(ask(ffi::SQLITE_ALTER_TABLE, Some("main"), Some("items")));
        assert!(!ask(ffi::SQLITE_CREATE_INDEX, Some("i"), internal));
        assert!(!ask(ffi::SQLITE_CREATE_TRIGGER, Some("t"), internal));
        let bookkeeper = Request {
            speaker: Speaker::Bookkeeper,
            action: ffi::SQLITE_INSERT,
            arg1: internal,
            arg2: None,
            transaction_allowed: false,
        };
        assert!(allows(&bookkeeper));
    }

    #[test]
    fn functions_modules_and_pragmas_are_allowed_by_name_only() {
        assert!(ask(ffi::SQLITE_FUNCTION, None, Some("json_extract")));
        assert!(ask(ffi::SQLITE_FUNCTION, None, Some("UPPER")));
        for denied in ["fts3_tokenizer", "load_extension", "fts5", "no_such_fn"] {
            assert!(!ask(ffi::SQLITE_FUNCTION, None, Some(denied)), "{denied}");
        }
        assert!(ask(ffi::SQLITE_CREATE_VTABLE, Some("docs"), Some("fts5")));
        assert!(!ask(ffi::SQLITE_CREATE_VTABLE, Some("x"), Some("dbstat")));
        assert!(ask(ffi::SQLITE_PRAGMA, Some("table_info"), Some("items")));
        assert!(!ask(ffi::SQLITE_PRAGMA, Some("hard_heap_limit"), Some("1")));
        assert!(ask(
            ffi::SQLITE_READ,
            Some("pragma_table_info"),
            Some("name")
        ));
        assert!(!ask(ffi::SQLITE_READ, Some("pragma_journal_mode"), None));
    }

    #[test]
    fn transactions_need_the_hosts_word_and_temporary_objects_are_refused() {
        assert!(!ask(ffi::SQLITE_TRANSACTION, Some("BEGIN"), None));
        assert!(!ask(ffi::SQLITE_TRANSACTION, Some("COMMIT"), None));
        assert!(!ask(ffi::SQLITE_SAVEPOINT, Some("BEGIN"), Some("s")));
        let request = Request {
            speaker: Speaker::Service,
            action: ffi::SQLITE_TRANSACTION,
            arg1: Some("BEGIN"),
            arg2: None,
            transaction_allowed: true,
        };
        assert!(allows(&request), "the host's own BEGIN");
        for action in [
            ffi::SQLITE_CREATE_TEMP_TABLE,
            ffi::SQLITE_CREATE_TEMP_TRIGGER,
            ffi::SQLITE_ATTACH,
            ffi::SQLITE_DETACH,
            999,
        ] {
            assert!(!ask(action, Some("x"), Some("y")), "{action}");
        }
    }
}
