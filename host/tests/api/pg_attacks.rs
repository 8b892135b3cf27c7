//! PostgreSQL, attacked from a service: session locks meant to freeze other
//! tenants' deploys, session state left on pooled connections, forged
//! replication notices, the catalogs, large objects and temporary tables,
//! and namespaces made under berth's old names.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestConfig, json, on_postgres};
use crate::pg_isolation::namespace_names;

async fn header_mode() -> TestApp {
    TestApp::spawn_with(TestConfig {
        plugins: vec![],
        toml: "[tenancy]\nmode = \"header\"".into(),
        ..TestConfig::default()
    })
    .await
}

async fn tenant_with(app: &TestApp, tenant: &str, services: &[(&str, &str)]) {
    let status = app
        .admin(Method::PUT, &format!("/tenants/{tenant}"), None)
        .await
        .status();
    assert_eq!(status, 201);
    for (name, component) in services {
        let response = app.deploy_to(tenant, name, component).await;
        assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    }
}

/// Runs each statement on its own pooled connection, as `tenant`'s hostile.
async fn pooled(app: &TestApp, tenant: &str, statements: &[&str]) -> Vec<Value> {
    let response = app
        .client
        .post(app.url("/hostile/sql-tx"))
        .header("x-berth-tenant", tenant)
        .json(&json!({"statements": statements, "pooled": true}))
        .send()
        .await
        .unwrap();
    let (status, body) = json(response).await;
    assert_eq!(status, 200, "{body}");
    body["results"].as_array().unwrap().clone()
}

async fn admin_pool(app: &TestApp) -> sqlx::PgPool {
    sqlx::PgPool::connect(&app.database().unwrap().url)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_locks_taken_by_one_tenant_hold_up_no_other_tenants_deploy() {
    if !on_postgres() {
        return;
    }
    let app = header_mode().await;
    tenant_with(&app, "t1", &[("hostile", "test/hostile")]).await;
    for tenant in ["t3", "t4"] {
        tenant_with(&app, tenant, &[]).await;
    }
    // Every name the attacker could aim at, the real one included (an
    // attacker cannot compute it without the host's key; the test can).
    let admin = admin_pool(&app).await;
    let key: String =
        sqlx::query_scalar("SELECT value FROM host_secrets WHERE name = 'namespace_names'")
            .fetch_one(&admin)
            .await
            .unwrap();
    let key: [u8; 32] = hex::decode(key).unwrap().try_into().unwrap();
    let database = app
        .database()
        .unwrap()
        .url
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();
    let (_, keyed_role) =
        berth::capabilities::database::postgres::names::names(&key, &database, "t3", "probe");
    let (_, legacy_role) =
        berth::capabilities::database::postgres::names::legacy_names(&database, "t3", "probe");
    let locks: Vec<String> = [keyed_role, legacy_role]
        .iter()
        .map(|role| format!("SELECT pg_advisory_lock(hashtext('{role}'))::text"))
        .chain(["SELECT pg_advisory_lock(0)::text".to_string()])
        .collect();
    let locks: Vec<&str> = locks.iter().map(String::as_str).collect();
    let results = pooled(&app, "t1", &locks).await;
    // Advisory locks are not a service's to take: a million of them would
    // fill the server's lock table, shared by every database.
    for result in &results {
        assert!(
            result["db_error"]
                .as_str()
                .is_some_and(|e| e.contains("permission denied")),
            "{results:?}"
        );
    }
    // Row and table locks of its own are, and hold up no one else.
    pooled(
        &app,
        "t1",
        &["BEGIN", "LOCK TABLE secrets IN ACCESS EXCLUSIVE MODE"],
    )
    .await;

    let started = Instant::now();
    let (probe, items) = tokio::join!(
        app.deploy_to("t3", "probe", "test/hostile"),
        app.deploy_to("t4", "items", "items"),
    );
    assert_eq!(probe.status(), 200, "{}", probe.text().await.unwrap());
    assert_eq!(items.status(), 200, "{}", items.text().await.unwrap());
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let response = app
        .client
        .get(app.url("/probe/ok"))
        .header("x-berth-tenant", "t3")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // And the locks did not outlive the request that took them.
    let started = Instant::now();
    loop {
        let held: i64 =
            sqlx::query_scalar("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'")
                .fetch_one(&admin)
                .await
                .unwrap();
        if held == 0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{held} advisory locks stay held"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn session_state_left_on_a_pooled_connection_never_reaches_the_next_request() {
    if !on_postgres() {
        return;
    }
    let app = header_mode().await;
    tenant_with(&app, "t1", &[("hostile", "test/hostile")]).await;
    // Look-alikes of the catalog, to fool a check that trusts search_path.
    pooled(
        &app,
        "t1",
        &[
            "CREATE FUNCTION pg_listening_channels() RETURNS SETOF text LANGUAGE sql AS 'SELECT NULL::text WHERE false'",
            "CREATE VIEW pg_settings AS SELECT 'default'::text AS source",
            "CREATE VIEW pg_cursors AS SELECT false AS is_holdable",
            "CREATE FUNCTION statement_timestamp() RETURNS timestamptz LANGUAGE sql AS 'SELECT pg_catalog.transaction_timestamp()'",
        ],
    )
    .await;
    for _ in 0..3 {
        // State the look-alikes would hide from a check that trusts
        // search_path...
        pooled(
            &app,
            "t1",
            &[
                "SELECT set_config('search_path', current_schema() || ', pg_catalog', false)",
                "SELECT set_config('work_mem', '1GB', false)",
                "LISTEN leftover",
            ],
        )
        .await;
        // ...and state they cannot.
        pooled(
            &app,
            "t1",
            &[
                "SET statement_timeout = 0",
                "PREPARE leftover AS SELECT 1",
                "BEGIN",
                "DECLARE leftover CURSOR WITH HOLD FOR SELECT 1",
                "CREATE TABLE IF NOT EXISTS left_in_a_transaction (x int)",
            ],
        )
        .await;
    }
    let checks = [
        "SELECT pg_catalog.current_setting('work_mem') <> '1GB'",
        "SELECT pg_catalog.current_setting('statement_timeout') <> '0'",
        "SELECT pg_catalog.current_setting('search_path') NOT LIKE '%pg_catalog%'",
        "SELECT NOT EXISTS (SELECT 1 FROM pg_catalog.pg_prepared_statements WHERE from_sql)",
        "SELECT NOT EXISTS (SELECT 1 FROM pg_catalog.pg_listening_channels())",
        "SELECT NOT EXISTS (SELECT 1 FROM pg_catalog.pg_cursors WHERE is_holdable)",
    ];
    // What came after a BEGIN left open was not swallowed by it: the
    // session with the open transaction was ended, the table committed.
    let results = pooled(&app, "t1", &["SELECT count(*) FROM left_in_a_transaction"]).await;
    assert_eq!(results[0]["rows"], json!([[0]]), "{results:?}");
    for _ in 0..6 {
        let results = pooled(&app, "t1", &checks).await;
        for (check, result) in checks.iter().zip(&results) {
            assert_eq!(result["rows"], json!([[true]]), "{check}: {result}");
        }
    }
    // Clean connections are reused, not reopened for every statement.
    let results = pooled(&app, "t1", &["SELECT pg_backend_pid()"; 30]).await;
    let pids: std::collections::BTreeSet<String> = results
        .iter()
        .map(|r| r["rows"][0][0].to_string())
        .collect();
    assert!(pids.len() <= 4, "{} sessions for 30 statements", pids.len());
}

async fn refused_notices(app: &TestApp) -> u64 {
    let text = app.metrics().await;
    text.lines()
        .find(|l| l.starts_with("berth_replication_notices_total") && l.contains("refused"))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn forged_replication_notices_are_refused_without_a_resync() {
    if !on_postgres() {
        return;
    }
    let app = header_mode().await;
    tenant_with(&app, "t1", &[("hostile", "test/hostile")]).await;
    let before = refused_notices(&app).await;
    let forged: Vec<String> = (0..40)
        .map(|i| format!("SELECT pg_notify('berth_changes', 'default/*{i}')::text"))
        .chain(["NOTIFY berth_changes, 't1/hostile'".to_string()])
        .collect();
    let forged: Vec<&str> = forged.iter().map(String::as_str).collect();
    pooled(&app, "t1", &forged).await;
    let started = Instant::now();
    while refused_notices(&app).await < before + 41 {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the forged notices were not refused"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A notice the host signed is still followed (see `replicas`).
}

#[tokio::test]
async fn catalogs_large_objects_temporary_tables_and_roles_stay_out_of_reach() {
    if !on_postgres() {
        return;
    }
    let app = header_mode().await;
    tenant_with(&app, "t1", &[("hostile", "test/hostile")]).await;
    let attempts = [
        "SELECT rolname FROM pg_roles",
        "SELECT usename FROM pg_user",
        "SELECT usename, query FROM pg_stat_activity",
        "SELECT * FROM pg_stat_get_activity(NULL)",
        "SELECT objid FROM pg_locks",
        "SELECT lo_from_bytea(0, 'x')::text",
        "SELECT lo_create(0)::text",
        "CREATE TEMP TABLE leftover (x int)",
        "SELECT * FROM public.host_secrets",
        "SELECT * FROM public.pg_namespaces",
        "SELECT pg_read_file('/etc/passwd')",
        "SELECT pg_ls_dir('.')",
        "CREATE EXTENSION dblink",
        "ALTER ROLE CURRENT_USER CREATEROLE",
        "SET ROLE postgres",
        "SELECT set_config('session_authorization', 'postgres', false)",
        "CREATE SCHEMA elsewhere",
    ];
    let results = pooled(&app, "t1", &attempts).await;
    for (attempt, result) in attempts.iter().zip(&results) {
        assert!(
            result["db_error"].as_str().is_some(),
            "{attempt} was allowed: {result}"
        );
    }
}

#[tokio::test]
async fn a_namespace_made_under_the_old_names_is_renamed_and_keeps_its_data() {
    if !on_postgres() {
        return;
    }
    let app = TestApp::spawn_with(TestConfig {
        plugins: vec!["test/hostile"],
        ..TestConfig::default()
    })
    .await;
    let (status, _) = crate::helpers::hostile_sql(
        &app,
        None,
        json!({"sql": "INSERT INTO secrets (value) VALUES ('from before')", "execute": true}),
    )
    .await;
    assert_eq!(status, 200);
    let (schema, role) = namespace_names(&app, "default", "hostile").await;
    let database = app
        .database()
        .unwrap()
        .url
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();
    let (old_schema, old_role) = berth::capabilities::database::postgres::names::legacy_names(
        &database, "default", "hostile",
    );
    let dirs = app.stop().await;
    // Put it back the way berth used to name it.
    let admin = sqlx::PgPool::connect(&dirs.database.as_ref().unwrap().url)
        .await
        .unwrap();
    for statement in [
        format!("ALTER SCHEMA \"{schema}\" RENAME TO \"{old_schema}\""),
        format!("ALTER ROLE \"{role}\" RENAME TO \"{old_role}\""),
        format!("UPDATE pg_namespaces SET schema_name = '{old_schema}', role_name = '{old_role}'"),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(statement))
            .execute(&admin)
            .await
            .unwrap();
    }
    admin.close().await;
    let app = TestApp::spawn_with(TestConfig {
        restart: Some(dirs),
        plugins: vec![],
        ..TestConfig::default()
    })
    .await;
    assert_eq!(
        namespace_names(&app, "default", "hostile").await,
        (schema, role)
    );
    let (status, body) =
        crate::helpers::hostile_sql(&app, None, json!({"sql": "SELECT value FROM secrets"})).await;
    assert_eq!((status, body), (200, json!({"rows": [["from before"]]})));
}

#[tokio::test]
async fn a_request_holds_one_connection_and_a_begin_of_its_own_lets_go_of_it() {
    if !on_postgres() {
        return;
    }
    let app = header_mode().await;
    tenant_with(&app, "t1", &[("hostile", "test/hostile")]).await;
    let pid = "SELECT pg_catalog.pg_backend_pid()";
    // Every statement of a request runs on the connection its first took.
    let results = pooled(
        &app,
        "t1",
        &[
            pid,
            "SELECT pg_catalog.set_config('work_mem', '2MB', false)",
            pid,
            "SELECT pg_catalog.current_setting('work_mem')",
        ],
    )
    .await;
    assert_eq!(results[0]["rows"], results[2]["rows"], "{results:?}");
    assert_eq!(results[3]["rows"], json!([["2MB"]]), "{results:?}");
    // A BEGIN the service sends itself gives its connection back (to be
    // closed): the statements after it run, and commit, on another.
    let results = pooled(
        &app,
        "t1",
        &[
            pid,
            // An empty statement and a comment do not hide it.
            "; -- empty\n;BEGIN",
            pid,
            "CREATE TABLE IF NOT EXISTS after_a_begin (x int)",
        ],
    )
    .await;
    assert!(
        results[1]["rows"].is_array(),
        "PostgreSQL ran it: {results:?}"
    );
    assert_ne!(results[0]["rows"], results[2]["rows"], "{results:?}");
    let results = pooled(
        &app,
        "t1",
        &[
            "SELECT count(*) FROM after_a_begin",
            "SELECT pg_catalog.current_setting('work_mem') <> '2MB'",
        ],
    )
    .await;
    assert_eq!(results[0]["rows"], json!([[0]]), "{results:?}");
    // ...and what a request SET is gone at the next one.
    assert_eq!(results[1]["rows"], json!([[true]]), "{results:?}");
}
