//! On PostgreSQL, isolation is PostgreSQL's own: each tenant × service logs
//! in as its own role with rights on its own schema only. Every escape a
//! hostile service might try fails to see or change another's data or the
//! host's tables.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestConfig, component, json, on_postgres};

async fn two_tenants() -> TestApp {
    let app = TestApp::spawn_with(TestConfig {
        plugins: vec![],
        toml: "[tenancy]\nmode = \"header\"".into(),
        ..TestConfig::default()
    })
    .await;
    for tenant in ["acme", "globex"] {
        assert_eq!(
            app.admin(Method::PUT, &format!("/tenants/{tenant}"), None)
                .await
                .status(),
            201
        );
        for (name, component_name) in [("items", "items"), ("hostile", "test/hostile")] {
            let path = format!("/tenants/{tenant}/services/{name}");
            let response = app
                .admin(Method::PUT, &path, Some(component(component_name)))
                .await;
            assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
        }
    }
    let response = app
        .client
        .post(app.url("/items"))
        .header("x-berth-tenant", "acme")
        .json(&json!({"name": "acme secret", "price": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    app
}

/// Runs `statements` in one transaction as globex's hostile service.
async fn as_globex(app: &TestApp, statements: &[&str]) -> Vec<Value> {
    let response = app
        .client
        .post(app.url("/hostile/sql-tx"))
        .header("x-berth-tenant", "globex")
        .json(&json!({ "statements": statements }))
        .send()
        .await
        .unwrap();
    let (status, body) = json(response).await;
    assert_eq!(status, 200, "{body}");
    body["results"].as_array().unwrap().clone()
}

/// The schema and role the host gave `tenant` × `service`, from its records.
pub async fn namespace_names(app: &TestApp, tenant: &str, service: &str) -> (String, String) {
    let url = &app.database().expect("the PostgreSQL pass").url;
    let pool = sqlx::PgPool::connect(url).await.unwrap();
    let names = sqlx::query_as(
        "SELECT schema_name, role_name FROM pg_namespaces WHERE tenant = $1 AND service = $2",
    )
    .bind(tenant)
    .bind(service)
    .fetch_one(&pool)
    .await
    .unwrap();
    pool.close().await;
    names
}

fn refused(result: &Value) -> bool {
    result["db_error"].as_str().is_some()
}

#[tokio::test]
async fn no_sql_from_one_tenant_reaches_another_tenants_data_or_the_hosts_tables() {
    if !on_postgres() {
        return; // PostgreSQL's isolation; SQLite's is tested in `isolation`.
    }
    let app = two_tenants().await;
    // The catalogs no longer list other roles; the attacks below are made
    // as if the names had leaked anyway (they come from the host's records).
    let results = as_globex(&app, &["SELECT rolname FROM pg_roles"]).await;
    assert!(refused(&results[0]), "the roles are listed: {results:?}");
    let (acme_schema, acme_role) = namespace_names(&app, "acme", "items").await;
    let acme_items = format!("{acme_schema}.items");
    let attempts: Vec<(&str, Vec<String>)> = vec![
        (
            "a schema-qualified name",
            vec![format!("SELECT * FROM {acme_items}")],
        ),
        (
            "SET ROLE",
            vec![
                format!("SET ROLE \"{acme_role}\""),
                format!("SELECT * FROM {acme_items}"),
            ],
        ),
        (
            "RESET ROLE",
            vec!["RESET ROLE".into(), format!("SELECT * FROM {acme_items}")],
        ),
        (
            "SET SESSION AUTHORIZATION",
            vec![
                format!("SET SESSION AUTHORIZATION \"{acme_role}\""),
                "SELECT * FROM items".into(),
            ],
        ),
        (
            "set_config('search_path')",
            vec![
                format!("SELECT set_config('search_path', '{acme_schema}', false)"),
                "SELECT * FROM items".into(),
            ],
        ),
        (
            "the host's deployments",
            vec!["SELECT * FROM public.deployments".into()],
        ),
        (
            "the host's role secrets",
            vec!["SELECT password FROM public.pg_namespaces".into()],
        ),
        (
            "reading a server file",
            vec!["SELECT pg_read_file('/etc/passwd')".into()],
        ),
        (
            "COPY to a server file",
            vec!["COPY (SELECT 1) TO '/tmp/berth-escape'".into()],
        ),
        (
            "COPY from a program",
            vec!["COPY (SELECT 1) TO PROGRAM 'id'".into()],
        ),
        (
            "a DO block",
            vec![
                format!("DO $$ BEGIN PERFORM * FROM {acme_items}; END $$"),
                "SELECT 1".into(),
            ],
        ),
        (
            "a function",
            vec![
                format!(
                    "CREATE FUNCTION peek() RETURNS SETOF text LANGUAGE sql AS 'SELECT name FROM {acme_items}'"
                ),
                "SELECT * FROM peek()".into(),
            ],
        ),
        ("creating a schema", vec!["CREATE SCHEMA evil".into()]),
        (
            "writing to another's table",
            vec![format!("DELETE FROM {acme_items}")],
        ),
        ("dblink", vec!["CREATE EXTENSION dblink".into()]),
    ];
    for (what, statements) in attempts {
        let statements: Vec<&str> = statements.iter().map(String::as_str).collect();
        let results = as_globex(&app, &statements).await;
        let text = Value::Array(results.clone()).to_string();
        assert!(
            !text.contains("acme secret"),
            "{what} leaked acme's data: {text}"
        );
        assert!(
            results.iter().any(refused),
            "{what} was not refused: {text}"
        );
    }
    // The catalog lists names, never data.
    let results = as_globex(
        &app,
        &[&format!(
            "SELECT * FROM pg_catalog.pg_tables WHERE schemaname = '{acme_schema}'"
        )],
    )
    .await;
    assert!(!Value::Array(results).to_string().contains("acme secret"));

    // acme's data is intact.
    let response = app
        .client
        .get(app.url("/items"))
        .header("x-berth-tenant", "acme")
        .send()
        .await
        .unwrap();
    let (_, page) = json(response).await;
    assert_eq!(page["total"], 1);
    assert_eq!(page["items"][0]["name"], "acme secret");
}

#[tokio::test]
async fn a_service_that_raises_its_own_statement_timeout_is_still_stopped() {
    if !on_postgres() {
        return;
    }
    let app = TestApp::spawn_with(TestConfig {
        plugins: vec!["test/hostile"],
        toml: "[services.hostile.limits]\nstatement_timeout_ms = 300\nrequest_timeout_ms = 5000"
            .into(),
        ..TestConfig::default()
    })
    .await;
    let started = std::time::Instant::now();
    let response = app
        .client
        .post(app.url("/hostile/sql-tx"))
        .json(&json!({"statements": ["SET statement_timeout = 0", "SELECT pg_sleep(30)"]}))
        .send()
        .await
        .unwrap();
    let (status, body) = json(response).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body["results"][1]["db_error"]
            .as_str()
            .unwrap()
            .contains("LimitExceeded"),
        "{body}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
}
