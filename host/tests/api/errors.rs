//! The error contract: JSON bodies with code, message and request id, and
//! the statuses DESIGN.md names. A failing service never takes the host down.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::{TestApp, TestConfig, error, json};

fn with_hostile(toml: &str) -> TestConfig {
    TestConfig {
        plugins: vec!["items", "hello", "test/hostile"],
        toml: toml.to_string(),
        ..TestConfig::default()
    }
}

#[tokio::test]
async fn an_unknown_route_is_404_in_json() {
    let app = TestApp::spawn().await;
    let body = error(app.get("/nowhere").await, 404, "not_found").await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("/nowhere")
    );
    error(app.get("/items/1/extra").await, 404, "not_found").await;
}

#[tokio::test]
async fn a_wrong_method_is_405_with_allow() {
    let app = TestApp::spawn().await;
    let response = app.send(reqwest::Method::DELETE, "/items", None).await;
    let allow = response.headers()["allow"].to_str().unwrap().to_string();
    error(response, 405, "method_not_allowed").await;
    assert!(allow.contains("GET") && allow.contains("POST"), "{allow}");
}

#[tokio::test]
async fn a_body_over_the_limit_is_413() {
    let app = TestApp::spawn_with(TestConfig {
        toml: "[limits]\nmax_body_bytes = 1024".into(),
        ..TestConfig::default()
    })
    .await;
    let big = json!({"name": "x", "description": "d".repeat(2000), "price": 1});
    error(
        app.post_json("/items", &big).await,
        413,
        "payload_too_large",
    )
    .await;

    // Without a Content-Length: the limit holds on the streamed body too.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..4).map(|_| Ok(vec![b' '; 512])).collect();
    let response = app
        .client
        .post(app.url("/items"))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await
        .unwrap();
    error(response, 413, "payload_too_large").await;

    let (status, _) = json(
        app.post_json("/items", &json!({"name": "small", "price": 1}))
            .await,
    )
    .await;
    assert_eq!(status, 201);
}

#[tokio::test]
async fn a_panicking_service_gets_500_and_the_next_request_works() {
    let app = TestApp::spawn_with(with_hostile("")).await;
    for _ in 0..3 {
        let body = error(app.get("/hostile/panic").await, 500, "service_failed").await;
        assert!(
            !body.to_string().contains("panics on purpose"),
            "internal details leak: {body}"
        );
        let (status, _) = json(app.get("/hostile/ok").await).await;
        assert_eq!(status, 200);
    }
    error(app.get("/hostile/trap").await, 500, "service_failed").await;
    let (status, _) = json(app.get("/hello/still-here").await).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_service_past_its_deadline_is_stopped_with_504() {
    let app = TestApp::spawn_with(with_hostile("[limits]\nrequest_timeout_ms = 300")).await;
    let started = Instant::now();
    error(app.get("/hostile/spin").await, 504, "timeout").await;
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(300),
        "stopped early: {took:?}"
    );
    assert!(took < Duration::from_secs(3), "stopped late: {took:?}");
    let (status, _) = json(app.get("/hostile/ok").await).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_client_request_id_is_kept_and_a_missing_one_is_made() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .get(app.url("/nowhere"))
        .header("x-request-id", "test-id-123")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "test-id-123");
    let body = error(response, 404, "not_found").await;
    assert_eq!(body["error"]["request_id"], "test-id-123");

    let response = app.get("/hello/x").await;
    let id = response.headers()["x-request-id"].to_str().unwrap();
    assert_eq!(id.len(), 36, "a UUID: {id}");
}

#[tokio::test]
async fn healthz_answers() {
    let app = TestApp::spawn().await;
    let (status, body) = json(app.get("/healthz").await).await;
    assert_eq!((status, body), (200, json!({"status": "ok"})));
}
