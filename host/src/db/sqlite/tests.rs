//! The sandbox on a real SQLite connection of the bundled library.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use sqlx::{Connection as _, SqliteConnection};

use super::*;

async fn sealed(dir: &tempfile::TempDir) -> (SqliteConnection, Arc<Guard>) {
    let mut conn = SqliteConnection::connect_with(&namespace_options(&dir.path().join("t.db")))
        .await
        .unwrap();
    let guard = seal(
        &mut conn,
        Speaker::Service,
        &Bounds {
            max_value_bytes: 1 << 20,
            max_database_bytes: 256 << 10,
            statement_timeout_ms: Arc::new(AtomicU64::new(500)),
        },
    )
    .await
    .unwrap();
    (conn, guard)
}

async fn refused(conn: &mut SqliteConnection, sql: &str) -> String {
    match sqlx::raw_sql(AssertSqlSafe(sql)).execute(&mut *conn).await {
        Ok(_) => panic!("`{sql}` was allowed"),
        Err(error) => error.to_string(),
    }
}

#[tokio::test]
async fn every_function_and_module_of_the_bundled_sqlite_is_explicitly_allowed_or_denied() {
    let dir = tempfile::TempDir::new().unwrap();
    let (mut conn, _) = sealed(&dir).await;
    let functions: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT name FROM pragma_function_list ORDER BY name")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    assert!(functions.len() > 100, "{functions:?}");
    let unreviewed: Vec<&String> = functions
        .iter()
        .filter(|f| {
            !ALLOWED_FUNCTIONS.contains(&f.as_str())
                && !DENIED_FUNCTIONS.iter().any(|(d, _)| d == f)
        })
        .collect();
    assert!(
        unreviewed.is_empty(),
        "functions of the bundled SQLite that are neither allowed nor denied in allowlist.rs: {unreviewed:?}"
    );
    for (denied, _) in DENIED_FUNCTIONS {
        assert!(!ALLOWED_FUNCTIONS.contains(denied), "{denied}");
    }
    let modules: Vec<String> = sqlx::query_scalar("SELECT name FROM pragma_module_list")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    let unreviewed: Vec<&String> = modules
        .iter()
        .filter(|m| {
            !ALLOWED_MODULES.contains(&m.as_str())
                && !allowlist::TABLE_VALUED_MODULES.contains(&m.as_str())
        })
        .collect();
    assert!(unreviewed.is_empty(), "unreviewed modules: {unreviewed:?}");
}

#[tokio::test]
async fn pointers_extensions_pragmas_and_temporary_objects_are_refused() {
    let dir = tempfile::TempDir::new().unwrap();
    let (mut conn, _) = sealed(&dir).await;
    for sql in [
        "SELECT fts3_tokenizer('simple')",
        "SELECT load_extension('x')",
        "SELECT * FROM pragma_journal_mode('delete')",
        "PRAGMA hard_heap_limit = 1",
        "PRAGMA temp_store_directory = '/tmp'",
        "CREATE TEMP TABLE t (x)",
        "ATTACH ':memory:' AS other",
        "CREATE VIRTUAL TABLE s USING dbstat",
        "SELECT berth_tx('guess')",
    ] {
        let error = refused(&mut conn, sql).await;
        assert!(
            error.contains("not authorized")
                || error.contains("prohibited")
                || error.contains("too many attached"),
            "{sql}: {error}"
        );
    }
    sqlx::raw_sql("CREATE VIRTUAL TABLE docs USING fts5(body)")
        .execute(&mut conn)
        .await
        .unwrap();
}

#[tokio::test]
async fn sizes_are_bounded_and_a_full_database_refuses_writes_but_keeps_its_data() {
    let dir = tempfile::TempDir::new().unwrap();
    let (mut conn, _) = sealed(&dir).await;
    let error = refused(&mut conn, "SELECT length(randomblob(400000000))").await;
    assert!(error.contains("too big"), "{error}");
    let error = refused(&mut conn, &format!("SELECT '{}'", "x".repeat(2 << 20))).await;
    assert!(
        error.contains("too long") || error.contains("too big"),
        "{error}"
    );
    sqlx::raw_sql("CREATE TABLE t (x BLOB)")
        .execute(&mut conn)
        .await
        .unwrap();
    let mut written = 0;
    let error = loop {
        match sqlx::raw_sql("INSERT INTO t VALUES (zeroblob(50000))")
            .execute(&mut conn)
            .await
        {
            Ok(_) => written += 1,
            Err(error) => break error.to_string(),
        }
        assert!(written < 100, "the quota of 256 KiB never filled");
    };
    assert!(error.contains("full"), "{error}");
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM t")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(count, written, "every committed row is still there");
    sqlx::raw_sql("DELETE FROM t")
        .execute(&mut conn)
        .await
        .unwrap();
}

#[tokio::test]
async fn transactions_are_the_hosts_alone() {
    let dir = tempfile::TempDir::new().unwrap();
    let (mut conn, _) = sealed(&dir).await;
    for sql in [
        "BEGIN",
        "BEGIN IMMEDIATE",
        "SAVEPOINT s",
        "COMMIT",
        "ROLLBACK",
    ] {
        let error = refused(&mut conn, sql).await;
        assert!(error.contains("not authorized"), "{sql}: {error}");
    }
    let begin = format!("{}; BEGIN IMMEDIATE", host_tx_prelude());
    sqlx::raw_sql(AssertSqlSafe(begin))
        .execute(&mut conn)
        .await
        .unwrap();
    // The permission was for one statement only.
    let error = refused(&mut conn, "COMMIT").await;
    assert!(error.contains("not authorized"), "{error}");
    let commit = format!("{}; COMMIT", host_tx_prelude());
    sqlx::raw_sql(AssertSqlSafe(commit))
        .execute(&mut conn)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_statement_that_never_ends_is_interrupted() {
    let dir = tempfile::TempDir::new().unwrap();
    let (mut conn, _) = sealed(&dir).await;
    let started = std::time::Instant::now();
    let error = refused(
        &mut conn,
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c",
    )
    .await;
    assert!(error.contains("interrupt"), "{error}");
    assert!(started.elapsed() < std::time::Duration::from_secs(3));
}
