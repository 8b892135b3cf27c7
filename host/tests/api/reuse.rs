//! Instance reuse (`reuse_instances`): a warm instance serves later requests
//! of its own tenant × service × version and nothing else. One that trapped,
//! ran past its deadline or its memory, kept a host resource, served its
//! share of requests, aged out, or was swapped out never serves again.
//!
//! `hostile`'s `/remember?value=` keeps a value in a global and `/recall`
//! answers it: `null` means the request ran in a fresh instance.

use reqwest::Method;
use serde_json::Value;

use crate::helpers::{TestApp, TestConfig, component, json, padded};

/// One warm instance at most, so that requests in sequence meet it.
const ONE_WARM: &str = "
[services.hostile.limits]
request_timeout_ms = 1000
memory_mb = 16
[services.hostile]
reuse_instances = 1
";

async fn spawn(toml: &str) -> TestApp {
    TestApp::spawn_with(TestConfig {
        plugins: vec!["test/hostile"],
        toml: toml.into(),
        ..TestConfig::default()
    })
    .await
}

async fn remember(app: &TestApp, tenant: Option<&str>, value: &str) {
    let (status, body) = send(app, tenant, &format!("/hostile/remember?value={value}")).await;
    assert_eq!(status, 200, "{body}");
}

/// What the instance that serves the request remembers.
async fn recall(app: &TestApp, tenant: Option<&str>) -> Value {
    let (status, body) = send(app, tenant, "/hostile/recall").await;
    assert_eq!(status, 200, "{body}");
    body["value"].clone()
}

async fn send(app: &TestApp, tenant: Option<&str>, path: &str) -> (u16, Value) {
    let mut request = app.client.get(app.url(path));
    if let Some(tenant) = tenant {
        request = request.header("x-berth-tenant", tenant);
    }
    json(request.send().await.unwrap()).await
}

#[tokio::test]
async fn by_default_every_request_gets_a_fresh_instance() {
    let app = spawn("").await;
    remember(&app, None, "kept").await;
    assert_eq!(recall(&app, None).await, Value::Null);
}

#[tokio::test]
async fn a_warm_instance_serves_its_own_tenant_again_and_never_another() {
    let app = TestApp::spawn_with(TestConfig {
        plugins: vec![],
        toml: format!("[tenancy]\nmode = \"header\"\n{ONE_WARM}"),
        ..TestConfig::default()
    })
    .await;
    for tenant in ["acme", "globex"] {
        let path = format!("/tenants/{tenant}");
        assert_eq!(app.admin(Method::PUT, &path, None).await.status(), 201);
        let response = app.deploy_to(tenant, "hostile", "test/hostile").await;
        assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    }
    remember(&app, Some("acme"), "acme-secret").await;
    assert_eq!(
        recall(&app, Some("acme")).await,
        "acme-secret",
        "reuse is on: the same instance served both"
    );
    assert_eq!(
        recall(&app, Some("globex")).await,
        Value::Null,
        "another tenant never gets acme's instance"
    );
    remember(&app, Some("globex"), "globex-secret").await;
    assert_eq!(recall(&app, Some("acme")).await, "acme-secret");
    assert_eq!(recall(&app, Some("globex")).await, "globex-secret");
}

#[tokio::test]
async fn an_instance_that_trapped_timed_out_ran_out_of_memory_or_kept_a_transaction_is_dropped() {
    let app = spawn(ONE_WARM).await;
    for (route, status) in [
        ("/hostile/trap", 500),
        ("/hostile/panic", 500),
        ("/hostile/spin", 504),
        ("/hostile/memory", 500),
        ("/hostile/keep-tx", 200),
    ] {
        remember(&app, None, "before").await;
        assert_eq!(recall(&app, None).await, "before", "warm before {route}");
        let (got, body) = send(&app, None, route).await;
        assert_eq!(got, status, "{route}: {body}");
        assert_eq!(
            recall(&app, None).await,
            Value::Null,
            "after {route}, a fresh instance"
        );
    }
    // The transaction kept by /keep-tx ended with its instance: the
    // database takes writes.
    let (status, body) = json(
        app.post_json(
            "/hostile/sql",
            &serde_json::json!({"sql": "INSERT INTO secrets (value) VALUES ('after')", "execute": true}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn a_hot_swap_leaves_the_old_versions_instances_behind() {
    let app = spawn(ONE_WARM).await;
    remember(&app, None, "v1").await;
    assert_eq!(recall(&app, None).await, "v1");
    let response = app
        .admin(
            Method::PUT,
            "/services/hostile",
            Some(padded("test/hostile", 16)),
        )
        .await;
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    assert_eq!(
        recall(&app, None).await,
        Value::Null,
        "the new version starts with no warm instance"
    );
    remember(&app, None, "v2").await;
    assert_eq!(recall(&app, None).await, "v2");
    // Back to the first version: its instances are long gone too.
    let response = app
        .admin(
            Method::PUT,
            "/services/hostile",
            Some(component("test/hostile")),
        )
        .await;
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    assert_eq!(recall(&app, None).await, Value::Null);
}

#[tokio::test]
async fn an_instance_is_dropped_after_its_share_of_requests_and_its_age() {
    let app = spawn(&format!("{ONE_WARM}reuse_max_requests = 3\n")).await;
    remember(&app, None, "x").await;
    assert_eq!(recall(&app, None).await, "x");
    assert_eq!(recall(&app, None).await, "x", "the third request");
    assert_eq!(recall(&app, None).await, Value::Null, "a fourth, elsewhere");

    let app = spawn(&format!("{ONE_WARM}reuse_max_age_ms = 300\n")).await;
    remember(&app, None, "x").await;
    assert_eq!(recall(&app, None).await, "x");
    assert_eq!(app.service("hostile").await["reuse"]["idle"], 1);
    // The sweeper drops it once too old, with no request to notice.
    tokio::time::sleep(std::time::Duration::from_millis(1_500)).await;
    assert_eq!(app.service("hostile").await["reuse"]["idle"], 0, "swept");
    assert_eq!(recall(&app, None).await, Value::Null, "too old to serve");
}

/// The instances of every language's `items` end their requests holding
/// nothing but their output streams, so they go back warm and serve again.
#[tokio::test]
async fn rust_python_and_javascript_instances_go_back_warm_after_reads_and_writes() {
    for items in [
        crate::items::RUST,
        crate::items::PYTHON,
        crate::items::JAVASCRIPT,
    ] {
        let app = items.reused().spawn().await;
        let name = items.base.trim_start_matches('/');
        for i in 0..3 {
            let body = serde_json::json!({"name": format!("n{i}"), "price": 1});
            let (status, item) = json(app.post_json(items.base, &body).await).await;
            assert_eq!(status, 201, "{name}: {item}");
            let (status, _) = json(app.get(&items.at(&format!("/{}", item["id"]))).await).await;
            assert_eq!(status, 200);
        }
        let (status, page) = json(app.get(items.base).await).await;
        assert_eq!(
            (status, page["items"].as_array().map(Vec::len)),
            (200, Some(3))
        );
        let reuse = &app.service(name).await["reuse"];
        assert_eq!(reuse["idle"], 1, "{name}: {reuse}");
        assert_eq!(
            reuse["warm_requests"], 6,
            "{name}: all but the first: {reuse}"
        );
    }
}

/// Idle instances never cost a request its instance: two idle `items-py`
/// instances hold most of a small pool's core instances, and a request to
/// another service, which then finds the pool full, drops them and runs.
#[tokio::test]
async fn idle_instances_give_way_when_the_pool_is_full() {
    let app = TestApp::spawn_with(TestConfig {
        plugins: vec!["items-py", "test/hello-py"],
        toml: "[runtime]\nmax_instances = 3\nmax_warm_instances = 2\ntenant_max_instances = 3\n\
               [services.items-py]\nreuse_instances = 2\n"
            .into(),
        ..TestConfig::default()
    })
    .await;
    // Until two instances are idle: requests that overlap each take one.
    let mut idle = 0;
    for _ in 0..20 {
        let (a, b, c, d) = tokio::join!(
            app.get("/items-py"),
            app.get("/items-py"),
            app.get("/items-py"),
            app.get("/items-py")
        );
        for response in [a, b, c, d] {
            assert_eq!(response.status(), 200);
        }
        idle = app.service("items-py").await["reuse"]["idle"]
            .as_u64()
            .unwrap();
        if idle == 2 {
            break;
        }
    }
    assert_eq!(idle, 2, "two overlapping requests left two idle instances");
    let (status, body) = json(app.get("/hello-py/pool").await).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        app.service("items-py").await["reuse"]["idle"],
        0,
        "the idle instances made way"
    );
}
