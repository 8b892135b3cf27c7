//! Hostile services stay contained: each misbehaviour gets a clean, prompt
//! status; nothing ambient is reachable; host calls are bounded; limits on
//! concurrency answer fast; outbound HTTP reaches only allow-listed hosts.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::helpers::{PingServer, TestApp, TestConfig, error, json};

fn hostile(toml: &str) -> TestConfig {
    TestConfig {
        plugins: vec!["items", "hello", "test/hostile"],
        toml: toml.to_string(),
        ..TestConfig::default()
    }
}

async fn hello_answers(app: &TestApp) {
    let (status, body) = json(app.get("/hello/still-here").await).await;
    assert_eq!(status, 200, "hello after a hostile request: {body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_hostile_service_gets_a_clean_prompt_status_and_the_host_keeps_serving() {
    let app = TestApp::spawn_with(hostile(
        "[limits]\nrequest_timeout_ms = 1000\nmemory_mb = 32\nmax_response_bytes = 1048576",
    ))
    .await;
    let deadline = Duration::from_millis(1000);
    let margin = Duration::from_millis(1500);
    let cases = [
        ("/hostile/spin", 504, "timeout"),
        ("/hostile/call-flood", 504, "timeout"),
        ("/hostile/memory", 500, "service_failed"),
        ("/hostile/panic", 500, "service_failed"),
        ("/hostile/trap", 500, "service_failed"),
        ("/hostile/recurse", 500, "service_failed"),
        ("/hostile/huge?mb=4", 500, "response_too_large"),
    ];
    for (path, status, code) in cases {
        let started = Instant::now();
        error(app.get(path).await, status, code).await;
        let took = started.elapsed();
        assert!(took < deadline + margin, "{path} took {took:?}");
        hello_answers(&app).await;
    }
    let started = Instant::now();
    let (status, _) = json(app.get("/hostile/log-flood").await).await;
    assert_eq!(status, 200, "a log flood is capped, not fatal");
    assert!(started.elapsed() < deadline + margin);
    hello_answers(&app).await;
}

#[tokio::test]
async fn a_service_reaches_no_files_no_environment_and_no_sockets() {
    let app = TestApp::spawn_with(hostile("")).await;
    let (status, body) = json(app.get("/hostile/ambient").await).await;
    assert_eq!(status, 200, "{body}");
    // The working directory is wasi-libc's fiction ("/"), with nothing under it.
    for key in ["file", "dir", "tcp", "dns"] {
        assert!(
            body[key].as_str().unwrap().starts_with("Err("),
            "{key} is reachable: {body}"
        );
    }
    assert_eq!(body["env"], serde_json::json!([]), "no environment: {body}");
    assert_eq!(body["args"], serde_json::json!([]), "no arguments: {body}");
}

#[tokio::test]
async fn host_calls_are_bounded_with_a_clear_error_to_the_service() {
    let app = TestApp::spawn_with(hostile(
        "[services.hostile.limits]\nmax_statements = 50\nstatement_timeout_ms = 300\nmax_rows = 1000",
    ))
    .await;
    let (_, body) = json(app.get("/hostile/sql-flood").await).await;
    assert_eq!(body["ran"], 50, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("LimitExceeded"),
        "{body}"
    );

    let started = Instant::now();
    let (_, body) = json(app.get("/hostile/slow-sql").await).await;
    assert!(
        body["result"].as_str().unwrap().contains("LimitExceeded"),
        "{body}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "interrupted promptly: {:?}",
        started.elapsed()
    );

    let (_, body) = json(app.get("/hostile/big-query").await).await;
    assert!(
        body["result"]
            .as_str()
            .unwrap()
            .contains("at most 1000 rows"),
        "{body}"
    );

    // The interrupted connection is usable again.
    let (status, body) = json(
        app.post_json(
            "/hostile/sql",
            &serde_json::json!({"sql": "SELECT count(*) FROM secrets"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

/// p99 of `n` sequential `GET /hello/x`, all of which must succeed.
async fn hello_p99(app: &TestApp, n: usize) -> Duration {
    let mut latencies = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        let response = app.get("/hello/x").await;
        assert_eq!(response.status(), 200);
        latencies.push(started.elapsed());
    }
    latencies.sort();
    latencies[n * 99 / 100]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hello_keeps_answering_while_two_runaway_requests_spin() {
    let app = Arc::new(TestApp::spawn_with(hostile("[limits]\nrequest_timeout_ms = 3000")).await);
    let quiet = hello_p99(&app, 200).await;
    let spinners: Vec<_> = (0..2)
        .map(|_| {
            let app = app.clone();
            tokio::spawn(async move { app.get("/hostile/spin").await.status().as_u16() })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let busy = hello_p99(&app, 200).await;
    for spinner in spinners {
        assert_eq!(spinner.await.unwrap(), 504);
    }
    println!("hello p99 without runaways: {quiet:?}, with two runaways: {busy:?}");
    assert!(
        busy < Duration::from_millis(250),
        "hello p99 with two runaways: {busy:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_over_the_concurrency_caps_is_refused_fast_and_recovers() {
    // Without a queue budget, the excess is refused at once (with one, it
    // waits: see `admission`).
    let app = Arc::new(
        TestApp::spawn_with(hostile(
            "[limits]\nrequest_timeout_ms = 800\nqueue_timeout_ms = 0\n[services.hostile.limits]\nmax_concurrency = 2",
        ))
        .await,
    );
    let burst: Vec<_> = (0..6)
        .map(|_| {
            let app = app.clone();
            tokio::spawn(async move {
                let started = Instant::now();
                let response = app.get("/hostile/spin").await;
                let retry = response
                    .headers()
                    .get("retry-after")
                    .map(|v| v.to_str().unwrap().to_string());
                (response.status().as_u16(), retry, started.elapsed())
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for task in burst {
        outcomes.push(task.await.unwrap());
    }
    let refused: Vec<_> = outcomes.iter().filter(|(s, _, _)| *s == 503).collect();
    let ran = outcomes.iter().filter(|(s, _, _)| *s == 504).count();
    assert_eq!((ran, refused.len()), (2, 4), "{outcomes:?}");
    for (_, retry, took) in refused {
        assert_eq!(retry.as_deref(), Some("1"));
        assert!(*took < Duration::from_millis(300), "refused fast: {took:?}");
    }
    let (status, _) = json(app.get("/hostile/ok").await).await;
    assert_eq!(status, 200, "recovers after the burst");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_over_its_quota_gets_429_and_recovers() {
    let app = Arc::new(
        TestApp::spawn_with(hostile(
            "[limits]\nrequest_timeout_ms = 800\nqueue_timeout_ms = 0\ntenant_max_concurrency = 3",
        ))
        .await,
    );
    let burst: Vec<_> = (0..5)
        .map(|_| {
            let app = app.clone();
            tokio::spawn(async move { app.get("/hostile/spin").await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(150)).await;
    // The tenant's slots are taken by hostile: even hello is over quota.
    let response = app.get("/hello/x").await;
    assert_eq!(response.headers()["retry-after"], "1");
    error(response, 429, "tenant_quota").await;
    let mut statuses = Vec::new();
    for task in burst {
        statuses.push(task.await.unwrap().status().as_u16());
    }
    statuses.sort();
    assert_eq!(statuses, [429, 429, 504, 504, 504]);
    hello_answers(&app).await;
}

async fn fetch(app: &TestApp, url: &str) -> Value {
    let (status, body) = json(app.get(&format!("/hostile/fetch?url={url}")).await).await;
    assert_eq!(status, 200, "{body}");
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbound_http_reaches_only_allow_listed_hosts() {
    let server = PingServer::start(200).await.address;
    let url = format!("http://{server}/ping");

    let denied = TestApp::spawn_with(hostile("")).await;
    let body = fetch(&denied, &url).await;
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("HttpRequestDenied"),
        "{body}"
    );

    let allowed = TestApp::spawn_with(hostile(&format!(
        "[services.hostile]\nallowed_outbound_hosts = [\"http://{server}\"]"
    )))
    .await;
    let body = fetch(&allowed, &url).await;
    assert_eq!(
        (body["status"].as_u64(), body["body"].as_str()),
        (Some(200), Some("pong")),
        "{body}"
    );
    let other_port = format!("http://127.0.0.1:{}/ping", server.port().wrapping_add(1));
    let body = fetch(&allowed, &other_port).await;
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("HttpRequestDenied"),
        "{body}"
    );
    let body = fetch(&allowed, "https://example.com/").await;
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("HttpRequestDenied"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_bombs_leave_the_hosts_resident_memory_bounded() {
    if crate::helpers::on_postgres() {
        return; // No database involved: the SQLite pass covers it.
    }
    use crate::helpers::{Server, component, free_port};
    let data = tempfile::TempDir::new().unwrap();
    let plugins = tempfile::TempDir::new().unwrap();
    std::fs::write(
        plugins.path().join("hostile.wasm"),
        component("test/hostile"),
    )
    .unwrap();
    let server = Server::start(
        &data,
        &plugins,
        free_port(),
        &[("BERTH_MEMORY_LIMIT_MB", "64")],
    );
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    server.wait_ready(&client).await;
    for _ in 0..20 {
        client
            .get(format!("{}/hostile/ok", server.url))
            .send()
            .await
            .unwrap();
    }
    let before = server.rss();
    for _ in 0..5 {
        let bombs: Vec<_> = (0..8)
            .map(|_| {
                let (client, url) = (client.clone(), format!("{}/hostile/memory", server.url));
                tokio::spawn(async move { client.get(url).send().await.unwrap().status().as_u16() })
            })
            .collect();
        for bomb in bombs {
            assert_eq!(bomb.await.unwrap(), 500);
        }
    }
    let after = server.rss();
    println!(
        "host RSS before 40 memory bombs of 64 MiB: {} MiB, after: {} MiB",
        before >> 20,
        after >> 20
    );
    assert!(
        after < before + (128 << 20),
        "RSS grew from {} MiB to {} MiB",
        before >> 20,
        after >> 20
    );
    server.kill();
}
