//! Canaries across replicas sharing PostgreSQL: a canary started on one is
//! served in the same proportions by another, and an abort decided by one
//! replica's judge is followed by the other.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::Value;

use crate::canary::load;
use crate::helpers::{ADMIN_TOKEN, Server, component, on_postgres};
use crate::replicas::Replicas;

/// The canary of hello as `server` shows it (`Null` when none runs).
async fn hello_canary(server: &Server) -> Value {
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let body: Value = client
        .get(format!("{}/admin/services", server.admin_url))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "hello")
        .map(|s| s["canary"].clone())
        .unwrap_or(Value::Null)
}

async fn wait_for_canary(server: &Server, version: Option<&str>, within: Duration) -> Duration {
    let started = Instant::now();
    while hello_canary(server).await["version"].as_str() != version {
        assert!(
            started.elapsed() < within,
            "the canary is not {version:?} after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    started.elapsed()
}

fn share(seen: &[crate::canary::Seen], version: &str) -> usize {
    assert!(seen.iter().all(|s| s.status == 200), "a request failed");
    seen.iter()
        .filter(|s| s.version.as_deref() == Some(version))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_route_the_same_canary_share_and_follow_an_abort_decided_by_one() {
    if !on_postgres() {
        return; // Replicas share PostgreSQL; SQLite is one process.
    }
    let mut replicas = Replicas::new().await;
    let first = replicas.start(true).await;
    let second = replicas.start(false).await;

    let status = replicas
        .admin(
            &first,
            Method::PUT,
            "/services/hello?canary=20",
            Some(component("test/hello-v2")),
        )
        .await;
    assert_eq!(status, 200);
    let took = wait_for_canary(&second, Some("2.0.0"), Duration::from_secs(5)).await;
    println!("a canary started on the first replica was followed by the second after {took:?}");
    assert_eq!(hello_canary(&second).await["weight"], 20);
    for server in [&first, &second] {
        let seen = load(server.url.clone(), 4, Some(250), Arc::default()).await;
        let v2 = share(&seen, "2.0.0");
        println!("{}: the canary served {v2} of 1000", server.url);
        assert!((150..=250).contains(&v2), "{v2} of 1000 on a 20% canary");
    }

    // The operator aborts through one; the other follows.
    let status = replicas
        .admin(&second, Method::POST, "/services/hello/abort", None)
        .await;
    assert_eq!(status, 200);
    wait_for_canary(&first, None, Duration::from_secs(5)).await;

    // A broken canary, judged by the first replica only (only it gets
    // requests): its abort reaches the second.
    let plan = "/services/hello?canary=20&min_requests=20&window_ms=10000";
    let status = replicas
        .admin(
            &second,
            Method::PUT,
            plan,
            Some(component("test/hello-broken")),
        )
        .await;
    assert_eq!(status, 200);
    wait_for_canary(&first, Some("3.0.0"), Duration::from_secs(5)).await;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let clients = tokio::spawn(load(first.url.clone(), 4, None, stop.clone()));
    wait_for_canary(&first, None, Duration::from_secs(20)).await;
    let decided = Instant::now();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let seen = clients.await.unwrap();
    let failed = seen.iter().filter(|s| s.status != 200).count();
    println!(
        "the first replica aborted the broken canary after {failed} failures of {} requests",
        seen.len()
    );
    wait_for_canary(&second, None, Duration::from_secs(5)).await;
    println!(
        "the second replica followed the abort after {:?}",
        decided.elapsed()
    );
    let after = load(second.url.clone(), 4, Some(50), Arc::default()).await;
    assert_eq!(share(&after, "1.0.0"), 200);
    let _ = replicas.hello_version(&second).await;
}
