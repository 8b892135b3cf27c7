//! The operators' console and live logs: `/console` is served only with the
//! admin API and cannot be framed; the endpoints it reads refuse a missing
//! or wrong token; a service's live log carries its requests, its log
//! calls, its stdout and stderr and the host's lines about it, bounded and
//! filed by tenant and service.

use std::time::Duration;

use reqwest::Method;
use serde_json::Value;

use crate::helpers::{ADMIN_TOKEN, TestApp, TestConfig, component, error, json};

/// Headers that keep an answer out of frames and caches.
fn assert_unframeable(response: &reqwest::Response, what: &str) {
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(header("x-frame-options"), "DENY", "{what}");
    assert!(
        header("content-security-policy").contains("frame-ancestors 'none'"),
        "{what}: {}",
        header("content-security-policy")
    );
    assert_eq!(header("x-content-type-options"), "nosniff", "{what}");
}

/// The lines of an NDJSON body.
async fn lines(response: reqwest::Response) -> Vec<Value> {
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

async fn log_of(app: &TestApp, scope: &str, service: &str) -> Vec<Value> {
    let path = format!("{scope}/services/{service}/logs?lines=1000");
    lines(app.admin(Method::GET, &path, None).await).await
}

/// Reads a followed log until a line satisfies `wanted`, for at most 10 s.
async fn follow_until(
    response: &mut reqwest::Response,
    seen: &mut Vec<Value>,
    wanted: impl Fn(&Value) -> bool,
) -> Value {
    let mut pending = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(found) = seen.iter().find(|l| wanted(l)) {
            return found.clone();
        }
        let chunk = tokio::time::timeout_at(deadline, response.chunk())
            .await
            .unwrap_or_else(|_| panic!("the line did not come; saw {seen:#?}"))
            .unwrap()
            .expect("the stream stays open");
        pending.extend_from_slice(&chunk);
        while let Some(end) = pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            if let Ok(value) = serde_json::from_slice::<Value>(&line) {
                seen.push(value);
            }
        }
    }
}

#[tokio::test]
async fn the_console_is_served_with_the_admin_api_only_and_cannot_be_framed() {
    let app = TestApp::spawn().await;
    let page = app.admin_get("/console").await;
    assert_eq!(page.status(), 200);
    assert_unframeable(&page, "/console");
    let policy = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    for rule in [
        "default-src 'none'",
        "script-src 'self'",
        "connect-src 'self'",
        "form-action 'none'",
    ] {
        assert!(policy.contains(rule), "{rule} missing from {policy}");
    }
    assert!(!policy.contains("unsafe-inline"), "{policy}");
    let html = page.text().await.unwrap();
    assert!(html.contains("/console/console.js") && html.contains("Admin token"));
    for asset in ["console.js", "console.css"] {
        let response = app.admin_get(&format!("/console/{asset}")).await;
        assert_eq!(response.status(), 200, "{asset}");
        assert_unframeable(&response, asset);
        assert!(!response.bytes().await.unwrap().is_empty());
    }
    error(app.admin_get("/console/..%2fadmin").await, 404, "not_found").await;
    error(
        app.admin_get("/console/secrets.txt").await,
        404,
        "not_found",
    )
    .await;

    // Without an admin token there is no admin API, and no console.
    let closed = TestApp::spawn_with(TestConfig {
        admin_token: None,
        ..TestConfig::default()
    })
    .await;
    error(closed.admin_get("/console").await, 404, "not_found").await;
    error(
        closed.admin_get("/console/console.js").await,
        404,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn the_consoles_endpoints_refuse_a_missing_or_wrong_token_and_cannot_be_framed() {
    let app = TestApp::spawn().await;
    app.get("/hello/secret-visitor").await;
    let endpoints = [
        "/admin/tenants",
        "/admin/services",
        "/admin/tenants/default/services",
        "/admin/history",
        "/admin/tenants/default/history",
        "/admin/services/hello/history",
        "/admin/services/hello/logs",
        "/admin/services/hello/logs?follow=true",
        "/admin/tenants/default/services/hello/logs?follow=true",
    ];
    for path in endpoints {
        for token in [None, Some("wrong-token-wrong-token"), Some("")] {
            let mut request = app.client.get(app.admin_url(path));
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            let response = request.send().await.unwrap();
            assert_unframeable(&response, path);
            let body = error(response, 401, "unauthorized").await;
            let text = body.to_string();
            assert!(
                !text.contains("secret-visitor") && !text.contains("hello"),
                "{path}: {text}"
            );
        }
        // A cookie is not a token.
        let response = app
            .client
            .get(app.admin_url(path))
            .header(
                "cookie",
                format!("token={ADMIN_TOKEN}; berth={ADMIN_TOKEN}"),
            )
            .send()
            .await
            .unwrap();
        error(response, 401, "unauthorized").await;
    }
    // With the token, every one answers, still unframeable and uncached.
    for path in endpoints.iter().filter(|p| !p.contains("follow")) {
        let response = app
            .admin(Method::GET, path.trim_start_matches("/admin"), None)
            .await;
        assert_eq!(response.status(), 200, "{path}");
        assert_unframeable(&response, path);
        assert_eq!(response.headers()["cache-control"], "no-store", "{path}");
    }
}

#[tokio::test]
async fn a_request_shows_in_the_followed_log_with_what_the_service_logged() {
    let app = TestApp::spawn().await;
    let mut follow = app
        .admin(
            Method::GET,
            "/services/hello/logs?follow=true&lines=50",
            None,
        )
        .await;
    assert_eq!(follow.status(), 200);
    assert_eq!(
        follow.headers()["content-type"],
        "application/x-ndjson; charset=utf-8"
    );
    let mut seen = Vec::new();
    // The backlog begins with the host's line about the deploy.
    let deployed = follow_until(&mut follow, &mut seen, |l| l["origin"] == "host").await;
    assert!(
        deployed["message"]
            .as_str()
            .unwrap()
            .starts_with("service deployed: 1.0.0"),
        "{deployed}"
    );
    let response = app
        .client
        .get(app.url("/hello/console-visitor?secret=query-is-not-logged"))
        .header("x-request-id", "req-console-1")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let request = follow_until(&mut follow, &mut seen, |l| {
        l["origin"] == "request" && l["message"].as_str().unwrap().contains("console-visitor")
    })
    .await;
    let message = request["message"].as_str().unwrap();
    assert!(
        message.starts_with("GET /hello/console-visitor 200 in "),
        "{message}"
    );
    assert!(!request.to_string().contains("query-is-not-logged"));
    assert_eq!(request["tenant"], "default");
    assert_eq!(request["service"], "hello");
    assert_eq!(request["level"], "info");
    assert_eq!(request["request_id"], "req-console-1");
    let logged = seen
        .iter()
        .find(|l| l["origin"] == "service" && l["message"] == "greeted")
        .unwrap_or_else(|| panic!("hello's own log line is missing: {seen:#?}"));
    assert_eq!(logged["request_id"], "req-console-1");
    assert_eq!(logged["fields"], "version=1.0.0");
    assert!(logged["seq"].as_u64() < request["seq"].as_u64());

    // The same lines without following; items' log has none of them.
    let hello = log_of(&app, "", "hello").await;
    assert!(hello.iter().any(|l| l["request_id"] == "req-console-1"));
    let items = log_of(&app, "", "items").await;
    assert!(
        !items
            .iter()
            .any(|l| l.to_string().contains("console-visitor"))
    );
    // A client's path is bounded in its line, and cannot forge a line.
    let long = format!("/hello/{}%0AINFO%20forged", "p".repeat(5_000));
    app.get(&long).await;
    let last = log_of(&app, "", "hello").await.pop().unwrap();
    let message = last["message"].as_str().unwrap();
    assert!(message.len() < 400, "a {}-byte line", message.len());
    assert!(!message.contains('\n'));
    // A refused request is a line too, as a warning with its outcome.
    app.get("/hello/%20").await;
    let refused = log_of(&app, "", "hello").await;
    let last = refused.last().unwrap();
    assert_eq!(last["level"], "warn", "{last}");
    assert!(
        last["message"].as_str().unwrap().contains(" 422 in "),
        "{last}"
    );
}

#[tokio::test]
async fn stdout_stderr_traps_and_deploys_reach_the_log_bounded() {
    let app = TestApp::spawn().await;
    assert_eq!(app.deploy("hostile", "test/hostile").await.status(), 200);
    app.get("/hostile/print?message=to-the-operator").await;
    // A client's request id is its own; the log keeps 64 bytes of it.
    let response = app
        .client
        .get(app.url("/hostile/panic"))
        .header("x-request-id", "r".repeat(30_000))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 500);
    let long = "x".repeat(20_000);
    app.get(&format!("/hostile/log?message={long}")).await;
    let log = log_of(&app, "", "hostile").await;
    let find = |origin: &str, text: &str| {
        log.iter()
            .find(|l| l["origin"] == origin && l["message"].as_str().unwrap().contains(text))
            .unwrap_or_else(|| panic!("no {origin} line with {text}: {log:#?}"))
            .clone()
    };
    assert_eq!(find("stdout", "out: to-the-operator")["level"], "info");
    assert_eq!(find("stderr", "err: to-the-operator")["level"], "warn");
    let trap = find("host", "trapped");
    assert_eq!(trap["level"], "error");
    for line in &log {
        let id = line["request_id"].as_str().unwrap_or_default();
        assert!(
            id.len() <= 64 + 3,
            "a request id of {} bytes was kept",
            id.len()
        );
    }
    assert!(trap["request_id"].as_str().unwrap().starts_with("rrrr"));
    assert_eq!(find("request", "/hostile/panic 500")["level"], "error");
    assert!(
        find("host", "service deployed")
            .to_string()
            .contains("from api")
    );
    let logged = find("service", "xxxx");
    assert!(
        logged["message"].as_str().unwrap().len() <= 4100,
        "a message is bounded"
    );

    // A refused deploy is a line of that service's log.
    let refused = app
        .admin(Method::PUT, "/services/hello", Some(b"not wasm".to_vec()))
        .await;
    assert_eq!(refused.status(), 422);
    let hello = log_of(&app, "", "hello").await;
    let line = hello.last().unwrap();
    assert_eq!(line["level"], "error");
    assert!(
        line["message"]
            .as_str()
            .unwrap()
            .starts_with("deploy refused"),
        "{line}"
    );
}

#[tokio::test]
async fn one_tenants_log_never_shows_another_tenants_lines() {
    let app = TestApp::spawn_with(TestConfig {
        toml: "[tenancy]\nmode = \"header\"".into(),
        ..TestConfig::default()
    })
    .await;
    for tenant in ["acme", "globex"] {
        let created = app
            .admin(Method::PUT, &format!("/tenants/{tenant}"), None)
            .await;
        assert_eq!(created.status(), 201);
        assert_eq!(app.deploy_to(tenant, "hello", "hello").await.status(), 200);
    }
    let response = app
        .client
        .get(app.url("/hello/acme-private"))
        .header("x-berth-tenant", "acme")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let acme = log_of(&app, "/tenants/acme", "hello").await;
    assert!(acme.iter().any(|l| l.to_string().contains("acme-private")));
    assert!(acme.iter().all(|l| l["tenant"] == "acme"));
    for scope in ["/tenants/globex", "/tenants/default", ""] {
        let other = log_of(&app, scope, "hello").await;
        assert!(!other.is_empty());
        assert!(
            !other.iter().any(|l| l.to_string().contains("acme-private")),
            "{scope}: {other:#?}"
        );
    }
    error(
        app.admin(Method::GET, "/tenants/nobody/services/hello/logs", None)
            .await,
        404,
        "unknown_tenant",
    )
    .await;
    error(
        app.admin(Method::GET, "/tenants/acme/services/items/logs", None)
            .await,
        404,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn bad_log_queries_get_clear_errors() {
    let app = TestApp::spawn().await;
    for (query, field) in [
        ("lines=1001", "lines"),
        ("lines=-1", "lines"),
        ("lines=99999999999999999999999", "lines"),
        ("follow=maybe", "follow"),
        ("tenant=globex", "tenant"),
    ] {
        let body = error(
            app.admin(Method::GET, &format!("/services/hello/logs?{query}"), None)
                .await,
            422,
            "validation_error",
        )
        .await;
        assert!(body.to_string().contains(field), "{query}: {body}");
    }
    let at_most = log_of(&app, "", "hello").await;
    assert!(at_most.len() <= 1000);
}

#[tokio::test]
async fn followers_are_bounded_per_operator_token_and_the_admin_is_never_refused() {
    const ACME: &str = "acme-operator-token-0123456789";
    const GLOBEX: &str = "globex-operator-token-0123456789";
    let app = TestApp::spawn_with(TestConfig {
        toml: format!(
            "[tenants.acme]\nadmin_token = \"{ACME}\"\n[tenants.globex]\nadmin_token = \"{GLOBEX}\"\n"
        ),
        ..TestConfig::default()
    })
    .await;
    for tenant in ["acme", "globex"] {
        app.admin(Method::PUT, &format!("/tenants/{tenant}"), None)
            .await;
        assert_eq!(app.deploy_to(tenant, "hello", "hello").await.status(), 200);
    }
    let follow = |token: &'static str, tenant: &str| {
        app.client
            .get(app.admin_url(&format!(
                "/admin/tenants/{tenant}/services/hello/logs?follow=true&lines=0"
            )))
            .bearer_auth(token)
            .send()
    };
    // acme's operator takes every place its token has...
    let mut streams = Vec::new();
    for _ in 0..16 {
        let response = follow(ACME, "acme").await.unwrap();
        assert_eq!(response.status(), 200);
        streams.push(response);
    }
    let refused = follow(ACME, "acme").await.unwrap();
    assert!(refused.headers().contains_key("retry-after"));
    error(refused, 503, "overloaded").await;
    // ...which costs globex's operator none of its own...
    let other = follow(GLOBEX, "globex").await.unwrap();
    assert_eq!(other.status(), 200);
    streams.push(other);
    // ...and the admin follows acme's log whatever acme's operator holds:
    // a tenant cannot lock the admin out.
    for _ in 0..20 {
        let admin = follow(ADMIN_TOKEN, "acme").await.unwrap();
        assert_eq!(admin.status(), 200);
        streams.push(admin);
    }
    // Reading recent lines needs no place.
    assert!(!log_of(&app, "/tenants/acme", "hello").await.is_empty());
}

#[tokio::test]
async fn each_version_shows_its_last_minute_and_the_tenant_its_history() {
    let app = TestApp::spawn().await;
    assert_eq!(app.deploy("hostile", "test/hostile").await.status(), 200);
    for i in 0..20 {
        assert_eq!(app.get(&format!("/hello/n{i}")).await.status(), 200);
    }
    for _ in 0..3 {
        assert_eq!(app.get("/hostile/panic").await.status(), 500);
    }
    let refused = app
        .admin(
            Method::PUT,
            "/services/broken",
            Some(component("test/not-a-service")),
        )
        .await;
    assert_eq!(refused.status(), 422);
    let hello = app.service("hello").await;
    let stats = &hello["stats"];
    assert_eq!(stats["requests"], 20, "{hello}");
    assert_eq!(stats["errors"], 0);
    assert!(stats["per_second"].as_f64().unwrap() > 0.0);
    assert!(stats["p50_ms"].as_f64().unwrap() > 0.0);
    assert!(stats["p99_ms"].as_f64().unwrap() >= stats["p50_ms"].as_f64().unwrap());
    let hostile = app.service("hostile").await;
    assert_eq!(hostile["stats"]["errors"], 3);
    assert_eq!(hostile["stats"]["error_rate"], 1.0);

    let (status, body) = json(app.admin(Method::GET, "/history?limit=50", None).await).await;
    assert_eq!(status, 200);
    let history = body["history"].as_array().unwrap();
    let services: std::collections::BTreeSet<&str> = history
        .iter()
        .map(|h| h["service"].as_str().unwrap())
        .collect();
    assert!(
        services.is_superset(&["broken", "hello", "hostile", "items"].into()),
        "{services:?}"
    );
    let failed = history.iter().find(|h| h["service"] == "broken").unwrap();
    assert_eq!(failed["state"], "failed");
    assert_eq!(failed["source"], "api");
    assert!(!failed["error"].as_str().unwrap().is_empty());
    assert_eq!(history[0]["service"], "broken", "newest first");
    // An empty tenant has an empty history, not an error.
    app.admin(Method::PUT, "/tenants/quiet", None).await;
    let (status, body) = json(app.admin(Method::GET, "/tenants/quiet/history", None).await).await;
    assert_eq!(
        (status, body["history"].as_array().unwrap().len()),
        (200, 0)
    );
}

#[tokio::test]
async fn a_followed_log_ends_when_berth_stops_instead_of_holding_the_drain() {
    let app = TestApp::spawn().await;
    let mut follow = app
        .admin(
            Method::GET,
            "/services/hello/logs?follow=true&lines=0",
            None,
        )
        .await;
    assert_eq!(follow.status(), 200);
    let stopping = tokio::spawn(app.stop());
    // The drain lasts 30 s; the stream must end well before it would cut it.
    let ended = tokio::time::timeout(Duration::from_secs(20), async {
        while let Ok(Some(_)) = follow.chunk().await {}
    })
    .await;
    assert!(
        ended.is_ok(),
        "the followed log kept the host from stopping"
    );
    stopping.await.unwrap();
}
