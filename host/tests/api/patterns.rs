//! Patterns a hostile service declares, matched against what hostile
//! clients send: `[ab]*a[ab]{n}[^ab]` costs about `n` NFA states on every
//! byte of a random string of `a`s and `b`s. Two such requests (n = 10,000,
//! 30 KB bodies) once froze every tenant for seconds. Now every check is
//! matched within a budget of CPU time, off the request threads past a
//! millisecond, and such requests are refused (422) or told to come back
//! (503) in bounded time, while another tenant's p99 stays under 50 ms.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::{TestApp, error, json};
use crate::victim::{ab, p99, read_victim, victim_and_evil};

/// Four clients of tenant `evil` sending `request()` for `during`; every
/// status they got, with the longest any answer took.
async fn attack<F>(app: &Arc<TestApp>, during: Duration, request: F) -> (Vec<u16>, Duration)
where
    F: Fn(&TestApp, u64) -> reqwest::RequestBuilder + Send + Sync + 'static,
{
    let request = Arc::new(request);
    let mut clients = Vec::new();
    for c in 0..4u64 {
        let (app, request) = (app.clone(), request.clone());
        clients.push(tokio::spawn(async move {
            let started = Instant::now();
            let (mut statuses, mut longest) = (Vec::new(), Duration::ZERO);
            let mut n = 0;
            while started.elapsed() < during {
                n += 1;
                let sent = Instant::now();
                let response = request(&app, c * 1000 + n)
                    .header("x-berth-tenant", "evil")
                    .send()
                    .await
                    .expect("the host answers the attacker too");
                statuses.push(response.status().as_u16());
                response.bytes().await.unwrap();
                longest = longest.max(sent.elapsed());
            }
            (statuses, longest)
        }));
    }
    let (mut all, mut longest) = (Vec::new(), Duration::ZERO);
    for client in clients {
        let (statuses, slowest) = client.await.unwrap();
        all.extend(statuses);
        longest = longest.max(slowest);
    }
    (all, longest)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn costly_body_patterns_are_refused_in_bounded_time_and_other_tenants_keep_their_p99() {
    let app = victim_and_evil("").await;
    let stop = Arc::new(AtomicBool::new(false));
    let victim = read_victim(app.clone(), stop.clone());
    let (statuses, longest) = attack(&app, Duration::from_secs(4), |app, seed| {
        app.client
            .post(app.url("/hostile/redos-body"))
            .json(&json!({"s": ab(30_000, seed)}))
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    let p99 = p99(victim.await.unwrap(), "body patterns");
    println!(
        "{} attacks: {} refused as too costly (422), {} told to wait (503); the longest took {longest:?}",
        statuses.len(),
        statuses.iter().filter(|s| **s == 422).count(),
        statuses.iter().filter(|s| **s == 503).count()
    );
    assert!(
        statuses.iter().all(|s| *s == 422 || *s == 503),
        "{statuses:?}"
    );
    assert!(statuses.contains(&422), "{statuses:?}");
    assert!(
        longest < Duration::from_secs(3),
        "an attack took {longest:?}"
    );
    assert!(p99 < Duration::from_millis(50), "victim p99 {p99:?}");

    // What the refusal says.
    let response = app
        .client
        .post(app.url("/hostile/redos-body"))
        .header("x-berth-tenant", "evil")
        .json(&json!({"s": ab(30_000, 7)}))
        .send()
        .await
        .unwrap();
    let body = error(response, 422, "validation_error").await;
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("too costly to match"), "{message}");
    // A value the pattern can tell quickly is checked as usual.
    for (s, status) in [
        (format!("a{}c", "b".repeat(10_000)), 200),
        ("ab".repeat(10), 422),
    ] {
        let response = app
            .client
            .post(app.url("/hostile/redos-body"))
            .header("x-berth-tenant", "evil")
            .json(&json!({"s": s}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn costly_parameter_patterns_are_refused_in_bounded_time_and_other_tenants_keep_their_p99() {
    let app = victim_and_evil("").await;
    let stop = Arc::new(AtomicBool::new(false));
    let victim = read_victim(app.clone(), stop.clone());
    let (statuses, longest) = attack(&app, Duration::from_secs(4), |app, seed| {
        let query: Vec<String> = (0..32)
            .map(|i| format!("p{i}={}", ab(1024, seed * 100 + i)))
            .collect();
        app.client
            .get(app.url(&format!("/hostile/redos-params?{}", query.join("&"))))
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    let p99 = p99(victim.await.unwrap(), "parameter patterns");
    println!(
        "{} attacks: {:?} statuses; the longest took {longest:?}",
        statuses.len(),
        [200, 422, 503].map(|code| statuses.iter().filter(|s| **s == code).count())
    );
    // Within the budget, 32 such values are checked (and fit: none has a
    // character outside `a` and `b`); past it they are refused. Neither
    // ever stalls the host.
    assert!(
        statuses.iter().all(|s| matches!(*s, 200 | 422 | 503)),
        "{statuses:?}"
    );
    assert!(
        longest < Duration::from_secs(3),
        "an attack took {longest:?}"
    );
    assert!(p99 < Duration::from_millis(50), "victim p99 {p99:?}");
    let (status, _) = json(app.get("/healthz").await).await;
    assert_eq!(status, 200);
}
