//! Progressive delivery: a canary takes its share of a service's requests
//! beside the live version, sticky by a header when asked; a failing one is
//! aborted by itself; promote and abort fail no request; previews reach a
//! named version only when the operator allows it, and never across
//! tenants; bad requests change nothing.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::Value;

use crate::helpers::{TestApp, TestConfig, component, error, json, padded};

/// Starts `component_name` as a canary of `name` with the query `plan`.
pub async fn start_canary(
    app: &TestApp,
    name: &str,
    component_name: &str,
    plan: &str,
) -> (u16, Value) {
    let path = format!("/services/{name}?{plan}");
    json(
        app.admin(Method::PUT, &path, Some(component(component_name)))
            .await,
    )
    .await
}

/// What one request saw: when it started, its status, and which version of
/// hello answered.
#[derive(Debug, Clone)]
pub struct Seen {
    pub at: Instant,
    pub status: u16,
    pub version: Option<String>,
}

async fn hello(client: &reqwest::Client, url: &str, headers: &[(&str, String)]) -> Seen {
    let at = Instant::now();
    let mut request = client.get(url);
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    match request.send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            Seen {
                at,
                status,
                version: body["version"].as_str().map(str::to_string),
            }
        }
        Err(_) => Seen {
            at,
            status: 0,
            version: None,
        },
    }
}

/// `clients` clients asking `base`/hello/… until `stop`, or `each` requests.
pub async fn load(
    base: String,
    clients: usize,
    each: Option<usize>,
    stop: Arc<AtomicBool>,
) -> Vec<Seen> {
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (base, stop) = (base.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::builder().no_proxy().build().unwrap();
            let mut seen = Vec::new();
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) && each.is_none_or(|e| n < e) {
                n += 1;
                seen.push(hello(&client, &format!("{base}/hello/c{c}n{n}"), &[]).await);
            }
            seen
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    all.sort_by_key(|s| s.at);
    all
}

fn count(seen: &[Seen], version: &str) -> usize {
    seen.iter()
        .filter(|s| s.version.as_deref() == Some(version))
        .count()
}

fn failures(seen: &[Seen]) -> Vec<&Seen> {
    seen.iter().filter(|s| s.status != 200).collect()
}

async fn history(app: &TestApp, name: &str) -> Vec<Value> {
    let (_, body) = json(
        app.admin(Method::GET, &format!("/services/{name}/history"), None)
            .await,
    )
    .await;
    body["history"].as_array().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_twenty_percent_canary_takes_its_share_and_is_shown_everywhere() {
    let app = TestApp::spawn().await;
    let (status, body) = start_canary(&app, "hello", "test/hello-v2", "canary=20").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["canary"]["version"], "2.0.0");
    assert_eq!(body["weight"], 20);

    let seen = load(app.url(""), 8, Some(250), Arc::default()).await;
    assert_eq!(seen.len(), 2000);
    assert!(failures(&seen).is_empty(), "{:?}", failures(&seen));
    let v2 = count(&seen, "2.0.0");
    eprintln!("canary share: {v2} of 2000 ({:.1}%)", v2 as f64 / 20.0);
    assert!((300..=500).contains(&v2), "the canary got {v2} of 2000");
    assert_eq!(count(&seen, "1.0.0") + v2, 2000);

    let view = app.service("hello").await;
    assert_eq!(view["version"], "1.0.0");
    assert_eq!(view["weight"], 80);
    assert_eq!(view["canary"]["version"], "2.0.0");
    assert_eq!(view["canary"]["weight"], 20);
    assert_eq!(view["canary"]["window"]["requests"], v2);
    assert_eq!(view["canary"]["window"]["error_rate"], 0.0);
    assert_eq!(view["window"]["requests"], 2000 - v2);

    let metrics = app.metrics().await;
    for version in ["1.0.0", "2.0.0"] {
        assert!(
            metrics
                .lines()
                .any(|l| l.starts_with("berth_requests_total")
                    && l.contains("service=\"hello\"")
                    && l.contains(&format!("version=\"{version}\""))),
            "no requests counted for hello {version}"
        );
    }
    let openapi = app.get("/openapi.json").await.text().await.unwrap();
    assert!(openapi.contains("(version 1.0.0)") && !openapi.contains("(version 2.0.0)"));
    assert_eq!(history(&app, "hello").await[0]["state"], "canary");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_that_fails_every_request_is_aborted_by_itself() {
    let app = Arc::new(TestApp::spawn().await);
    let plan = "canary=20&window_ms=10000&min_requests=20";
    let (status, body) = start_canary(&app, "hello", "test/hello-broken", plan).await;
    assert_eq!(status, 200, "{body}");
    let stop = Arc::new(AtomicBool::new(false));
    let clients = tokio::spawn(load(app.url(""), 8, None, stop.clone()));
    let started = Instant::now();
    let aborted_seen = loop {
        if app.service("hello").await["canary"].is_null() {
            break Instant::now();
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the canary was never aborted"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::Relaxed);
    let seen = clients.await.unwrap();

    let failed = failures(&seen);
    assert!(!failed.is_empty(), "the broken canary was never reached");
    assert!(failed.iter().all(|s| s.status == 500), "{failed:?}");
    let (first, last) = (failed[0].at, failed[failed.len() - 1].at);
    let before: Vec<&Seen> = seen.iter().filter(|s| s.at <= last).collect();
    let after: Vec<&Seen> = seen.iter().filter(|s| s.at > aborted_seen).collect();
    eprintln!(
        "first failure to last: {:?}; {} failures of {} requests up to the last ({:.1}%); {} requests after the abort",
        last - first,
        failed.len(),
        before.len(),
        failed.len() as f64 * 100.0 / before.len() as f64,
        after.len()
    );
    assert!(
        last - first < Duration::from_secs(10),
        "aborted after {:?}",
        last - first
    );
    assert!(
        failed.len() * 100 <= before.len() * 30,
        "{} of {} failed: more than the canary's share",
        failed.len(),
        before.len()
    );
    assert!(after.len() > 50);
    assert!(
        after
            .iter()
            .all(|s| s.status == 200 && s.version.as_deref() == Some("1.0.0"))
    );

    let record = history(&app, "hello").await[0].clone();
    assert_eq!(record["state"], "aborted", "{record}");
    assert_eq!(record["version"], "3.0.0");
    let note = record["note"].as_str().unwrap();
    assert!(
        note.starts_with("aborted automatically: 5xx rate 100.0% ("),
        "{note}"
    );
    assert_eq!(app.service("hello").await["version"], "1.0.0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_failing_every_other_request_on_both_versions_does_not_abort_the_canary() {
    // Two builds identical but for their digest; an anonymous client whose
    // every other request makes the service fail, whichever version gets
    // it. A fixed margin re-checked ten times a second aborted this canary
    // after some 140 requests; a test of significance must not.
    let app = TestApp::spawn_with(TestConfig {
        plugins: vec!["test/hostile"],
        ..TestConfig::default()
    })
    .await;
    let plan = "canary=50&window_ms=10000&min_requests=20";
    let path = format!("/services/hostile?{plan}");
    let started = app
        .admin(Method::PUT, &path, Some(padded("test/hostile", 64)))
        .await;
    assert_eq!(started.status(), 200);
    let mut tasks = Vec::new();
    for c in 0..4 {
        let (client, base) = (app.client.clone(), app.url("/hostile"));
        tasks.push(tokio::spawn(async move {
            let mut statuses = Vec::new();
            for n in 0..250 {
                let route = if (n + c) % 2 == 0 { "panic" } else { "ok" };
                let response = client.get(format!("{base}/{route}")).send().await.unwrap();
                statuses.push(response.status().as_u16());
            }
            statuses
        }));
    }
    let mut failed = 0;
    for task in tasks {
        failed += task.await.unwrap().iter().filter(|s| **s == 500).count();
    }
    // The judge looks every 100 ms and wants a second of agreement.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(failed, 500, "every other request failed");
    let service = app.service("hostile").await;
    assert!(
        !service["canary"].is_null(),
        "the canary was aborted: {:#}",
        history(&app, "hostile").await[0]
    );
    let window = &service["canary"]["window"];
    eprintln!(
        "alternating failures: the canary's window {window}, the live version's {}",
        service["window"]
    );
    assert!(window["requests"].as_u64().unwrap() > 300, "{window}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promote_and_abort_under_load_fail_no_request() {
    let app = Arc::new(TestApp::spawn().await);
    let stop = Arc::new(AtomicBool::new(false));
    let clients = tokio::spawn(load(app.url(""), 6, None, stop.clone()));
    let (status, body) = start_canary(&app, "hello", "test/hello-v2", "canary=50").await;
    assert_eq!(status, 200, "{body}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (status, body) = json(
        app.admin(Method::POST, "/services/hello/promote", None)
            .await,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["promoted"]["version"], "2.0.0");
    let promoted = Instant::now();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (status, body) = start_canary(&app, "hello", "hello", "canary=50").await;
    assert_eq!(status, 200, "{body}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (status, body) = json(app.admin(Method::POST, "/services/hello/abort", None).await).await;
    assert_eq!(status, 200, "{body}");
    let aborted = Instant::now();
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    let seen = clients.await.unwrap();

    eprintln!("{} requests through promote and abort", seen.len());
    assert!(failures(&seen).is_empty(), "{:?}", failures(&seen));
    let between: Vec<&Seen> = seen
        .iter()
        .filter(|s| s.at > promoted + Duration::from_millis(50))
        .collect();
    assert!(
        between
            .iter()
            .all(|s| s.version.as_deref() != Some("1.0.0") || s.at < aborted)
    );
    assert!(
        seen.iter()
            .filter(|s| s.at > aborted)
            .all(|s| s.version.as_deref() == Some("2.0.0"))
    );
    let states: Vec<(String, String)> = history(&app, "hello")
        .await
        .iter()
        .take(3)
        .map(|r| {
            (
                r["state"].as_str().unwrap().into(),
                r["note"].as_str().unwrap_or("").into(),
            )
        })
        .collect();
    assert_eq!(
        states,
        [
            ("aborted".into(), "aborted by the operator".into()),
            ("live".into(), "promoted by the operator".into()),
            ("retired".into(), String::new()),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_sticky_key_a_client_always_reaches_the_same_version() {
    let app = TestApp::spawn().await;
    let (status, body) = start_canary(
        &app,
        "hello",
        "test/hello-v2",
        "canary=30&sticky_header=x-user",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let mut on_canary = 0;
    for user in 0..200 {
        let headers = [("x-user", format!("user-{user}"))];
        let first = hello(&client, &app.url("/hello/x"), &headers).await.version;
        for _ in 0..4 {
            assert_eq!(
                hello(&client, &app.url("/hello/x"), &headers).await.version,
                first,
                "user {user} moved"
            );
        }
        on_canary += usize::from(first.as_deref() == Some("2.0.0"));
    }
    eprintln!("sticky: {on_canary} of 200 users on the canary");
    assert!(
        (30..=90).contains(&on_canary),
        "{on_canary} of 200 users on a 30% canary"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healthy_canary_is_promoted_after_its_bake_time() {
    let app = Arc::new(TestApp::spawn().await);
    let plan = "canary=50&min_requests=5&bake_ms=1500&window_ms=5000";
    let (status, body) = start_canary(&app, "hello", "test/hello-v2", plan).await;
    assert_eq!(status, 200, "{body}");
    let stop = Arc::new(AtomicBool::new(false));
    let clients = tokio::spawn(load(app.url(""), 2, None, stop.clone()));
    let started = Instant::now();
    while !app.service("hello").await["canary"].is_null() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "never promoted"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.store(true, Ordering::Relaxed);
    assert!(failures(&clients.await.unwrap()).is_empty());
    assert!(started.elapsed() >= Duration::from_millis(1000));
    assert_eq!(app.service("hello").await["version"], "2.0.0");
    let record = history(&app, "hello").await[0].clone();
    assert_eq!(record["state"], "live");
    assert!(
        record["note"]
            .as_str()
            .unwrap()
            .starts_with("promoted automatically after baking 1s 500ms"),
        "{record}"
    );
}

#[tokio::test]
async fn bad_canary_requests_get_clear_errors_and_change_nothing() {
    let app = TestApp::spawn().await;
    let v2 = || Some(component("test/hello-v2"));
    let put = |path: &'static str| app.admin(Method::PUT, path, v2());
    error(put("/services/nope?canary=10").await, 404, "not_found").await;
    for query in [
        "canary=0",
        "canary=100",
        "canary=-5",
        "canary=ten",
        "canary=10&precent=3",
        "bake_ms=1000",
        "canary=10&sticky_header=a%20b",
        "canary=10&error_margin=NaN",
    ] {
        let path = format!("/services/hello?{query}");
        let body = error(
            app.admin(Method::PUT, &path, v2()).await,
            422,
            "invalid_canary",
        )
        .await;
        eprintln!("{query}: {}", body["error"]["message"]);
    }
    error(
        app.admin(Method::POST, "/services/hello/promote", None)
            .await,
        404,
        "not_found",
    )
    .await;
    error(
        app.admin(Method::POST, "/services/hello/abort", None).await,
        404,
        "not_found",
    )
    .await;
    let (status, body) = json(put("/services/hello?canary=10").await).await;
    assert_eq!(status, 200, "{body}");
    let before = (
        app.service("hello").await,
        history(&app, "hello").await.len(),
    );
    error(put("/services/hello?canary=30").await, 409, "conflict").await;
    error(app.deploy("hello", "test/hello-v2").await, 409, "conflict").await;
    let body = error(
        app.admin(Method::POST, "/services/hello/rollback", None)
            .await,
        409,
        "conflict",
    )
    .await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("promote or abort it first"),
        "{body}"
    );
    let same = app
        .admin(
            Method::PUT,
            "/services/items?canary=10",
            Some(component("items")),
        )
        .await;
    error(same, 409, "conflict").await;
    let after = (
        app.service("hello").await,
        history(&app, "hello").await.len(),
    );
    assert_eq!(before.0["canary"]["digest"], after.0["canary"]["digest"]);
    assert_eq!(before.0["canary"]["weight"], 10);
    assert_eq!(after.0["canary"]["weight"], 10);
    assert!(after.1 >= before.1);
    assert_eq!(app.get("/hello/x").await.status(), 200);
}

#[tokio::test]
async fn a_canary_whose_migrations_fail_is_refused_and_the_live_version_keeps_serving() {
    let app = TestApp::spawn().await;
    let response = app.deploy("hostile", "test/hostile").await;
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    let (status, body) =
        start_canary(&app, "hostile", "test/hostile-bad-migration", "canary=10").await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "migration_failed", "{body}");
    let view = app.service("hostile").await;
    assert!(view["canary"].is_null(), "{view}");
    assert_eq!(view["state"], "live");
    assert_eq!(history(&app, "hostile").await[0]["state"], "failed");
}

#[tokio::test]
async fn a_preview_reaches_the_named_version_only_when_enabled_and_only_in_its_tenant() {
    let toml =
        "preview_header = true\n[tenancy]\nmode = \"header\"\n[tenants.acme]\n[tenants.globex]";
    let app = TestApp::spawn_with(TestConfig {
        plugins: vec![],
        toml: toml.into(),
        ..TestConfig::default()
    })
    .await;
    for tenant in ["acme", "globex"] {
        let response = app.deploy_to(tenant, "hello", "hello").await;
        assert_eq!(response.status(), 200);
    }
    let path = "/tenants/acme/services/hello?canary=1";
    let (status, body) = json(
        app.admin(Method::PUT, path, Some(component("test/hello-v2")))
            .await,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let digest = body["canary"]["digest"].as_str().unwrap().to_string();
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let url = app.url("/hello/x");
    let ask = |tenant: &'static str, version: String| {
        let (client, url) = (client.clone(), url.clone());
        async move {
            hello(
                &client,
                &url,
                &[
                    ("x-berth-tenant", tenant.into()),
                    ("x-berth-version", version),
                ],
            )
            .await
        }
    };
    for _ in 0..20 {
        assert_eq!(
            ask("acme", "2.0.0".into()).await.version.as_deref(),
            Some("2.0.0")
        );
        assert_eq!(
            ask("acme", digest[..12].into()).await.version.as_deref(),
            Some("2.0.0")
        );
        assert_eq!(
            ask("acme", "1.0.0".into()).await.version.as_deref(),
            Some("1.0.0")
        );
    }
    let unknown = app
        .client
        .get(&url)
        .header("x-berth-tenant", "acme")
        .header("x-berth-version", "9.9.9")
        .send()
        .await
        .unwrap();
    error(unknown, 404, "unknown_version").await;
    // globex has no 2.0.0: acme's canary is never reached from it.
    let other = app
        .client
        .get(&url)
        .header("x-berth-tenant", "globex")
        .header("x-berth-version", "2.0.0")
        .send()
        .await
        .unwrap();
    error(other, 404, "unknown_version").await;
    let other = app
        .client
        .get(&url)
        .header("x-berth-tenant", "globex")
        .header("x-berth-version", digest[..12].to_string())
        .send()
        .await
        .unwrap();
    error(other, 404, "unknown_version").await;

    // What a client previews is its own choice: it is not judged. A broken
    // canary asked for by name 40 times stays, its window empty.
    let path = "/tenants/globex/services/hello?canary=50&min_requests=5";
    let broken = app
        .admin(Method::PUT, path, Some(component("test/hello-broken")))
        .await;
    assert_eq!(broken.status(), 200);
    for _ in 0..40 {
        let seen = ask("globex", "3.0.0".into()).await;
        assert_eq!(seen.status, 500);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, view) = json(
        app.admin(Method::GET, "/tenants/globex/services/hello", None)
            .await,
    )
    .await;
    assert_eq!(view["canary"]["version"], "3.0.0", "{view}");
    assert_eq!(view["canary"]["window"]["requests"], 0, "{view}");

    // Off by default: the header is ignored.
    let plain = TestApp::spawn().await;
    let (status, body) = start_canary(&plain, "hello", "test/hello-v2", "canary=1").await;
    assert_eq!(status, 200, "{body}");
    let mut v1 = 0;
    for _ in 0..40 {
        let seen = hello(
            &client,
            &plain.url("/hello/x"),
            &[("x-berth-version", "2.0.0".into())],
        )
        .await;
        assert_eq!(seen.status, 200);
        v1 += usize::from(seen.version.as_deref() == Some("1.0.0"));
    }
    assert!(
        v1 >= 30,
        "only {v1} of 40 on the live version with previews off"
    );
}

#[tokio::test]
async fn a_running_canary_survives_a_restart() {
    let app = TestApp::spawn().await;
    let (status, body) = start_canary(
        &app,
        "hello",
        "test/hello-v2",
        "canary=40&sticky_header=x-user",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let before = app.service("hello").await["canary"].clone();
    let dirs = app.stop().await;
    let app = TestApp::spawn_with(TestConfig {
        restart: Some(dirs),
        ..TestConfig::default()
    })
    .await;
    let after = app.service("hello").await["canary"].clone();
    for key in ["digest", "weight", "sticky_header", "started_at"] {
        assert_eq!(before[key], after[key], "{key}");
    }
    let undeploy = app.admin(Method::DELETE, "/services/hello", None).await;
    assert_eq!(undeploy.status(), 204);
    assert_eq!(history(&app, "hello").await[1]["state"], "aborted");
}
