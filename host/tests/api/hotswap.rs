//! Hot swap: versions replace each other at runtime, by file drop and by
//! the admin API, with zero failed requests and no mixed versions; bad
//! versions are refused while the good one keeps serving; rollback.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestConfig, component, error, json, on_postgres};

/// Which version of `hello` answered, checking the answer is whole: the
/// message and the version field must come from the same build.
fn hello_version(body: &Value, name: &str) -> Result<u8, String> {
    match (body["version"].as_str(), body["message"].as_str()) {
        (Some("1.0.0"), Some(m)) if m == format!("Hello, {name}!") => Ok(1),
        (Some("2.0.0"), Some(m)) if m == format!("Hello, {name}! (v2)") => Ok(2),
        _ => Err(format!("a mixed or unknown answer: {body}")),
    }
}

async fn current_hello(app: &TestApp) -> u8 {
    let (status, body) = json(app.get("/hello/probe").await).await;
    assert_eq!(status, 200, "{body}");
    hello_version(&body, "probe").unwrap()
}

/// Polls until hello answers `version`; returns how long that took.
async fn wait_for_hello(app: &TestApp, version: u8, within: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let (status, body) = json(app.get("/hello/probe").await).await;
        if status == 200 && hello_version(&body, "probe") == Ok(version) {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < within,
            "hello did not become v{version} within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swaps_under_load_fail_no_request_and_mix_no_versions() {
    let app = Arc::new(TestApp::spawn().await);
    let v1 = component("hello");
    let v2 = component("test/hello-v2");
    let stop = Arc::new(AtomicBool::new(false));
    let served = Arc::new(AtomicU64::new(0));
    let mut clients = Vec::new();
    for client in 0..8 {
        let (app, stop, served) = (app.clone(), stop.clone(), served.clone());
        clients.push(tokio::spawn(async move {
            let mut failures = Vec::new();
            let mut seen = [0u64; 3];
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let name = format!("c{client}n{n}");
                let response = if n.is_multiple_of(4) {
                    app.get("/items?limit=5").await
                } else {
                    app.get(&format!("/hello/{name}")).await
                };
                let status = response.status().as_u16();
                let body: Value = response.json().await.unwrap_or(Value::Null);
                if status != 200 {
                    failures.push(format!("{status}: {body}"));
                } else if !n.is_multiple_of(4) {
                    match hello_version(&body, &name) {
                        Ok(v) => seen[usize::from(v)] += 1,
                        Err(e) => failures.push(e),
                    }
                }
                served.fetch_add(1, Ordering::Relaxed);
            }
            (failures, seen)
        }));
    }

    let mut rename_latencies = Vec::new();
    for swap in 0..50u32 {
        let (bytes, version) = if swap % 2 == 0 { (&v2, 2) } else { (&v1, 1) };
        if swap % 4 < 2 {
            // Through the admin API: live when the call returns.
            let response = app
                .admin(Method::PUT, "/services/hello", Some(bytes.clone()))
                .await;
            assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
            assert_eq!(
                current_hello(&app).await,
                version,
                "live as soon as the deploy returns"
            );
        } else {
            app.drop_plugin("hello.wasm", bytes);
            rename_latencies.push(wait_for_hello(&app, version, Duration::from_secs(1)).await);
        }
    }
    stop.store(true, Ordering::Relaxed);

    let mut seen = [0u64; 3];
    for client in clients {
        let (failures, client_seen) = client.await.unwrap();
        assert!(
            failures.is_empty(),
            "{} failed requests, e.g. {:?}",
            failures.len(),
            &failures[..failures.len().min(3)]
        );
        for v in 1..=2 {
            seen[v] += client_seen[v];
        }
    }
    assert!(seen[1] > 0 && seen[2] > 0, "both versions served: {seen:?}");
    assert!(
        served.load(Ordering::Relaxed) > 400,
        "the load was sustained"
    );
    let slowest = rename_latencies.iter().max().unwrap();
    assert!(
        *slowest < Duration::from_secs(1),
        "slowest file swap: {slowest:?}"
    );
}

#[tokio::test]
async fn a_dropped_file_deploys_and_a_removed_one_undeploys() {
    let app = TestApp::spawn_with(TestConfig {
        plugins: vec!["items"],
        ..TestConfig::default()
    })
    .await;
    error(app.get("/hello/x").await, 404, "not_found").await;
    app.drop_plugin("hello.wasm", &component("hello"));
    wait_for_hello(&app, 1, Duration::from_secs(2)).await;

    std::fs::remove_file(app.plugins_dir().join("hello.wasm")).unwrap();
    let started = Instant::now();
    while app.get("/hello/x").await.status() != 404 {
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "hello still served after its file was removed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (status, _) = json(app.get("/items").await).await;
    assert_eq!(status, 200, "other services are untouched");
}

#[tokio::test]
async fn a_half_written_file_is_deployed_once_complete_and_a_bad_one_is_not_retried_in_a_loop() {
    let app = TestApp::spawn().await;
    let v2 = component("test/hello-v2");
    let path = app.plugins_dir().join("hello.wasm");
    // Written in place, in two halves, the way a careless copy would.
    std::fs::write(&path, &v2[..v2.len() / 2]).unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        current_hello(&app).await,
        1,
        "the truncated file was refused; v1 still serves"
    );
    std::fs::write(&path, &v2).unwrap();
    wait_for_hello(&app, 2, Duration::from_secs(2)).await;

    app.drop_plugin("broken.wasm", b"\0asm but not really");
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let (_, history) = json(
        app.admin(Method::GET, "/services/broken/history", None)
            .await,
    )
    .await;
    assert_eq!(
        history["history"].as_array().unwrap().len(),
        1,
        "one attempt, no retry loop: {history}"
    );
}

#[tokio::test]
async fn bad_versions_are_refused_and_the_old_one_keeps_serving() {
    let app = TestApp::spawn_with(TestConfig {
        plugins: vec!["items", "hello", "test/hostile"],
        toml: "[services.clash]\nprefix = \"/items\"".into(),
        ..TestConfig::default()
    })
    .await;
    let hello = component("hello");
    let cases: Vec<(&str, &str, Vec<u8>, u16, &str)> = vec![
        (
            "hello",
            "truncated",
            hello[..hello.len() / 3].to_vec(),
            422,
            "compile_error",
        ),
        (
            "hello",
            "not a component",
            b"garbage bytes".to_vec(),
            422,
            "compile_error",
        ),
        (
            "hello",
            "a core module",
            b"\0asm\x01\0\0\0".to_vec(),
            422,
            "compile_error",
        ),
        (
            "hello",
            "another world",
            component("test/not-a-service"),
            422,
            "not_a_service",
        ),
        (
            "hello",
            "describe() traps",
            component("test/hostile-bad-describe"),
            422,
            "describe_failed",
        ),
        (
            "clash",
            "routes conflict with items",
            hello.clone(),
            409,
            "route_conflict",
        ),
        (
            "hostile",
            "a failing migration",
            component("test/hostile-bad-migration"),
            422,
            "migration_failed",
        ),
    ];
    for (name, case, bytes, status, code) in cases {
        let response = app
            .admin(Method::PUT, &format!("/services/{name}"), Some(bytes))
            .await;
        let body = error(response, status, code).await;
        let message = body["error"]["message"].as_str().unwrap().to_string();
        let view = app.service(name).await;
        assert_eq!(
            view["last_error"]["message"],
            message.as_str(),
            "{case}: the admin API shows the error"
        );
        assert_eq!(
            current_hello(&app).await,
            1,
            "{case}: hello v1 still serves"
        );
        let (status, _) = json(app.get("/items").await).await;
        assert_eq!(status, 200, "{case}: items still serves");
        let (status, _) = json(app.get("/hostile/ok").await).await;
        assert_eq!(status, 200, "{case}: hostile still serves");
    }
    assert_eq!(app.service("hello").await["state"], "live");
    assert_eq!(app.service("clash").await["state"], "failed");
    // The failed migration was rolled back whole.
    let (_, body) = json(
        app.post_json(
            "/hostile/sql",
            &json!({"sql": if on_postgres() {
                "SELECT table_name FROM information_schema.tables WHERE table_name = 'half'"
            } else {
                "SELECT name FROM sqlite_master WHERE name = 'half'"
            }}),
        )
        .await,
    )
    .await;
    assert_eq!(body, json!({"rows": []}));

    // A later good deploy clears the error.
    let response = app.deploy("hello", "test/hello-v2").await;
    assert_eq!(response.status(), 200);
    assert_eq!(app.service("hello").await["last_error"], Value::Null);
}

#[tokio::test]
async fn rollback_restores_the_previous_behaviour_and_keeps_the_data() {
    let app = TestApp::spawn().await;
    let (status, created) = json(
        app.post_json("/items", &json!({"name": "Kept", "price": 1}))
            .await,
    )
    .await;
    assert_eq!(status, 201);

    // Replace items with other code entirely (hello's, under the name items).
    let response = app.deploy("items", "hello").await;
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    let (_, body) = json(app.get("/items/someone").await).await;
    assert_eq!(body["message"], "Hello, someone!");

    let response = app
        .admin(Method::POST, "/services/items/rollback", None)
        .await;
    let (status, body) = json(response).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["deployed"]["version"], "1.0.0");
    let (status, item) = json(app.get(&format!("/items/{}", created["id"])).await).await;
    assert_eq!((status, item), (200, created), "the data is still there");

    let (_, history) = json(
        app.admin(Method::GET, "/services/items/history", None)
            .await,
    )
    .await;
    let states: Vec<&str> = history["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["live", "retired", "retired"]);

    // Rolling back again toggles to the other version.
    let response = app
        .admin(Method::POST, "/services/items/rollback", None)
        .await;
    assert_eq!(response.status(), 200);
    let (_, body) = json(app.get("/items/again").await).await;
    assert_eq!(body["message"], "Hello, again!");
}

#[tokio::test]
async fn rollback_without_an_earlier_version_and_unknown_services_are_404() {
    let app = TestApp::spawn().await;
    error(
        app.admin(Method::POST, "/services/hello/rollback", None)
            .await,
        404,
        "not_found",
    )
    .await;
    error(
        app.admin(Method::DELETE, "/services/nothing", None).await,
        404,
        "not_found",
    )
    .await;
    error(
        app.admin(Method::GET, "/services/nothing/history", None)
            .await,
        404,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn undeploy_through_the_admin_api_takes_the_routes_out() {
    let app = TestApp::spawn().await;
    let response = app.admin(Method::DELETE, "/services/hello", None).await;
    assert_eq!(response.status(), 204);
    error(app.get("/hello/x").await, 404, "not_found").await;
    assert_eq!(app.service("hello").await, Value::Null);
}

#[tokio::test]
async fn the_admin_api_needs_the_token_and_is_absent_without_one() {
    let app = TestApp::spawn().await;
    let url = app.admin_url("/admin/services");
    error(
        app.client.get(&url).send().await.unwrap(),
        401,
        "unauthorized",
    )
    .await;
    let wrong = app
        .client
        .get(&url)
        .bearer_auth("wrong-token-wrong-token")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.headers()["www-authenticate"], "Bearer");
    error(wrong, 401, "unauthorized").await;
    let put = app
        .client
        .put(app.admin_url("/admin/services/hello"))
        .body(component("test/hello-v2"))
        .send()
        .await
        .unwrap();
    error(put, 401, "unauthorized").await;
    assert_eq!(current_hello(&app).await, 1);

    let (status, body) = json(app.admin(Method::GET, "/services", None).await).await;
    assert_eq!(status, 200);
    let names: Vec<&str> = body["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["hello", "items"]);
    let hello = &body["services"][0];
    assert_eq!(hello["version"], "1.0.0");
    assert_eq!(hello["state"], "live");
    assert_eq!(hello["digest"].as_str().unwrap().len(), 64);
    assert!(hello["loaded_at"].as_str().unwrap().ends_with('Z'));

    let without = TestApp::spawn_with(TestConfig {
        admin_token: None,
        ..TestConfig::default()
    })
    .await;
    error(
        without.admin(Method::GET, "/services", None).await,
        404,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn an_oversized_or_empty_component_upload_is_refused() {
    let app = TestApp::spawn_with(TestConfig {
        toml: "[limits]\nmax_component_bytes = 10000".into(),
        ..TestConfig::default()
    })
    .await;
    error(
        app.deploy("hello", "test/hello-v2").await,
        413,
        "payload_too_large",
    )
    .await;
    error(
        app.admin(Method::PUT, "/services/hello", Some(Vec::new()))
            .await,
        422,
        "empty_body",
    )
    .await;
    error(
        app.admin(Method::PUT, "/services/Bad_Name", Some(vec![0]))
            .await,
        422,
        "invalid_name",
    )
    .await;
    assert_eq!(current_hello(&app).await, 1);
}
