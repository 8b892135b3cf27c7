//! Hostile SQL on SQLite: pointer-passing functions, unbounded values,
//! transaction statements, temporary objects, pragmas through table-valued
//! functions and the host's bookkeeping are refused with a clear error, and
//! the host keeps serving. Bounds that hold on both databases are tested
//! on both.

use serde_json::{Value, json};

use crate::helpers::{TestApp, TestConfig, hostile_sql, json, on_postgres, refused_as};

async fn spawn() -> TestApp {
    TestApp::spawn_with(TestConfig {
        plugins: vec!["items", "hello", "test/hostile"],
        ..TestConfig::default()
    })
    .await
}

async fn sql(app: &TestApp, sql: &str, params: Value) -> (u16, Value) {
    hostile_sql(app, None, json!({"sql": sql, "params": params})).await
}

/// Runs each statement on its own, outside any transaction.
async fn pooled(app: &TestApp, statements: &[&str]) -> Vec<Value> {
    let response = app
        .post_json(
            "/hostile/sql-tx",
            &json!({"statements": statements, "pooled": true}),
        )
        .await;
    json(response).await.1["results"]
        .as_array()
        .unwrap()
        .clone()
}

async fn still_serving(app: &TestApp) {
    let (status, body) = json(app.get("/hello/still-up").await).await;
    assert_eq!(status, 200, "the host went down: {body}");
}

#[tokio::test]
async fn the_fts3_tokenizer_pointer_attack_is_refused_and_the_host_stays_up() {
    if on_postgres() {
        return; // SQLite's function; PostgreSQL has no such thing.
    }
    let app = spawn().await;
    let (status, body) = sql(&app, "SELECT fts3_tokenizer($1)", json!(["simple"])).await;
    assert_eq!(status, 400, "{body}");
    refused_as(&body, "NotPermitted");
    let (_, body) = sql(
        &app,
        "SELECT fts3_tokenizer($1, $2)",
        json!(["evil", {"blob": "4141414141414141"}]),
    )
    .await;
    refused_as(&body, "NotPermitted");
    let (_, body) = hostile_sql(
        &app,
        None,
        json!({"sql": "CREATE VIRTUAL TABLE v USING fts3(tokenize=evil)", "execute": true}),
    )
    .await;
    // Only the built-in tokenizers exist; the forged one was never made.
    assert!(body["db_error"].as_str().is_some(), "{body}");
    still_serving(&app).await;
    // Full-text search itself works.
    for statement in [
        "CREATE VIRTUAL TABLE docs USING fts5(body)",
        "INSERT INTO docs (body) VALUES ('hello sandbox')",
    ] {
        let (status, body) =
            hostile_sql(&app, None, json!({"sql": statement, "execute": true})).await;
        assert_eq!(status, 200, "{statement}: {body}");
    }
    let (status, body) = sql(
        &app,
        "SELECT snippet(docs, 0, '[', ']', '', 3) FROM docs WHERE docs MATCH $1",
        json!(["sandbox"]),
    )
    .await;
    assert_eq!(
        (status, &body["rows"][0][0]),
        (200, &json!("hello [sandbox]")),
        "{body}"
    );
}

#[tokio::test]
async fn functions_modules_and_pragmas_outside_the_allow_list_are_refused() {
    if on_postgres() {
        return;
    }
    let app = spawn().await;
    for statement in [
        "SELECT load_extension('/tmp/evil.so')",
        "SELECT fts5(NULL)",
        "SELECT sqlite_log(1, 'forged')",
        "SELECT rtreenode(2, x'00')",
        "SELECT * FROM pragma_journal_mode('delete')",
        "SELECT * FROM pragma_hard_heap_limit(1)",
        "PRAGMA temp_store_directory = '/tmp'",
        "PRAGMA writable_schema = ON",
        "CREATE VIRTUAL TABLE s USING dbstat",
        "CREATE TEMP TABLE leftovers (x)",
        "CREATE TEMP TRIGGER t AFTER INSERT ON secrets BEGIN SELECT 1; END",
        "ALTER TABLE _berth_migrations RENAME TO mine",
        "DROP TABLE _berth_migrations",
        "SELECT berth_tx('guess')",
    ] {
        let (status, body) = sql(&app, statement, json!([])).await;
        assert_eq!(status, 400, "{statement}: {body}");
        let error = refused_as(&body, "NotPermitted");
        assert!(error.contains("sandbox"), "the error says why: {error}");
    }
    // The bookkeeping survived, and introspection works.
    let (status, body) = sql(&app, "PRAGMA table_info(secrets)", json!([])).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = sql(
        &app,
        "SELECT json_extract($1, '$.a')",
        json!([r#"{"a":7}"#]),
    )
    .await;
    assert_eq!((status, &body["rows"][0][0]), (200, &json!(7)), "{body}");
    still_serving(&app).await;
}

#[tokio::test]
async fn values_built_in_the_host_are_bounded_by_the_result_limit() {
    let app = TestApp::spawn_with(TestConfig {
        plugins: vec!["items", "hello", "test/hostile"],
        toml: "[limits]\nmax_body_bytes = 4194304\n[services.hostile.limits]\nmax_result_bytes = 1048576"
            .into(),
        ..TestConfig::default()
    })
    .await;
    if !on_postgres() {
        // SQLite would build it in the host's memory. (PostgreSQL builds
        // it in its own, bounded by its 1 GB value limit and the statement
        // timeout: see the README's known limits.)
        let (status, body) = sql(&app, "SELECT length(randomblob(400000000))", json!([])).await;
        assert_eq!(status, 400, "{body}");
        refused_as(&body, "LimitExceeded");
    }
    let (status, body) = sql(&app, "SELECT $1", json!([{"text_of": 2_000_000}])).await;
    assert_eq!(status, 400, "{body}");
    refused_as(&body, "LimitExceeded");
    let long_sql = format!("SELECT '{}'", "x".repeat(2 << 20));
    let (_, body) = sql(&app, &long_sql, json!([])).await;
    refused_as(&body, "LimitExceeded");
    let (status, body) = json(app.get("/hostile/param-flood?count=20000").await).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["calls"], 0, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("10000 parameters"),
        "{body}"
    );
    still_serving(&app).await;
}

#[tokio::test]
async fn transactions_belong_to_the_host_and_a_left_open_one_loses_no_writes() {
    let app = spawn().await;
    // A BEGIN that the service never ends.
    let results = pooled(
        &app,
        &[
            "BEGIN",
            "INSERT INTO secrets (value) VALUES ('kept') RETURNING id",
        ],
    )
    .await;
    if on_postgres() {
        // PostgreSQL lets it BEGIN; the session is dropped when the
        // connection comes back, so later statements are unaffected.
        assert!(results[1]["rows"].is_array(), "{results:?}");
    } else {
        refused_as(&results[0], "NotPermitted");
        assert!(results[1]["rows"].is_array(), "{results:?}");
    }
    for statement in ["COMMIT", "SAVEPOINT s"] {
        let results = pooled(&app, &[statement]).await;
        if !on_postgres() {
            refused_as(&results[0], "NotPermitted");
        }
    }
    // Every pooled connection serves a fresh, committed view.
    for _ in 0..8 {
        let (status, body) = sql(
            &app,
            "SELECT count(*) FROM secrets WHERE value = 'kept'",
            json!([]),
        )
        .await;
        assert_eq!((status, &body["rows"][0][0]), (200, &json!(1)), "{body}");
    }
    still_serving(&app).await;
}

#[tokio::test]
async fn a_transaction_the_database_rolled_back_takes_no_more_statements() {
    if on_postgres() {
        return; // PostgreSQL refuses every statement of a failed transaction itself.
    }
    let app = TestApp::spawn_with(TestConfig {
        plugins: vec!["hello", "test/hostile"],
        toml: "[services.hostile.limits]\nstatement_timeout_ms = 300".into(),
        ..TestConfig::default()
    })
    .await;
    // An interrupted write makes SQLite roll the whole transaction back;
    // what comes next must not run on its own, outside any transaction.
    let response = app
        .post_json(
            "/hostile/sql-tx",
            &json!({"statements": [
                "INSERT INTO secrets (value) VALUES ('first')",
                "INSERT INTO secrets (value) SELECT count(*) FROM (WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c) SELECT i FROM c)",
                "INSERT INTO secrets (value) VALUES ('after') RETURNING id",
            ]}),
        )
        .await;
    let (status, body) = json(response).await;
    assert_eq!(status, 200, "{body}");
    refused_as(&body["results"][1], "LimitExceeded");
    refused_as(&body["results"][2], "rolled this transaction back");
    let (_, body) = sql(&app, "SELECT count(*) FROM secrets", json!([])).await;
    assert_eq!(body["rows"][0][0], 0, "{body}");
}
