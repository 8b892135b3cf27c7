//! Each service sees only its own namespace: it cannot name another
//! service's tables, attach another database file, or touch the host's
//! bookkeeping. The SQLite sandbox is tested here; PostgreSQL's, which its
//! own roles and schemas enforce, in `pg_isolation`.

use serde_json::{Value, json};

use crate::helpers::{TestApp, TestConfig, json, on_postgres};

async fn sql(app: &TestApp, sql: &str) -> (u16, Value) {
    json(app.post_json("/hostile/sql", &json!({"sql": sql})).await).await
}

async fn spawn() -> TestApp {
    TestApp::spawn_with(TestConfig {
        plugins: vec!["items", "hello", "test/hostile"],
        ..TestConfig::default()
    })
    .await
}

#[tokio::test]
async fn two_services_keep_their_data_apart() {
    let app = spawn().await;
    let (status, _) = json(
        app.post_json("/items", &json!({"name": "Mine", "price": 1}))
            .await,
    )
    .await;
    assert_eq!(status, 201);

    let (status, body) = sql(&app, "SELECT * FROM items").await;
    assert_eq!(status, 400);
    assert!(
        body["db_error"].as_str().unwrap().contains("InvalidQuery"),
        "{body}"
    );
    let missing = if on_postgres() {
        "relation \\\"items\\\" does not exist"
    } else {
        "no such table: items"
    };
    assert!(
        body["db_error"].as_str().unwrap().contains(missing),
        "{body}"
    );

    // hostile's own table works, and its writes do not show up in items.
    let (status, _) = json(
        app.post_json(
            "/hostile/sql",
            &json!({"sql": "INSERT INTO secrets (value) VALUES ('s')", "execute": true}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 200);
    let (status, body) = sql(&app, "SELECT value FROM secrets").await;
    assert_eq!((status, body), (200, json!({"rows": [["s"]]})));
    let (_, page) = json(app.get("/items").await).await;
    assert_eq!(page["total"], 1);
}

#[tokio::test]
async fn attaching_another_database_file_is_not_permitted() {
    if on_postgres() {
        return; // SQLite's sandbox; see pg_isolation for PostgreSQL's.
    }
    let app = spawn().await;
    let items_db = app.data_dir().join("services/default/items.db");
    assert!(
        items_db.is_file(),
        "items has its own file at {}",
        items_db.display()
    );
    for statement in [
        format!("ATTACH DATABASE '{}' AS other", items_db.display()),
        "ATTACH DATABASE ':memory:' AS scratch".to_string(),
        format!("VACUUM INTO '{}'", app.data_dir().join("copy.db").display()),
    ] {
        let (status, body) = sql(&app, &statement).await;
        assert_eq!(status, 400, "{statement}: {body}");
        assert!(
            body["db_error"].as_str().unwrap().contains("NotPermitted"),
            "{statement}: {body}"
        );
    }
    assert!(!app.data_dir().join("copy.db").exists());
}

#[tokio::test]
async fn the_host_bookkeeping_and_settings_pragmas_are_out_of_reach() {
    if on_postgres() {
        return; // SQLite's sandbox; see pg_isolation for PostgreSQL's.
    }
    let app = spawn().await;
    for statement in [
        "SELECT * FROM _berth_migrations",
        "DELETE FROM _berth_migrations",
        "PRAGMA journal_mode = DELETE",
        "PRAGMA writable_schema = ON",
        "SELECT load_extension('/tmp/evil.so')",
    ] {
        let (status, body) = sql(&app, statement).await;
        assert_eq!(status, 400, "{statement}: {body}");
        assert!(
            body["db_error"].as_str().unwrap().contains("NotPermitted"),
            "{statement}: {body}"
        );
    }
    let (status, body) = sql(&app, "PRAGMA table_info(secrets)").await;
    assert_eq!(status, 200, "introspecting its own tables is fine: {body}");
}
