//! Under load: a request over a cap waits its turn instead of being turned
//! away, up to a queue budget; past it, or with the queue full, it gets 503
//! (429 for the tenant's cap) with `Retry-After`; every answer is counted;
//! one tenant's flood leaves another tenant served; and a stopping server
//! finishes what it accepted.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::Method;

use crate::helpers::{Server, TestApp, TestConfig, component, free_port};

fn hostile(toml: &str) -> TestConfig {
    TestConfig {
        plugins: vec!["items", "hello", "test/hostile"],
        toml: toml.to_string(),
        ..TestConfig::default()
    }
}

/// `n` concurrent GETs of `path`; their statuses and `Retry-After`s.
async fn burst(app: &Arc<TestApp>, path: &str, n: usize) -> Vec<(u16, Option<String>)> {
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let (app, path) = (app.clone(), path.to_string());
            tokio::spawn(async move {
                let response = app.get(&path).await;
                let retry = response
                    .headers()
                    .get("retry-after")
                    .map(|v| v.to_str().unwrap().to_string());
                (response.status().as_u16(), retry)
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.unwrap());
    }
    outcomes
}

/// The value of one `berth_requests_total` series whose labels include
/// every one of `labels`.
async fn requests_total(app: &TestApp, labels: &[&str]) -> u64 {
    let text = app.metrics().await;
    text.lines()
        .filter(|l| l.starts_with("berth_requests_total{") && labels.iter().all(|m| l.contains(m)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_above_the_cap_is_served_in_full_when_the_queue_budget_allows() {
    let app = Arc::new(
        TestApp::spawn_with(hostile(
            "[services.hostile.limits]\nmax_concurrency = 2\nqueue_timeout_ms = 5000",
        ))
        .await,
    );
    let started = Instant::now();
    let outcomes = burst(&app, "/hostile/cpu?n=20000000", 12).await;
    assert!(outcomes.iter().all(|(s, _)| *s == 200), "{outcomes:?}");
    println!("12 requests through a cap of 2 in {:?}", started.elapsed());
    let text = app.metrics().await;
    assert!(
        text.contains("berth_queue_wait_seconds_count{tenant=\"default\",service=\"hostile\"}"),
        "{text}"
    );
    assert!(
        text.contains("berth_queue_depth{tenant=\"default\",service=\"hostile\"} 0"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_a_tiny_budget_the_excess_gets_503_with_retry_after_and_each_one_is_counted() {
    let app = Arc::new(
        TestApp::spawn_with(hostile(
            "[services.hostile.limits]\nmax_concurrency = 1\nqueue_timeout_ms = 50\nmax_queue = 3\nrequest_timeout_ms = 1000",
        ))
        .await,
    );
    let labels = [
        "service=\"hostile\"",
        "status=\"503\"",
        "outcome=\"overloaded\"",
    ];
    let before = requests_total(&app, &labels).await;
    let outcomes = burst(&app, "/hostile/spin", 8).await;
    let refused: Vec<_> = outcomes.iter().filter(|(s, _)| *s == 503).collect();
    let ran = outcomes.iter().filter(|(s, _)| *s == 504).count();
    assert_eq!((ran, refused.len()), (1, 7), "{outcomes:?}");
    assert!(
        refused
            .iter()
            .all(|(_, retry)| retry.as_deref() == Some("1")),
        "{outcomes:?}"
    );
    assert_eq!(requests_total(&app, &labels).await - before, 7);
    // Answers the host gives before any service is reached count too.
    let before = requests_total(&app, &["outcome=\"not_found\""]).await;
    assert_eq!(app.get("/no/such/route").await.status(), 404);
    assert_eq!(
        requests_total(&app, &["outcome=\"not_found\""]).await - before,
        1
    );
    let before = requests_total(&app, &["service=\"items\"", "outcome=\"validation_error\""]).await;
    let response = app
        .post_json("/items", &serde_json::json!({"name": ""}))
        .await;
    assert_eq!(response.status(), 422);
    assert_eq!(
        requests_total(&app, &["service=\"items\"", "outcome=\"validation_error\""]).await - before,
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tenant_cap_queues_the_same_way() {
    let app = Arc::new(
        TestApp::spawn_with(hostile(
            "[limits]\ntenant_max_concurrency = 2\nqueue_timeout_ms = 5000",
        ))
        .await,
    );
    let outcomes = burst(&app, "/hostile/cpu?n=20000000", 8).await;
    assert!(outcomes.iter().all(|(s, _)| *s == 200), "{outcomes:?}");
    let app = Arc::new(
        TestApp::spawn_with(hostile(
            "[limits]\ntenant_max_concurrency = 1\nqueue_timeout_ms = 50\nrequest_timeout_ms = 1000",
        ))
        .await,
    );
    let outcomes = burst(&app, "/hostile/spin", 4).await;
    let refused = outcomes
        .iter()
        .filter(|(s, r)| *s == 429 && r.as_deref() == Some("1"))
        .count();
    assert_eq!(refused, 3, "{outcomes:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooding_tenant_does_not_queue_another_tenants_reads() {
    let app = Arc::new(
        TestApp::spawn_with(TestConfig {
            plugins: vec![],
            toml: "[tenancy]\nmode = \"header\"".into(),
            ..TestConfig::default()
        })
        .await,
    );
    for tenant in ["flood", "quiet"] {
        app.admin(Method::PUT, &format!("/tenants/{tenant}"), None)
            .await;
        let response = app.deploy_to(tenant, "items", "items").await;
        assert_eq!(response.status(), 200);
        let response = app
            .client
            .post(app.url("/items"))
            .header("x-berth-tenant", tenant)
            .json(&serde_json::json!({"name": "x", "price": 1}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
    }
    let flooding = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let flooders: Vec<_> = (0..200)
        .map(|_| {
            let (app, flooding) = (app.clone(), flooding.clone());
            tokio::spawn(async move {
                let mut statuses = Vec::new();
                while flooding.load(std::sync::atomic::Ordering::Relaxed) {
                    let started = Instant::now();
                    let response = app
                        .client
                        .get(app.url("/items/1"))
                        .header("x-berth-tenant", "flood")
                        .send()
                        .await
                        .unwrap();
                    statuses.push((response.status().as_u16(), started.elapsed()));
                }
                statuses
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut latencies = Vec::new();
    for _ in 0..200 {
        let started = Instant::now();
        let response = app
            .client
            .get(app.url("/items/1"))
            .header("x-berth-tenant", "quiet")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        latencies.push(started.elapsed());
    }
    flooding.store(false, std::sync::atomic::Ordering::Relaxed);
    let mut flood_statuses = Vec::new();
    for flooder in flooders {
        flood_statuses.extend(flooder.await.unwrap());
    }
    latencies.sort();
    let p99 = latencies[latencies.len() * 99 / 100];
    let refused = flood_statuses.iter().filter(|(s, _)| *s != 200).count();
    let mut flood_latencies: Vec<_> = flood_statuses.iter().map(|(_, t)| *t).collect();
    flood_latencies.sort();
    let flood_p50 = flood_latencies[flood_latencies.len() / 2];
    println!(
        "quiet tenant p50 {:?} p99 {p99:?}; flooding tenant p50 {flood_p50:?} \
         ({} requests from 200 clients, {refused} not 200)",
        latencies[latencies.len() / 2],
        flood_statuses.len()
    );
    // 200 flooders against 32 slots keep about 170 requests queued, so a
    // flood request waits several service times. A quiet read that waited
    // in that queue would be as slow; one that is admitted on its own is
    // served in about one service time: its median stays well under the
    // flood's (4× under it in a loaded CI run; the tails of both depend on
    // what else the machine runs, so they are not compared). The absolute
    // 100 ms p99 target is measured by the benchmark.
    let quiet_p50 = latencies[latencies.len() / 2];
    assert!(
        quiet_p50 * 2 < flood_p50,
        "quiet tenant p50 {quiet_p50:?} is not well below the flooding tenant's p50 {flood_p50:?}"
    );
    assert_eq!(refused, 0, "the flood itself was served in full");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_finishes_every_accepted_request_then_exits() {
    let data = tempfile::TempDir::new().unwrap();
    let plugins = tempfile::TempDir::new().unwrap();
    std::fs::write(
        plugins.path().join("hostile.wasm"),
        component("test/hostile"),
    )
    .unwrap();
    // More requests than the tenant may run at once: some are queued when
    // the signal comes, and must be served too.
    let config = data.path().join("berth.toml");
    std::fs::write(
        &config,
        "[limits]\nqueue_timeout_ms = 20000\ntenant_max_concurrency = 8",
    )
    .unwrap();
    let server = Server::start(
        &data,
        &plugins,
        free_port(),
        &[("BERTH_CONFIG", config.to_str().unwrap())],
    );
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    server.wait_ready(&client).await;
    let url = format!("{}/hostile/cpu?n=100000000", server.url);
    let in_flight: Vec<_> = (0..24)
        .map(|_| {
            let (client, url) = (client.clone(), url.clone());
            tokio::spawn(async move {
                let response = client.get(url).send().await.map_err(|e| e.to_string())?;
                let status = response.status().as_u16();
                let body = response.text().await.map_err(|e| e.to_string())?;
                Ok::<_, String>((status, body))
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let signalled = Instant::now();
    let base = server.url.clone();
    let exit = tokio::task::spawn_blocking(move || server.terminate(Duration::from_secs(30)));
    let mut served = 0;
    for request in in_flight {
        let (status, body) = request.await.unwrap().expect("an accepted request failed");
        assert_eq!(status, 200, "{body}");
        served += 1;
    }
    println!("all 24 answered {:?} after SIGTERM", signalled.elapsed());
    let exit = exit.await.unwrap();
    assert!(exit.success(), "berth exited with an error");
    assert_eq!(served, 24);
    // Nothing listens any more.
    let refused = client.get(format!("{base}/healthz")).send().await;
    assert!(refused.is_err(), "still answering after exit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_give_up_while_queued_leave_no_place_taken() {
    let app = Arc::new(
        TestApp::spawn_with(hostile(
            "[services.hostile.limits]\nmax_concurrency = 1\nmax_queue = 3\nqueue_timeout_ms = 5000\nrequest_timeout_ms = 600",
        ))
        .await,
    );
    for _ in 0..3 {
        let spinner = {
            let app = app.clone();
            tokio::spawn(async move { app.get("/hostile/spin").await.status().as_u16() })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        // Three clients queue up behind it and hang up.
        let impatient = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_millis(150))
            .build()
            .unwrap();
        for _ in 0..3 {
            assert!(impatient.get(app.url("/hostile/ok")).send().await.is_err());
        }
        assert_eq!(spinner.await.unwrap(), 504);
    }
    // Had their places stayed taken, the queue (of 3) would be full.
    let outcomes = burst(&app, "/hostile/ok", 4).await;
    assert!(outcomes.iter().all(|(s, _)| *s == 200), "{outcomes:?}");
}
