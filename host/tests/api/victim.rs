//! What the attack tests share: a berth with header tenancy where tenant
//! `victim` serves `items` and tenant `evil` serves `hostile`, a reader of
//! the victim's item that keeps every latency, and the values that make
//! `hostile`'s patterns costly.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;

use crate::helpers::{TestApp, TestConfig};

/// berth with `items` for `victim` (one item, id 1) and `hostile` for
/// `evil`; `evil_limits` is a `[tenants.evil.limits]` table's body.
pub async fn victim_and_evil(evil_limits: &str) -> Arc<TestApp> {
    let app = Arc::new(
        TestApp::spawn_with(TestConfig {
            plugins: vec![],
            toml: format!("[tenancy]\nmode = \"header\"\n[tenants.evil.limits]\n{evil_limits}"),
            ..TestConfig::default()
        })
        .await,
    );
    for (tenant, name, component) in [
        ("victim", "items", "items"),
        ("evil", "hostile", "test/hostile"),
    ] {
        app.admin(Method::PUT, &format!("/tenants/{tenant}"), None)
            .await;
        let response = app.deploy_to(tenant, name, component).await;
        assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    }
    let response = app
        .client
        .post(app.url("/items"))
        .header("x-berth-tenant", "victim")
        .json(&json!({"name": "steady", "price": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    app
}

/// Reads the victim's item without pause until `stop`; every latency.
pub fn read_victim(
    app: Arc<TestApp>,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<Vec<Duration>> {
    tokio::spawn(async move {
        let mut latencies = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            let started = Instant::now();
            let response = app
                .client
                .get(app.url("/items/1"))
                .header("x-berth-tenant", "victim")
                .send()
                .await
                .expect("the host answers");
            assert_eq!(response.status(), 200, "the victim was refused");
            response.bytes().await.unwrap();
            latencies.push(started.elapsed());
        }
        latencies
    })
}

/// The p99 of `latencies`, printed with the rest, after at least 100 reads.
pub fn p99(mut latencies: Vec<Duration>, what: &str) -> Duration {
    latencies.sort();
    let p99 = latencies[latencies.len() * 99 / 100];
    println!(
        "{what}: {} victim reads, p50 {:?}, p99 {p99:?}, max {:?}",
        latencies.len(),
        latencies[latencies.len() / 2],
        latencies.last().unwrap()
    );
    assert!(latencies.len() > 100, "only {} reads", latencies.len());
    p99
}

/// `len` pseudo-random `a`s and `b`s from `seed`: for `hostile`'s
/// `[ab]*a[ab]{n}[^ab]` patterns, a new DFA state at nearly every byte.
pub fn ab(len: usize, seed: u64) -> String {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    (0..len)
        .map(|_| if rng.random_bool(0.5) { 'a' } else { 'b' })
        .collect()
}
