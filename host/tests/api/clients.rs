//! Hostile clients and services against the HTTP layer and the runtime:
//! slow headers and bodies, too many connections, one tenant taking every
//! instance, cookies across tenants, large host-call arguments, `wasi:http`
//! resources, log floods, and schemas that would backtrack or recurse.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::helpers::{PingServer, TestApp, TestConfig, error, json};

fn hostile(toml: &str) -> TestConfig {
    TestConfig {
        plugins: vec!["items", "hello", "test/hostile"],
        toml: toml.to_string(),
        ..TestConfig::default()
    }
}

/// Everything the server sends until it closes the connection, or until
/// `within` passes (then `None`).
async fn until_closed(stream: &mut TcpStream, within: Duration) -> Option<String> {
    let mut received = Vec::new();
    let read = tokio::time::timeout(within, stream.read_to_end(&mut received)).await;
    read.ok()
        .map(|_| String::from_utf8_lossy(&received).into_owned())
}

#[tokio::test]
async fn a_client_that_sends_its_headers_slowly_is_disconnected() {
    let app = TestApp::spawn_with(hostile("[limits]\nheader_timeout_ms = 500")).await;
    let mut stream = TcpStream::connect(app.address).await.unwrap();
    stream
        .write_all(b"GET /hello/x HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let answer = until_closed(&mut stream, Duration::from_secs(5)).await;
    assert!(answer.is_some(), "the connection stayed open");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    // An idle keep-alive connection is closed the same way.
    let mut stream = TcpStream::connect(app.address).await.unwrap();
    stream
        .write_all(b"GET /hello/x HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let answer = until_closed(&mut stream, Duration::from_secs(5))
        .await
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_bodies_get_408_and_hold_no_slot_of_the_service() {
    let app = TestApp::spawn_with(hostile(
        "[limits]\nbody_timeout_ms = 1000\n[services.hostile.limits]\nmax_concurrency = 2",
    ))
    .await;
    // Ten clients start a body and stall.
    let mut stalled = Vec::new();
    for _ in 0..10 {
        let mut stream = TcpStream::connect(app.address).await.unwrap();
        stream
            .write_all(b"POST /hostile/validate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"s\":")
            .await
            .unwrap();
        stalled.push(stream);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    // The service's two slots are free for everyone else meanwhile.
    for _ in 0..4 {
        let (status, body) = json(app.get("/hostile/ok").await).await;
        assert_eq!(status, 200, "{body}");
    }
    let started = Instant::now();
    for mut stream in stalled {
        let answer = until_closed(&mut stream, Duration::from_secs(5))
            .await
            .unwrap();
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        assert!(answer.contains("request_timeout"), "{answer}");
    }
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn connections_beyond_the_limit_wait_until_one_closes() {
    let app = TestApp::spawn_with(hostile("[limits]\nmax_connections = 3")).await;
    let mut idle = Vec::new();
    for _ in 0..3 {
        idle.push(TcpStream::connect(app.address).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let waiting = tokio::time::timeout(Duration::from_millis(500), app.get("/hello/x")).await;
    assert!(waiting.is_err(), "a fourth connection was served");
    drop(idle.pop());
    let (status, _) = json(app.get("/hello/x").await).await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_tenant_cannot_take_every_instance_of_the_pool() {
    let app = Arc::new(
        TestApp::spawn_with(TestConfig {
            plugins: vec![],
            toml: "[tenancy]\nmode = \"header\"\n[runtime]\nmax_instances = 8\n[limits]\nrequest_timeout_ms = 1500\nqueue_timeout_ms = 0"
                .into(),
            ..TestConfig::default()
        })
        .await,
    );
    for (tenant, name, component) in [
        ("evil", "hostile", "test/hostile"),
        ("good", "hello", "hello"),
    ] {
        app.admin(reqwest::Method::PUT, &format!("/tenants/{tenant}"), None)
            .await;
        let response = app.deploy_to(tenant, name, component).await;
        assert_eq!(response.status(), 200);
    }
    let spinners: Vec<_> = (0..8)
        .map(|_| {
            let app = app.clone();
            tokio::spawn(async move {
                let response = app
                    .client
                    .get(app.url("/hostile/spin"))
                    .header("x-berth-tenant", "evil")
                    .send()
                    .await
                    .unwrap();
                response.status().as_u16()
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    for _ in 0..5 {
        let response = app
            .client
            .get(app.url("/hello/x"))
            .header("x-berth-tenant", "good")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "good tenant starved");
    }
    let mut statuses = Vec::new();
    for spinner in spinners {
        statuses.push(spinner.await.unwrap());
    }
    statuses.sort();
    // Half the pool (4 instances) at most for one tenant.
    assert_eq!(statuses, [429, 429, 429, 429, 504, 504, 504, 504]);
}

#[tokio::test]
async fn set_cookie_is_stripped_where_the_operator_says() {
    let stripped =
        TestApp::spawn_with(hostile("[services.hostile]\nstrip_set_cookie = true")).await;
    let response = stripped.get("/hostile/set-cookie").await;
    assert_eq!(response.status(), 200);
    assert!(response.headers().get("set-cookie").is_none());
    assert_eq!(response.headers()["x-hostile"], "yes");
    let kept = TestApp::spawn_with(hostile("")).await;
    let response = kept.get("/hostile/set-cookie").await;
    assert!(response.headers().get("set-cookie").is_some());
    // A service's worker never gets a scope beyond its own paths: it could
    // otherwise control /console on the same origin and read the token.
    for app in [&stripped, &kept] {
        let response = app.get("/hostile/set-cookie").await;
        assert!(response.headers().get("service-worker-allowed").is_none());
    }
}

#[tokio::test]
async fn a_name_that_resolves_to_an_inner_address_is_refused_even_when_allow_listed() {
    let port = PingServer::start(200).await.address.port();
    let app = TestApp::spawn_with(hostile(&format!(
        "[services.hostile]\nallowed_outbound_hosts = [\"http://localhost:{port}\", \"http://127.0.0.1:{port}\"]"
    )))
    .await;
    // `localhost` is allow-listed by name, but it is loopback... unless the
    // loopback address itself is listed, as it is here.
    let (_, body) = json(
        app.get(&format!("/hostile/fetch?url=http://localhost:{port}/ping"))
            .await,
    )
    .await;
    assert_eq!(body["body"], "pong", "{body}");
    let app = TestApp::spawn_with(hostile(&format!(
        "[services.hostile]\nallowed_outbound_hosts = [\"http://localhost:{port}\", \"http://metadata.google.internal\"]"
    )))
    .await;
    let (_, body) = json(
        app.get(&format!("/hostile/fetch?url=http://localhost:{port}/ping"))
            .await,
    )
    .await;
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("DestinationIpProhibited"),
        "{body}"
    );
}

#[tokio::test]
async fn large_host_call_arguments_log_floods_and_header_maps_are_bounded() {
    let app = TestApp::spawn_with(hostile("[limits]\nrequest_timeout_ms = 5000")).await;
    // 32 MiB per call is past what one host call may carry.
    let started = Instant::now();
    error(
        app.get("/hostile/hostcall-big?mb=32&times=5").await,
        500,
        "service_failed",
    )
    .await;
    // 1 MiB per call is fine.
    let (status, body) = json(app.get("/hostile/hostcall-big?mb=1&times=5").await).await;
    assert_eq!((status, &body["calls"]), (200, &json!(5)), "{body}");
    let (status, _) = json(
        app.get("/hostile/log-abuse?fields=10000&size=1024&calls=50")
            .await,
    )
    .await;
    assert_eq!(status, 200);
    // A million header maps of 64 KiB: the resource table and the field
    // size limit stop it long before.
    let response = app
        .get("/hostile/http-fields?count=1000000&size=65536")
        .await;
    let status = response.status().as_u16();
    let body = response.text().await.unwrap();
    assert!(
        status == 500 || body.contains("\"created\":"),
        "{status}: {body}"
    );
    if status == 200 {
        let body: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert!(body["created"].as_u64().unwrap() <= 1000, "{body}");
    }
    assert!(started.elapsed() < Duration::from_secs(10));
    let (status, _) = json(app.get("/hello/x").await).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_schema_whose_checking_would_grow_exponentially_is_refused_at_deploy() {
    let app = TestApp::spawn_with(hostile("")).await;
    let (status, body) = json(
        app.deploy("recursive", "test/hostile-recursive-schema")
            .await,
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (422, Some("invalid_manifest")),
        "{body}"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("refers back to itself"),
        "{body}"
    );
}

#[tokio::test]
async fn bodies_that_would_backtrack_or_recurse_are_refused_fast() {
    let app = TestApp::spawn_with(hostile("")).await;
    let started = Instant::now();
    let evil = json!({"s": format!("{}!", "a".repeat(100_000))});
    let body = error(
        app.post_json("/hostile/validate", &evil).await,
        422,
        "validation_error",
    )
    .await;
    assert_eq!(body["error"]["field"], "s");
    let deep = "[".repeat(200_000) + &"]".repeat(200_000);
    let response = app
        .client
        .post(app.url("/hostile/validate"))
        .header("content-type", "application/json")
        .body(deep)
        .send()
        .await
        .unwrap();
    error(response, 422, "validation_error").await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn one_client_cannot_hold_every_connection() {
    let app = TestApp::spawn_with(hostile("[limits]\nmax_connections_per_client = 3")).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(TcpStream::connect(app.address).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut fourth = TcpStream::connect(app.address).await.unwrap();
    fourth
        .write_all(b"GET /hello/x HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let answer = until_closed(&mut fourth, Duration::from_secs(2)).await;
    assert_eq!(
        answer.as_deref(),
        Some(""),
        "the fourth connection was served"
    );
    drop(held.pop());
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (status, _) = json(app.get("/hello/x").await).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn the_bodies_held_at_once_are_bounded_over_all_requests() {
    let app = TestApp::spawn_with(hostile(
        "[limits]\nmax_buffered_body_mb = 1\nbody_timeout_ms = 1500",
    ))
    .await;
    // A body of 600 KiB announced and never sent holds its share...
    let mut stalled = TcpStream::connect(app.address).await.unwrap();
    stalled
        .write_all(format!("POST /hostile/validate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{{", 600 << 10).as_bytes())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    // ...so another 600 KiB body, sent whole at once, waits for it.
    let started = Instant::now();
    let body = json!({"s": "a".repeat(600 << 10)});
    let (status, _) = json(app.post_json("/hostile/validate", &body).await).await;
    let waited = started.elapsed();
    let answer = until_closed(&mut stalled, Duration::from_secs(5))
        .await
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert_eq!(status, 200);
    assert!(
        waited > Duration::from_millis(1200),
        "it did not wait: {waited:?}"
    );
    // Small bodies wait their turn too, and are served after it.
    let (status, _) = json(app.post_json("/hostile/validate", &json!({"s": "a"})).await).await;
    assert_eq!(status, 200);
}
