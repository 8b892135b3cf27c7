//! What SQL a service may call on SQLite, by name: functions, virtual-table
//! modules and pragmas. Everything not listed here is refused, so that an
//! upgrade of the bundled SQLite cannot quietly hand services a new function
//! (a test walks `pragma_function_list` and fails on any name that is in
//! neither list).

/// Functions a service may call: SQLite's core scalar, aggregate and window
/// functions, date and time, JSON, and the full-text search and R*Tree
/// functions that go with the allowed modules. Sizes they produce are
/// bounded by `SQLITE_LIMIT_LENGTH`.
pub const ALLOWED_FUNCTIONS: &[&str] = &[
    // Core scalar.
    "abs",
    "changes",
    "char",
    "coalesce",
    "concat",
    "concat_ws",
    "format",
    "glob",
    "hex",
    "if",
    "ifnull",
    "iif",
    "instr",
    "last_insert_rowid",
    "length",
    "like",
    "likelihood",
    "likely",
    "lower",
    "ltrim",
    "max",
    "min",
    "nullif",
    "octet_length",
    "printf",
    "quote",
    "random",
    "randomblob",
    "replace",
    "round",
    "rtrim",
    "sign",
    "soundex",
    "sqlite_source_id",
    "sqlite_version",
    "substr",
    "substring",
    "total_changes",
    "trim",
    "typeof",
    "unhex",
    "unicode",
    "unistr",
    "unistr_quote",
    "unlikely",
    "upper",
    "zeroblob",
    "match",
    "sqlite_compileoption_get",
    "sqlite_compileoption_used",
    // Aggregate and window.
    "avg",
    "count",
    "group_concat",
    "string_agg",
    "sum",
    "total",
    "cume_dist",
    "dense_rank",
    "first_value",
    "lag",
    "last_value",
    "lead",
    "nth_value",
    "ntile",
    "percent_rank",
    "rank",
    "row_number",
    // Date and time.
    "current_date",
    "current_time",
    "current_timestamp",
    "date",
    "datetime",
    "julianday",
    "strftime",
    "time",
    "timediff",
    "unixepoch",
    // JSON (with the `->` and `->>` operators).
    "->",
    "->>",
    "json",
    "json_array",
    "json_array_length",
    "json_error_position",
    "json_extract",
    "json_group_array",
    "json_group_object",
    "json_insert",
    "json_object",
    "json_patch",
    "json_pretty",
    "json_quote",
    "json_remove",
    "json_replace",
    "json_set",
    "json_type",
    "json_valid",
    "jsonb",
    "jsonb_array",
    "jsonb_extract",
    "jsonb_group_array",
    "jsonb_group_object",
    "jsonb_insert",
    "jsonb_object",
    "jsonb_patch",
    "jsonb_remove",
    "jsonb_replace",
    "jsonb_set",
    "json_each",
    "json_tree",
    // Full-text search: the auxiliary functions of FTS3/4/5 queries.
    "bm25",
    "highlight",
    "snippet",
    "matchinfo",
    "offsets",
    "optimize",
    "fts5_get_locale",
    "fts5_insttoken",
    "fts5_locale",
    "fts5_source_id",
    // Used internally by SQLite when a statement is prepared.
    "subtype",
    // SQLite's own helpers for ALTER TABLE: internal functions, which SQL
    // cannot call by name, but the authorizer is asked about them.
    "sqlite_rename_column",
    "sqlite_rename_table",
    "sqlite_rename_test",
    "sqlite_drop_column",
    "sqlite_rename_quotefix",
    // The host's own transaction switch; it checks a per-process secret.
    super::guard::HOST_TX_FUNCTION,
];

/// Functions that are never allowed, each for a reason (the test that
/// walks the bundled library's functions reads this list).
#[cfg(test)]
pub const DENIED_FUNCTIONS: &[(&str, &str)] = &[
    (
        "fts3_tokenizer",
        "returns and accepts raw pointers: a call through a forged one crashes the host",
    ),
    ("load_extension", "loads native code into the host"),
    ("fts5", "hands out a pointer to the FTS5 C API"),
    ("sqlite_log", "writes into the host's SQLite error log"),
    (
        "rtreenode",
        "a debugging function that decodes arbitrary blobs as R*Tree nodes",
    ),
    (
        "rtreedepth",
        "a debugging function on raw R*Tree node blobs",
    ),
    (
        "rtreecheck",
        "a debugging function that walks whole R*Tree tables",
    ),
];

/// Modules a service may create virtual tables with. Tokenizers are only
/// the built-in ones, since `fts3_tokenizer` is refused.
pub const ALLOWED_MODULES: &[&str] = &[
    "fts3",
    "fts4",
    "fts4aux",
    "fts5",
    "fts5vocab",
    "fts3tokenize",
    "rtree",
    "rtree_i32",
];

/// Modules that exist only as table-valued functions (`SELECT … FROM
/// json_each(…)`): usable that way, never in `CREATE VIRTUAL TABLE`.
#[cfg(test)]
pub const TABLE_VALUED_MODULES: &[&str] = &[
    "dbstat",
    "json_each",
    "json_tree",
    "pragma_function_list",
    "pragma_module_list",
];

/// Pragmas a service may use: introspection of its own schema, and its own
/// file's `user_version`. Everything that changes how the connection, the
/// file or the process behaves is refused.
pub const READABLE_PRAGMAS: &[&str] = &[
    "table_info",
    "table_xinfo",
    "table_list",
    "index_list",
    "index_info",
    "index_xinfo",
    "foreign_key_list",
    "foreign_key_check",
    "user_version",
    "data_version",
    "function_list",
    "module_list",
];

fn contains(list: &[&str], name: &str) -> bool {
    list.iter()
        .any(|allowed| allowed.eq_ignore_ascii_case(name))
}

pub fn function_allowed(name: &str) -> bool {
    contains(ALLOWED_FUNCTIONS, name)
}

pub fn module_allowed(name: &str) -> bool {
    contains(ALLOWED_MODULES, name)
}

pub fn pragma_allowed(name: &str) -> bool {
    contains(READABLE_PRAGMAS, name)
}
