//! Tenants: resolved from a header, a subdomain or the path; each with its
//! own services and data, which never meet, whatever SQL is sent.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestConfig, component, error, json, on_postgres};

async fn header_mode() -> TestApp {
    let app = TestApp::spawn_with(TestConfig {
        plugins: vec!["items", "hello"],
        toml: "[tenancy]\nmode = \"header\"".into(),
        ..TestConfig::default()
    })
    .await;
    for tenant in ["acme", "globex"] {
        let response = app
            .admin(Method::PUT, &format!("/tenants/{tenant}"), None)
            .await;
        assert_eq!(response.status(), 201);
        for service in ["items", "test/hostile"] {
            let name = service.rsplit('/').next().unwrap();
            let response = app
                .admin(
                    Method::PUT,
                    &format!("/tenants/{tenant}/services/{name}"),
                    Some(component(service)),
                )
                .await;
            assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
        }
    }
    app
}

async fn as_tenant(
    app: &TestApp,
    tenant: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = app
        .client
        .request(method, app.url(path))
        .header("x-berth-tenant", tenant);
    if let Some(body) = body {
        request = request.json(&body);
    }
    json(request.send().await.unwrap()).await
}

#[tokio::test]
async fn two_tenants_running_the_same_service_never_see_each_others_data() {
    let app = header_mode().await;
    let (status, _) = as_tenant(
        &app,
        "acme",
        Method::POST,
        "/items",
        Some(json!({"name": "acme secret", "price": 1})),
    )
    .await;
    assert_eq!(status, 201);
    let (_, acme) = as_tenant(&app, "acme", Method::GET, "/items", None).await;
    let (_, globex) = as_tenant(&app, "globex", Method::GET, "/items", None).await;
    assert_eq!(acme["total"], 1);
    assert_eq!(globex["total"], 0);
    let (status, _) = as_tenant(&app, "globex", Method::GET, "/items/1", None).await;
    assert_eq!(status, 404, "acme's item 1 is not globex's");

    // The default tenant has its own items too, also empty.
    let (_, default) = json(app.get("/items").await).await;
    assert!(
        default.is_null() || default["error"]["code"] == "tenant_required",
        "{default}"
    );

    // Hostile SQL from globex: other files or schemas, other tables, the
    // host's tables.
    let statements: Vec<String> = if on_postgres() {
        let (acme_schema, _) = crate::pg_isolation::namespace_names(&app, "acme", "items").await;
        vec![
            format!("SELECT * FROM {acme_schema}.items"),
            "SELECT * FROM items".into(),
            "SELECT * FROM public.deployments".into(),
            "SELECT * FROM pg_namespaces".into(),
        ]
    } else {
        let acme_db = app.data_dir().join("services/acme/items.db");
        let host_db = app.data_dir().join("berth.db");
        assert!(acme_db.is_file());
        vec![
            format!("ATTACH DATABASE '{}' AS acme", acme_db.display()),
            format!("ATTACH DATABASE '{}' AS host", host_db.display()),
            "SELECT * FROM items".into(),
            "SELECT * FROM deployments".into(),
            "SELECT * FROM sqlite_master WHERE tbl_name = 'items'".into(),
        ]
    };
    for sql in statements {
        let (status, body) = as_tenant(
            &app,
            "globex",
            Method::POST,
            "/hostile/sql",
            Some(json!({"sql": sql})),
        )
        .await;
        let leaked = body.to_string().contains("acme secret");
        assert!(!leaked, "{sql}: {body}");
        assert!(
            status == 400 || body == json!({"rows": []}),
            "{sql}: {body}"
        );
    }
}

#[tokio::test]
async fn unknown_or_missing_tenants_are_refused() {
    let app = header_mode().await;
    let (status, body) = as_tenant(&app, "initech", Method::GET, "/items", None).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("unknown_tenant"))
    );
    error(app.get("/items").await, 400, "tenant_required").await;
    error(
        app.admin(
            Method::PUT,
            "/tenants/initech/services/items",
            Some(component("items")),
        )
        .await,
        404,
        "unknown_tenant",
    )
    .await;
    error(
        app.admin(Method::PUT, "/tenants/Bad_Name", None).await,
        422,
        "invalid_manifest",
    )
    .await;
}

#[tokio::test]
async fn tenants_are_listed_and_deleting_one_takes_its_services_out() {
    let app = header_mode().await;
    let (_, body) = json(app.admin(Method::GET, "/tenants", None).await).await;
    let tenants: Vec<(&str, u64)> = body["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["name"].as_str().unwrap(), t["services"].as_u64().unwrap()))
        .collect();
    assert_eq!(tenants, [("acme", 2), ("default", 2), ("globex", 2)]);
    let (status, _) = as_tenant(
        &app,
        "globex",
        Method::POST,
        "/items",
        Some(json!({"name": "globex keeps this", "price": 1})),
    )
    .await;
    assert_eq!(status, 201);
    let response = app.admin(Method::DELETE, "/tenants/globex", None).await;
    assert_eq!(response.status(), 204);
    let (status, _) = as_tenant(&app, "globex", Method::GET, "/items", None).await;
    assert_eq!(status, 404);
    error(
        app.admin(Method::DELETE, "/tenants/default", None).await,
        409,
        "conflict",
    )
    .await;
    // Its data is kept: the tenant back, items back, the item is there.
    assert_eq!(
        app.admin(Method::PUT, "/tenants/globex", None)
            .await
            .status(),
        201
    );
    assert_eq!(
        app.deploy_to("globex", "items", "items").await.status(),
        200
    );
    let (_, page) = as_tenant(&app, "globex", Method::GET, "/items", None).await;
    assert_eq!(page["items"][0]["name"], "globex keeps this", "{page}");
}

#[tokio::test]
async fn path_mode_takes_the_tenant_from_the_first_segment() {
    let app = TestApp::spawn_with(TestConfig {
        plugins: vec!["items", "hello"],
        toml: "[tenancy]\nmode = \"path\"\n[tenants.acme]\n[tenants.acme.services.hello]\nsettings = { greeting = \"Welcome\" }".into(),
        ..TestConfig::default()
    })
    .await;
    assert_eq!(app.deploy_to("acme", "hello", "hello").await.status(), 200);
    let (status, body) = json(app.get("/acme/hello/ada").await).await;
    assert_eq!(
        (status, body["message"].as_str()),
        (200, Some("Welcome, ada!"))
    );
    let (status, body) = json(app.get("/default/hello/ada").await).await;
    assert_eq!(
        (status, body["message"].as_str()),
        (200, Some("Hello, ada!"))
    );
    let (status, created) = json(
        app.post_json("/acme/items", &json!({"name": "x", "price": 1}))
            .await,
    )
    .await;
    assert_eq!(
        (status, created.is_object()),
        (404, true),
        "acme has no items service"
    );
}

#[tokio::test]
async fn a_tenant_folder_in_the_plugins_dir_deploys_to_that_tenant() {
    let app = TestApp::spawn_with(TestConfig {
        plugins: vec!["items"],
        toml: "[tenancy]\nmode = \"header\"".into(),
        ..TestConfig::default()
    })
    .await;
    std::fs::create_dir(app.plugins_dir().join("acme")).unwrap();
    app.drop_plugin("acme/hello.wasm", &component("test/hello-v2"));
    let started = std::time::Instant::now();
    loop {
        let (status, body) = as_tenant(&app, "acme", Method::GET, "/hello/x", None).await;
        if status == 200 {
            assert_eq!(body["version"], "2.0.0");
            break;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(3),
            "{status}: {body}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let (status, _) = as_tenant(&app, "default", Method::GET, "/hello/x", None).await;
    assert_eq!(status, 404, "the default tenant has no hello");
}
