//! Services written in JavaScript (componentize-js, `sdk/js`): `hello-js`
//! greets like `hello` from its deployment's settings and logs into the
//! host's log; a plain `Error` thrown by a handler is a 500 that leaves the
//! service serving; and a standard `wasi:http/proxy` component written with
//! the fetch event (`fetch-js`) is mounted at its name.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestConfig, component, error, free_port, json};

fn with(plugins: Vec<&'static str>, toml: &str) -> TestConfig {
    TestConfig {
        plugins,
        toml: toml.into(),
        ..TestConfig::default()
    }
}

#[tokio::test]
async fn a_javascript_service_greets_with_the_deployment_greeting() {
    let app = TestApp::spawn_with(with(vec!["hello-js", "hello"], "")).await;
    let (status, body) = json(app.get("/hello-js/ada").await).await;
    assert_eq!(
        (status, &body),
        (200, &json!({"message": "Hello, ada!", "version": "1.0.0"}))
    );
    let (status, body) = json(app.get("/hello-js").await).await;
    assert_eq!((status, &body["message"]), (200, &json!("Hello, world!")));
    // The same contract as the Rust `hello`.
    let (_, rust) = json(app.get("/hello/ada").await).await;
    assert_eq!(rust, json!({"message": "Hello, ada!", "version": "1.0.0"}));
    // A Problem thrown by the handler: the host's standard error body.
    let long = format!("/hello-js/{}", "x".repeat(101));
    let body = error(app.get(&long).await, 422, "validation_error").await;
    assert_eq!(body["error"]["field"], "name", "{body}");

    let view = app.service("hello-js").await;
    assert_eq!(
        (&view["kind"], &view["version"]),
        (&json!("berth-service"), &json!("1.0.0")),
        "{view}"
    );
    let (_, openapi) = json(app.get("/openapi.json").await).await;
    let get = &openapi["paths"]["/hello-js/{name}"]["get"];
    assert_eq!(get["summary"], "Greet someone by name", "{openapi}");
    assert_eq!(
        openapi["paths"]["/hello-js"]["get"]["summary"],
        "Greet the world"
    );

    let configured = TestApp::spawn_with(with(
        vec!["hello-js"],
        "[services.hello-js.settings]\ngreeting = \"Howdy\"",
    ))
    .await;
    let (status, body) = json(configured.get("/hello-js/ada").await).await;
    assert_eq!(
        (status, body),
        (200, json!({"message": "Howdy, ada!", "version": "1.0.0"}))
    );
}

#[tokio::test]
async fn a_plain_error_thrown_in_javascript_is_a_500_and_the_service_keeps_serving() {
    let app = TestApp::spawn_with(with(vec!["test/throws-js", "hello"], "")).await;
    for _ in 0..3 {
        for failing in ["/throws-js/boom", "/throws-js/later", "/throws-js/string"] {
            let body = error(app.get(failing).await, 500, "service_failed").await;
            let message = body["error"]["message"].as_str().unwrap();
            assert!(
                !message.contains("the handler failed"),
                "the service's own message is not sent: {body}"
            );
        }
        let (status, body) = json(app.get("/throws-js/ok").await).await;
        assert_eq!((status, &body["ok"]), (200, &json!(true)), "{body}");
    }
    // A Problem is not a failure: the host renders it as the service said.
    let body = error(app.get("/throws-js/problem").await, 409, "conflict").await;
    assert_eq!(body["error"]["message"], "a problem, reported on purpose");
    let (status, _) = json(app.get("/hello/ada").await).await;
    assert_eq!(status, 200, "and the others keep serving");

    let metrics = app.metrics().await;
    let count = |outcome: &str| {
        metrics
            .lines()
            .filter(|l| {
                l.starts_with("berth_requests_total{")
                    && l.contains("service=\"throws-js\"")
                    && l.contains(&format!("outcome=\"{outcome}\""))
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>()
    };
    assert_eq!(count("service_failed"), 9.0, "{metrics}");
    assert_eq!(count("served"), 4.0, "{metrics}");
}

#[tokio::test]
async fn a_javascript_wasi_http_component_is_mounted_at_its_name() {
    let app = TestApp::spawn_with(with(vec!["test/fetch-js"], "")).await;
    let response = app
        .client
        .get(app.url("/fetch-js/echo/ada?q=hi%20there&x=1"))
        .header("x-echo", "yes")
        .header("x-forwarded-prefix", "/forged")
        .send()
        .await
        .unwrap();
    let (status, seen) = json(response).await;
    assert_eq!(status, 200, "{seen}");
    assert_eq!(
        seen,
        json!({
            "method": "GET",
            "path": "/echo/ada",
            "query": "hi there",
            "header": "yes",
            "prefix": "/fetch-js",
        })
    );
    let (_, seen) = json(app.get("/fetch-js").await).await;
    assert_eq!(seen["path"], "/", "{seen}");

    let body = vec![b'x'; 300_000];
    let response = app
        .client
        .post(app.url("/fetch-js/length"))
        .body(body)
        .send()
        .await
        .unwrap();
    let (status, seen) = json(response).await;
    assert_eq!(
        (status, seen),
        (200, json!({"method": "POST", "length": 300_000}))
    );

    let view = app.service("fetch-js").await;
    assert_eq!(view["kind"], "wasi-http-proxy", "{view}");

    // Deployed through the admin API under another name, it is mounted there.
    let response = app
        .admin(
            Method::PUT,
            "/services/edge-js",
            Some(component("test/fetch-js")),
        )
        .await;
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    let (status, seen) = json(app.get("/edge-js/x?q=1").await).await;
    assert_eq!(
        (status, &seen["path"], &seen["prefix"], &seen["query"]),
        (200, &json!("/x"), &json!("/edge-js"), &json!("1")),
        "{seen}"
    );
}

/// `berth serve` with JSON logs on stderr, written to `log`.
fn serve_logging(data: &Path, plugins: &Path, log: &Path, port: u16) -> Child {
    let config = data.join("berth.toml");
    // The compile cache the in-process instances share (see helpers.rs).
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("compile-cache");
    std::fs::write(
        &config,
        format!("[runtime]\ncache_dir = {:?}\n", cache.display().to_string()),
    )
    .unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_berth"));
    command
        .arg("serve")
        .env("BERTH_CONFIG", &config)
        .env("BERTH_LISTEN", format!("127.0.0.1:{port}"))
        .env("BERTH_ADMIN_LISTEN", "127.0.0.1:0")
        .env("BERTH_DATA_DIR", data)
        .env("BERTH_PLUGINS_DIR", plugins)
        .env("BERTH_LOG", "info")
        .env("BERTH_LOG_FORMAT", "json")
        .env_remove("BERTH_DATABASE_URL")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap());
    command.spawn().unwrap()
}

/// The JSON log lines of `log` that `matches`, waiting up to 10 s for one.
fn lines_matching(log: &Path, matches: impl Fn(&Value) -> bool) -> Vec<Value> {
    let started = Instant::now();
    loop {
        let file = std::fs::File::open(log).unwrap();
        let found: Vec<Value> = BufReader::new(file)
            .lines()
            .map_while(Result::ok)
            .filter_map(|l| serde_json::from_str::<Value>(&l).ok())
            .filter(|l| matches(l))
            .collect();
        if !found.is_empty() || started.elapsed() > Duration::from_secs(10) {
            return found;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test]
async fn what_a_javascript_service_logs_reaches_the_host_log_in_its_request() {
    let data = tempfile::tempdir().unwrap();
    let plugins = tempfile::tempdir().unwrap();
    for (file, name) in [("hello-js", "hello-js"), ("throws-js", "test/throws-js")] {
        std::fs::write(plugins.path().join(format!("{file}.wasm")), component(name)).unwrap();
    }
    let log = data.path().join("stderr.log");
    let port = free_port();
    let mut child = serve_logging(data.path(), plugins.path(), &log, port);
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    while !client
        .get(format!("{base}/readyz"))
        .send()
        .await
        .is_ok_and(|r| r.status() == 200)
    {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "berth did not start: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let greeted = client
        .get(format!("{base}/hello-js/ada"))
        .send()
        .await
        .unwrap();
    assert_eq!(greeted.status(), 200);
    let greeted_id = greeted.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    let failed = client
        .get(format!("{base}/throws-js/boom"))
        .send()
        .await
        .unwrap();
    assert_eq!(failed.status(), 500);
    let failed_id = failed.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();

    let from_service = |message: &'static str| {
        move |line: &Value| line["target"] == "berth::service" && line["message"] == message
    };
    let greeting = lines_matching(&log, from_service("greeted"));
    let unhandled = lines_matching(&log, from_service("unhandled error"));
    // The trap's reason, which the engine writes to stderr as it aborts.
    let trapped = lines_matching(&log, |line| {
        line["target"] == "berth::service"
            && line["stream"] == "stderr"
            && line["output"]
                .as_str()
                .is_some_and(|o| o.contains("unhandled Error: the handler failed"))
    });
    let _ = child.kill();
    let _ = child.wait();
    let everything = std::fs::read_to_string(&log).unwrap();

    let [greeting] = greeting.as_slice() else {
        panic!("one `greeted` line expected: {everything}");
    };
    assert_eq!(greeting["level"], "INFO", "{greeting}");
    assert_eq!(greeting["service"], "hello-js", "{greeting}");
    assert_eq!(greeting["fields"], "name=ada", "{greeting}");
    assert!(
        greeting.to_string().contains(&greeted_id),
        "logged inside the request's span ({greeted_id}): {greeting}"
    );

    let [unhandled] = unhandled.as_slice() else {
        panic!("one `unhandled error` line expected: {everything}");
    };
    assert_eq!(unhandled["level"], "ERROR", "{unhandled}");
    let fields = unhandled["fields"].as_str().unwrap();
    assert!(
        fields.contains("Error: the handler failed") && fields.contains("stack="),
        "the error and its stack: {unhandled}"
    );
    assert!(unhandled.to_string().contains(&failed_id), "{unhandled}");
    assert!(
        trapped.iter().any(|l| l.to_string().contains(&failed_id)),
        "the trap's reason is logged with the request: {everything}"
    );
}

#[tokio::test]
async fn the_javascript_sdk_binds_typed_values_and_runs_transactions_on_the_database() {
    let app = TestApp::spawn_with(with(vec!["test/db-js"], "")).await;
    let postgres = crate::helpers::on_postgres();
    let note = json!({
        "title": "a",
        // 2^53 + 1: exact only as a BigInt.
        "big": "9007199254740993",
        // Whole, yet bound as REAL through db.real().
        "score": 2,
        "done": true,
        "data": [0, 1, 255],
        "note": null,
    });
    let (status, read) = json(app.post_json("/db-js", &note).await).await;
    assert_eq!(status, 201, "{read}");
    assert_eq!(
        read["dialect"],
        if postgres { "postgres" } else { "sqlite" }
    );
    assert_eq!(read["title"], "a");
    assert_eq!(read["big"], "9007199254740993", "{read}");
    assert_eq!(read["score"], 2.0);
    assert_eq!(read["done"], true, "a BOOLEAN column reads back as one");
    assert_eq!(read["data"], json!([0, 1, 255]));
    assert_eq!(read["note"], Value::Null);
    assert!(read["id"].as_i64().is_some_and(|id| id > 0), "{read}");

    // A violated constraint is a 409 (the SDK's DatabaseError is a Problem).
    let body = error(app.post_json("/db-js", &note).await, 409, "conflict").await;
    assert!(
        !body.to_string().to_lowercase().contains("unique"),
        "the database's message stays in the log: {body}"
    );
    // The host validates the declared schema before the service runs.
    let body = error(
        app.post_json("/db-js", &json!({"title": "b"})).await,
        422,
        "validation_error",
    )
    .await;
    assert!(body["error"]["field"].is_string(), "{body}");

    let count = || async { json(app.get("/db-js/count").await).await.1["count"].clone() };
    let batch = async |titles: &[&str], fail: bool| {
        let body = json!({"titles": titles, "fail": fail});
        app.post_json("/db-js/batch", &body).await
    };
    let (status, body) = json(batch(&["b", "c"], false).await).await;
    assert_eq!((status, &body["inserted"]), (200, &json!(2)), "{body}");
    assert_eq!(count().await, 3);
    // A Problem thrown inside the transaction rolls it back.
    error(batch(&["d", "e"], true).await, 409, "conflict").await;
    assert_eq!(count().await, 3);
    // So does a failed statement: `f` goes with the duplicate `a`.
    error(batch(&["f", "a"], false).await, 409, "conflict").await;
    assert_eq!(count().await, 3);
}
