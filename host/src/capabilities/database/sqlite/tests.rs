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

#[tokio::test]
async fn triggers_and_nested_statements_do_not_restart_the_statement_clock() {
    let dir = tempfile::TempDir::new().unwrap();
    let (mut conn, _) = sealed(&dir).await;
    // Each trigger run takes a good part of the 0.5 s clock; twenty of them
    // under a clock that the trigger program restarted.
    sqlx::raw_sql(
        "CREATE TABLE t (x INTEGER);
         CREATE TABLE log (n INTEGER);
         CREATE TRIGGER slow AFTER INSERT ON t BEGIN
           INSERT INTO log SELECT count(*) FROM (
             WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c LIMIT 2000000) SELECT i FROM c
           );
         END;",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    let started = std::time::Instant::now();
    let error = refused(
        &mut conn,
        "INSERT INTO t WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c LIMIT 20) SELECT i FROM c",
    )
    .await;
    assert!(error.contains("interrupt"), "{error}");
    assert!(
        started.elapsed() < std::time::Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn like_patterns_are_short_enough_to_bound_one_comparison() {
    let dir = tempfile::TempDir::new().unwrap();
    let (mut conn, _) = sealed(&dir).await;
    let error = refused(
        &mut conn,
        &format!("SELECT 'aaaa' LIKE '%{}b'", "a".repeat(200)),
    )
    .await;
    assert!(error.contains("too complex"), "{error}");
}

#[tokio::test]
async fn a_write_ahead_log_past_the_quota_stops_statements_until_it_is_checkpointed() {
    let dir = tempfile::TempDir::new().unwrap();
    let path = dir.path().join("t.db");
    let (mut writer, _) = sealed(&dir).await;
    let mut reader = SqliteConnection::connect_with(&namespace_options(&path))
        .await
        .unwrap();
    sqlx::raw_sql("CREATE TABLE t (x BLOB)")
        .execute(&mut writer)
        .await
        .unwrap();
    // An open read keeps the log from restarting while the writer rewrites.
    sqlx::raw_sql("BEGIN; SELECT count(*) FROM t;")
        .execute(&mut reader)
        .await
        .unwrap();
    for _ in 0..20 {
        sqlx::raw_sql("DELETE FROM t; INSERT INTO t VALUES (zeroblob(60000));")
            .execute(&mut writer)
            .await
            .unwrap();
    }
    let watch = WalWatch::new(&path);
    let error = watch.admit(256 << 10).unwrap_err();
    assert!(
        format!("{error:?}").contains("write-ahead log"),
        "{error:?}"
    );
    sqlx::raw_sql("COMMIT").execute(&mut reader).await.unwrap();
    let started = std::time::Instant::now();
    while watch.admit(256 << 10).is_err() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "never checkpointed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    }
}

#[tokio::test]
async fn a_service_can_change_its_own_tables_in_every_way_sqlite_allows() {
    let dir = tempfile::TempDir::new().unwrap();
    let (mut conn, _) = sealed(&dir).await;
    for sql in [
        "CREATE TABLE a (x INTEGER, w TEXT)",
        "CREATE INDEX a_x ON a (x)",
        "CREATE VIEW v AS SELECT x FROM a",
        "CREATE TRIGGER tr AFTER INSERT ON a BEGIN UPDATE a SET w = 'seen' WHERE x = new.x; END",
        "ALTER TABLE a RENAME TO b",
        "ALTER TABLE b RENAME COLUMN x TO y",
        "ALTER TABLE b ADD COLUMN z TEXT DEFAULT 'd'",
        "ALTER TABLE b DROP COLUMN z",
        "INSERT INTO b (y) VALUES (1)",
        "DROP VIEW v",
        "DROP TRIGGER tr",
        "DROP INDEX a_x",
        "DROP TABLE b",
    ] {
        if let Err(error) = sqlx::raw_sql(AssertSqlSafe(sql)).execute(&mut conn).await {
            panic!("`{sql}` was refused: {error}");
        }
    }
}
