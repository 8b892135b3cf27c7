//! Standard `wasi:http/proxy` components, deployed like services: mounted
//! at their name (or the operator's prefix) with the routes the operator
//! gives them, seeing their path relative to the mount point, held to the
//! same deadline, memory, response and outbound limits, in any tenant.

use reqwest::Method;
use serde_json::Value;

use crate::helpers::{PingServer, TestApp, TestConfig, component, error, json};

fn proxy(toml: &str) -> TestConfig {
    TestConfig {
        plugins: vec!["test/proxy", "hello"],
        toml: toml.into(),
        ..TestConfig::default()
    }
}

#[tokio::test]
async fn a_standard_component_is_mounted_at_its_name_and_sees_the_path_below_it() {
    let app = TestApp::spawn_with(proxy("")).await;
    let (status, seen) = json(app.get("/proxy/echo/ada?x=1&y=%20").await).await;
    assert_eq!(status, 200, "{seen}");
    assert_eq!(seen["method"], "GET");
    assert_eq!(seen["path"], "/echo/ada?x=1&y=%20");
    assert_eq!(seen["prefix"], "/proxy");
    assert_eq!(seen["authority"], app.address.to_string());
    let (_, seen) = json(app.get("/proxy").await).await;
    assert_eq!(seen["path"], "/");

    let response = app
        .client
        .post(app.url("/proxy/echo"))
        .header("x-forwarded-prefix", "/forged")
        .body("a body")
        .send()
        .await
        .unwrap();
    let (status, seen) = json(response).await;
    assert_eq!(status, 200);
    assert_eq!(
        (seen["method"].as_str(), seen["body"].as_str()),
        (Some("POST"), Some("a body"))
    );
    assert_eq!(
        seen["prefix"], "/proxy",
        "the host sets the prefix, not the client"
    );
    let response = app
        .client
        .get(app.url("/proxy/echo"))
        .header("forwarded", "for=10.0.0.1;host=evil.example")
        .header("x-forwarded-for", "10.0.0.1")
        .header("x-forwarded-host", "evil.example")
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .unwrap();
    let (_, seen) = json(response).await;
    assert_eq!(
        seen["forwarded"], "",
        "what a client says of earlier hops is dropped"
    );

    // Repeated headers keep every value; the connection's are the host's.
    let response = app.get("/proxy/headers").await;
    assert_eq!(response.status(), 200);
    let vary: Vec<_> = response.headers().get_all("vary").iter().collect();
    assert_eq!(vary, ["accept", "origin"]);
    assert!(response.headers().get("te").is_none());
    assert!(response.headers().get("trailer").is_none());

    let head = app
        .client
        .head(app.url("/proxy/echo"))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    assert!(head.bytes().await.unwrap().is_empty());

    let view = app.service("proxy").await;
    assert_eq!(view["kind"], "wasi-http-proxy");
    assert!(
        view["version"].as_str().unwrap().starts_with("sha256:"),
        "{view}"
    );
    assert_eq!(app.service("hello").await["kind"], "berth-service");
    let metrics = app.metrics().await;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("berth_requests_total{") && l.contains("service=\"proxy\"")),
        "{metrics}"
    );
}

#[tokio::test]
async fn the_operator_gives_a_standard_component_its_routes_prefix_and_openapi() {
    let app = TestApp::spawn_with(proxy(
        r#"
        [services.proxy]
        prefix = "/edge"
        routes = ["GET /echo/{name}", "POST /echo"]
        [services.proxy.openapi."/echo/{name}".get]
        summary = "Echoes a name"
        description = "Answers what it saw."
        "#,
    ))
    .await;
    let (status, seen) = json(app.get("/edge/echo/ada").await).await;
    assert_eq!(status, 200, "{seen}");
    assert_eq!(
        (seen["path"].as_str(), seen["prefix"].as_str()),
        (Some("/echo/ada"), Some("/edge"))
    );
    error(app.get("/edge/spin").await, 404, "not_found").await;
    error(app.get("/proxy/echo/ada").await, 404, "not_found").await;
    let response = app.send(Method::DELETE, "/edge/echo", None).await;
    error(response, 405, "method_not_allowed").await;

    let (_, openapi) = json(app.get("/openapi.json").await).await;
    let get = &openapi["paths"]["/edge/echo/{name}"]["get"];
    assert_eq!(get["summary"], "Echoes a name", "{openapi}");
    assert_eq!(get["description"], "Answers what it saw.");
    assert_eq!(get["parameters"][0]["name"], "name");
    assert!(
        openapi["paths"]["/edge/echo"]["post"].is_object(),
        "{openapi}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standard_component_is_held_to_its_deadline_memory_and_response_limit() {
    let app = TestApp::spawn_with(proxy(
        "[services.proxy.limits]\nrequest_timeout_ms = 2000\nmemory_mb = 32\nmax_response_bytes = 65536",
    ))
    .await;
    error(app.get("/proxy/spin").await, 504, "timeout").await;
    error(app.get("/proxy/grow").await, 500, "service_failed").await;
    error(app.get("/proxy/stream").await, 500, "response_too_large").await;
    error(app.get("/proxy/drip").await, 500, "response_too_large").await;
    error(app.get("/proxy/unset").await, 500, "service_failed").await;
    // Never a response cut short by a trap: the host answers whole ones.
    error(app.get("/proxy/cut").await, 500, "service_failed").await;
    // Only the statuses of a final response.
    for status in [101, 103, 600, 999] {
        let path = format!("/proxy/status?{status}");
        error(app.get(&path).await, 500, "service_failed").await;
    }
    assert_eq!(app.get("/proxy/status?599").await.status(), 599);
    let (status, _) = json(app.get("/proxy/echo").await).await;
    assert_eq!(status, 200, "it keeps serving");
    let (status, _) = json(app.get("/hello/ada").await).await;
    assert_eq!(status, 200, "and so do the others");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standard_component_reaches_only_the_hosts_allow_listed_for_it() {
    let server = PingServer::start(202).await.address;
    let denied = TestApp::spawn_with(proxy("")).await;
    let (status, body) = json(
        denied
            .get(&format!("/proxy/fetch?http://{server}/ping"))
            .await,
    )
    .await;
    assert_eq!(status, 502, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("HttpRequestDenied"),
        "{body}"
    );

    let allowed = TestApp::spawn_with(proxy(&format!(
        "[services.proxy]\nallowed_outbound_hosts = [\"http://{server}\"]"
    )))
    .await;
    let (status, body) = json(
        allowed
            .get(&format!("/proxy/fetch?http://{server}/ping"))
            .await,
    )
    .await;
    assert_eq!(
        (status, &body["status"]),
        (200, &Value::from(202)),
        "{body}"
    );
}

#[tokio::test]
async fn a_standard_component_deploys_into_a_tenant_through_the_admin_api() {
    let app = TestApp::spawn_with(TestConfig {
        toml: "[tenancy]\nmode = \"header\"\n[tenants.acme]".into(),
        ..TestConfig::default()
    })
    .await;
    let response = app
        .admin(
            Method::PUT,
            "/tenants/acme/services/edge",
            Some(component("test/proxy")),
        )
        .await;
    let (status, body) = json(response).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["deployed"]["name"], "edge");
    let seen = |tenant: &'static str| {
        app.client
            .get(app.url("/edge/echo"))
            .header("x-berth-tenant", tenant)
            .send()
    };
    let (status, body) = json(seen("acme").await.unwrap()).await;
    assert_eq!(
        (status, &body["prefix"]),
        (200, &Value::from("/edge")),
        "{body}"
    );
    error(seen("default").await.unwrap(), 404, "not_found").await;

    // The standard component of `wasmtime serve` (the benchmark's).
    let response = app
        .admin(
            Method::PUT,
            "/tenants/acme/services/wasi-hello",
            Some(component("test/wasi-hello")),
        )
        .await;
    assert_eq!(response.status(), 200);
    let response = app
        .client
        .get(app.url("/wasi-hello/hello/ada"))
        .header("x-berth-tenant", "acme")
        .send()
        .await
        .unwrap();
    let (status, body) = json(response).await;
    assert_eq!(
        (status, &body["message"]),
        (200, &Value::from("Hello, ada!")),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_whose_client_goes_away_stops_its_component() {
    let ping = PingServer::start(200).await;
    let server = ping.address;
    let app = TestApp::spawn_with(proxy(&format!(
        "[services.proxy]\nallowed_outbound_hosts = [\"http://{server}\"]\n[services.proxy.limits]\nrequest_timeout_ms = 10000"
    )))
    .await;
    // The component would call out after 1.5 s; its clients leave at 0.2 s.
    for _ in 0..4 {
        let gave_up = app
            .client
            .get(app.url(&format!("/proxy/late?http://{server}/ping")))
            .timeout(std::time::Duration::from_millis(200))
            .send()
            .await;
        assert!(gave_up.is_err(), "the client gave up first");
    }
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    assert_eq!(ping.hits(), 0, "no abandoned component went on to call out");
    // A request that waits for its answer does get that far.
    let (status, _) = json(app.get(&format!("/proxy/late?http://{server}/ping")).await).await;
    assert_eq!(status, 200);
    assert_eq!(ping.hits(), 1);
}

#[tokio::test]
async fn with_path_tenancy_a_standard_component_is_told_its_public_prefix() {
    let app = TestApp::spawn_with(TestConfig {
        toml: "[tenancy]\nmode = \"path\"\n[tenants.acme]".into(),
        ..TestConfig::default()
    })
    .await;
    let response = app
        .admin(
            reqwest::Method::PUT,
            "/tenants/acme/services/edge",
            Some(component("test/proxy")),
        )
        .await;
    assert_eq!(response.status(), 200);
    let (status, seen) = json(app.get("/acme/edge/echo?x=1").await).await;
    assert_eq!(status, 200, "{seen}");
    assert_eq!(
        (seen["prefix"].as_str(), seen["path"].as_str()),
        (Some("/acme/edge"), Some("/echo?x=1"))
    );
}
