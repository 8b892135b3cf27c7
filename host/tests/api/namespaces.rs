//! Namespaces under attack, on both databases: names that would collapse
//! onto each other, migrations that never end or reach beyond their
//! namespace, and a disk quota that refuses writes without losing data.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestConfig, hostile_sql, json, on_postgres, refused_as};

async fn header_mode(toml: &str) -> TestApp {
    TestApp::spawn_with(TestConfig {
        plugins: vec![],
        toml: format!("[tenancy]\nmode = \"header\"\n{toml}"),
        ..TestConfig::default()
    })
    .await
}

async fn create_tenant(app: &TestApp, tenant: &str) {
    let status = app
        .admin(Method::PUT, &format!("/tenants/{tenant}"), None)
        .await
        .status();
    assert!(status == 201 || status == 200, "{tenant}: {status}");
}

async fn deploy(app: &TestApp, tenant: &str, name: &str, component: &str) -> (u16, Value) {
    json(app.deploy_to(tenant, name, component).await).await
}

async fn sql_at(app: &TestApp, tenant: &str, prefix: &str, body: Value) -> (u16, Value) {
    let response = app
        .client
        .post(app.url(&format!("{prefix}/sql")))
        .header("x-berth-tenant", tenant)
        .json(&body)
        .send()
        .await
        .unwrap();
    json(response).await
}

#[tokio::test]
async fn tenants_and_services_whose_names_collapse_together_never_share_a_namespace() {
    let app = header_mode("").await;
    for tenant in ["a--b", "a", "a-b"] {
        create_tenant(&app, tenant).await;
    }
    // Under the old naming all three were `a__b__c`.
    let places = [("a--b", "c"), ("a", "b--c"), ("a-b", "-c")];
    for (tenant, service) in places.iter().take(2) {
        let (status, body) = deploy(&app, tenant, service, "test/hostile").await;
        assert_eq!(status, 200, "{tenant}/{service}: {body}");
    }
    let (status, _) = sql_at(
        &app,
        "a--b",
        "/c",
        json!({"sql": "INSERT INTO secrets (value) VALUES ('mine alone')", "execute": true}),
    )
    .await;
    assert_eq!(status, 200);
    let (status, body) = sql_at(
        &app,
        "a",
        "/b--c",
        json!({"sql": "SELECT value FROM secrets"}),
    )
    .await;
    assert_eq!(
        (status, body),
        (200, json!({"rows": []})),
        "a/b--c sees a--b/c's rows"
    );
    let (_, body) = sql_at(
        &app,
        "a--b",
        "/c",
        json!({"sql": "SELECT value FROM secrets"}),
    )
    .await;
    assert_eq!(body, json!({"rows": [["mine alone"]]}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_migration_that_never_ends_is_stopped_and_holds_up_no_other_deploy() {
    let app =
        header_mode("[tenants.slow.limits]\nmigration_timeout_ms = 3000\n[tenants.fast]").await;
    let app = std::sync::Arc::new(app);
    let slow = {
        let app = app.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let outcome = deploy(&app, "slow", "hostile", "test/hostile-slow-migration").await;
            (outcome, started.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    for (tenant, name, component) in [("fast", "items", "items"), ("slow", "hello", "hello")] {
        let started = Instant::now();
        let (status, body) = deploy(&app, tenant, name, component).await;
        assert_eq!(status, 200, "{tenant}/{name}: {body}");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{tenant}/{name} waited {:?} for another service's migration",
            started.elapsed()
        );
    }
    assert!(!slow.is_finished(), "the slow migration is still running");
    let ((status, body), took) = slow.await.unwrap();
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (422, Some("migration_failed")),
        "{body}"
    );
    assert!(
        took >= Duration::from_millis(2900) && took < Duration::from_secs(10),
        "{took:?}"
    );
    // It never went live, and the rest serves.
    let response = app
        .client
        .get(app.url("/hostile/ok"))
        .header("x-berth-tenant", "slow")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let response = app
        .client
        .get(app.url("/hello/x"))
        .header("x-berth-tenant", "slow")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn a_migration_gets_the_same_rules_as_a_request() {
    let app = TestApp::spawn_with(TestConfig {
        plugins: vec!["hello"],
        ..TestConfig::default()
    })
    .await;
    let (status, body) = json(app.deploy("hostile", "test/hostile-pragma-migration").await).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (422, Some("migration_failed")),
        "{body}"
    );
    let message = body["error"]["message"].as_str().unwrap();
    let expected = if on_postgres() {
        "must be superuser"
    } else {
        "not authorized"
    };
    assert!(message.contains(expected), "{message}");
    // Nothing of it stayed: the good version deploys and its bookkeeping
    // is intact.
    let (status, body) = json(app.deploy("hostile", "test/hostile").await).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) =
        hostile_sql(&app, None, json!({"sql": "SELECT count(*) FROM secrets"})).await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = json(app.get("/hello/x").await).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_full_namespace_refuses_writes_keeps_every_committed_row_and_recovers() {
    let app = TestApp::spawn_with(TestConfig {
        plugins: vec!["items", "test/hostile"],
        toml: "[services.hostile.limits]\nmax_database_mb = 1".into(),
        ..TestConfig::default()
    })
    .await;
    if on_postgres() {
        let grow = "CREATE FUNCTION grow() RETURNS boolean LANGUAGE sql AS $$ INSERT INTO secrets (value) SELECT encode(decode(md5(random()::text), 'hex') || gen_random_uuid()::text::bytea, 'base64') FROM generate_series(1, 2000); SELECT true $$";
        let (status, body) = hostile_sql(&app, None, json!({"sql": grow, "execute": true})).await;
        assert_eq!(status, 200, "{body}");
    }
    // A statement of a transaction hits the quota: the transaction (dropped
    // by the service) keeps nothing.
    let response = app
        .post_json(
            "/hostile/sql-tx",
            &json!({"statements": [
                "INSERT INTO secrets (value) VALUES ('first')",
                "INSERT INTO secrets (value) SELECT hex(randomblob(100000)) FROM (WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c LIMIT 30) SELECT i FROM c)",
                "INSERT INTO secrets (value) VALUES ('after') RETURNING id",
            ]}),
        )
        .await;
    let (status, body) = json(response).await;
    assert_eq!(status, 200, "{body}");
    if !on_postgres() {
        refused_as(&body["results"][1], "LimitExceeded");
    }
    let (_, body) = hostile_sql(&app, None, json!({"sql": "SELECT count(*) FROM secrets"})).await;
    assert_eq!(
        body["rows"][0][0], 0,
        "nothing of the transaction was kept: {body}"
    );
    // Random bytes: PostgreSQL would compress anything else to nothing.
    let sql = if on_postgres() {
        "INSERT INTO secrets (value) VALUES (encode($1, 'base64'))"
    } else {
        "INSERT INTO secrets (value) VALUES (hex($1))"
    };
    let insert = json!({"sql": sql, "params": [{"random": 48 * 1024}], "execute": true});
    let started = Instant::now();
    let mut written = 0;
    let error = loop {
        let (status, body) = hostile_sql(&app, None, insert.clone()).await;
        if status != 200 {
            break body;
        }
        written += 1;
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the quota never filled ({written} rows)"
        );
        if on_postgres() {
            // The size is measured every couple of seconds.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let message = refused_as(&error, "LimitExceeded");
    assert!(message.contains("quota"), "{message}");
    assert!(
        written >= 8,
        "1 MB holds more than {written} rows of 64 KiB"
    );
    // A read may be told to retry shortly while the log it made too large
    // is checkpointed (how soon depends on the machine's load); as a
    // client would, the test retries for a while.
    let count = json!({"sql": "SELECT count(*) FROM secrets"});
    let deadline = Instant::now() + Duration::from_secs(10);
    let (status, body) = loop {
        let (status, body) = hostile_sql(&app, None, count.clone()).await;
        let retry = body.to_string().contains("retry shortly");
        if status == 200 || !retry || Instant::now() > deadline {
            break (status, body);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(
        (status, &body["rows"][0][0]),
        (200, &json!(written)),
        "every committed row is there: {body}"
    );
    if on_postgres() {
        // A DELETE that writes through a function of the service's own
        // passes the quota only by a bounded margin.
        let started = Instant::now();
        loop {
            let (status, body) = hostile_sql(
                &app,
                None,
                json!({"sql": "DELETE FROM secrets WHERE id = 0 AND grow()", "execute": true}),
            )
            .await;
            if status != 200 {
                refused_as(&body, "LimitExceeded");
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "the quota never stopped it"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    // Another service of the tenant is not affected.
    let (status, _) = json(
        app.post_json("/items", &json!({"name": "fine", "price": 1}))
            .await,
    )
    .await;
    assert_eq!(status, 201);
    // Freeing space lets writes in again (on PostgreSQL, past a quarter
    // over, only DROP frees it).
    let free: &[&str] = if on_postgres() {
        &[
            "DROP TABLE secrets",
            "CREATE TABLE secrets (id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, value TEXT NOT NULL)",
        ]
    } else {
        &["DELETE FROM secrets"]
    };
    for statement in free {
        let started = Instant::now();
        loop {
            let (status, body) =
                hostile_sql(&app, None, json!({"sql": statement, "execute": true})).await;
            if status == 200 {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "{statement}: {body}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let started = Instant::now();
    loop {
        let (status, body) = hostile_sql(&app, None, insert.clone()).await;
        if status == 200 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "writes stay refused: {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
