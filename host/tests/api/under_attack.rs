//! Every attack of the sandbox suite, one after the other, from one tenant,
//! while another tenant's `items` is read without pause: the host stays up
//! and the other tenant keeps being served, with a p99 under 50 ms.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{json, on_postgres};
use crate::victim::{ab, p99, read_victim, victim_and_evil};

/// (method, path, body) of each attack, as tenant `evil`.
fn attacks() -> Vec<(Method, String, Option<Value>)> {
    let sql = |sql: &str, params: Value| {
        (
            Method::POST,
            "/hostile/sql".to_string(),
            Some(json!({"sql": sql, "params": params})),
        )
    };
    let get = |path: &str| (Method::GET, path.to_string(), None);
    let mut attacks = vec![
        sql("SELECT length(randomblob(400000000))", json!([])),
        sql("SELECT $1", json!([{"text_of": 3_000_000}])),
        get("/hostile/sql-flood"),
        get("/hostile/slow-sql"),
        get("/hostile/big-query"),
        get("/hostile/param-flood?count=20000"),
        get("/hostile/hostcall-big?mb=32&times=3"),
        get("/hostile/log-abuse?fields=10000&size=1024&calls=20"),
        get("/hostile/http-fields?count=100000&size=65536"),
        get("/hostile/memory"),
        get("/hostile/recurse"),
        get("/hostile/panic"),
        get("/hostile/spin"),
        get("/hostile/call-flood"),
        (
            Method::POST,
            "/hostile/validate".into(),
            Some(json!({"s": format!("{}!", "a".repeat(50_000))})),
        ),
        (
            Method::POST,
            "/hostile/redos-body".into(),
            Some(json!({"s": ab(30_000, 1)})),
        ),
        get(&format!(
            "/hostile/redos-params?{}",
            (0..32)
                .map(|i| format!("p{i}={}", ab(1024, i)))
                .collect::<Vec<_>>()
                .join("&")
        )),
    ];
    if on_postgres() {
        for statement in [
            "SELECT pg_advisory_lock(hashtext('anything'))::text",
            "SELECT count(pg_try_advisory_lock(g)) FROM generate_series(1, 1000000) g",
            "SELECT pg_notify('berth_changes', 'default/*')::text",
            "SELECT rolname FROM pg_roles",
            "SELECT pg_sleep(30)::text",
            "SELECT lo_from_bytea(0, 'x')::text",
        ] {
            attacks.push(sql(statement, json!([])));
        }
    } else {
        attacks.push(sql("SELECT fts3_tokenizer($1)", json!(["simple"])));
        attacks.push(sql(
            "SELECT fts3_tokenizer($1, $2)",
            json!(["evil", {"blob": "4141414141414141"}]),
        ));
        attacks.push(sql("SELECT * FROM pragma_hard_heap_limit(1)", json!([])));
        attacks.push(sql("ALTER TABLE _berth_migrations RENAME TO x", json!([])));
    }
    attacks
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_host_and_another_tenant_are_unaffected_while_every_attack_runs() {
    let app =
        victim_and_evil("request_timeout_ms = 1500\nstatement_timeout_ms = 500\nmemory_mb = 32")
            .await;

    let stop = Arc::new(AtomicBool::new(false));
    let reader = read_victim(app.clone(), stop.clone());
    for (method, path, body) in attacks() {
        let mut request = app
            .client
            .request(method, app.url(&path))
            .header("x-berth-tenant", "evil");
        if let Some(body) = &body {
            request = request.json(body);
        }
        let status = request.send().await.expect("the host survives").status();
        assert!(status.as_u16() < 600, "{path}");
    }
    stop.store(true, Ordering::Relaxed);
    let p99 = p99(reader.await.unwrap(), "victim reads during the attacks");
    assert!(p99 < Duration::from_millis(50), "victim p99 {p99:?}");
    let (status, _) = json(app.get("/healthz").await).await;
    assert_eq!(status, 200);
}
