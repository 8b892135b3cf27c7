//! The plugins directory as an operator uses it: relative paths (the
//! default is one), files replaced by refused versions and then removed,
//! and components too large for a request body deployed through the admin
//! API and the CLI.

use std::path::Path;
use std::time::{Duration, Instant};

use reqwest::{Client, Method};

use crate::helpers::{
    ADMIN_TOKEN, Server, TestApp, TestConfig, component, error, free_port, json, padded,
};

/// Renames `bytes` into `dir` as `file`, the documented way to drop one.
fn drop_into(dir: &Path, file: &str, bytes: &[u8]) {
    let partial = dir.join(format!("{file}.partial"));
    std::fs::write(&partial, bytes).unwrap();
    std::fs::rename(&partial, dir.join(file)).unwrap();
}

/// Polls `url` until it answers `status` (and, for 200, `version`).
async fn wait_for(client: &Client, url: &str, status: u16, version: Option<&str>) {
    let started = Instant::now();
    loop {
        let response = client.get(url).send().await.unwrap();
        let answered = response.status().as_u16();
        let body: serde_json::Value = response.json().await.unwrap_or_default();
        if answered == status && version.is_none_or(|v| body["version"] == v) {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{url} answered {answered} {body}, not {status} {version:?}, within 3 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Drop, replace and delete `hello.wasm` in `plugins` of a running server.
async fn swap_by_file(server: &Server, plugins: &Path) {
    let client = Client::new();
    server.wait_ready(&client).await;
    let url = format!("{}/hello/x", server.url);
    wait_for(&client, &url, 404, None).await;
    drop_into(plugins, "hello.wasm", &component("hello"));
    wait_for(&client, &url, 200, Some("1.0.0")).await;
    drop_into(plugins, "hello.wasm", &component("test/hello-v2"));
    wait_for(&client, &url, 200, Some("2.0.0")).await;
    std::fs::remove_file(plugins.join("hello.wasm")).unwrap();
    wait_for(&client, &url, 404, None).await;
}

#[tokio::test]
async fn the_default_plugins_dir_is_watched_though_it_is_relative() {
    let cwd = tempfile::tempdir().unwrap();
    let server = Server::start_in(cwd.path(), free_port(), &[]);
    swap_by_file(&server, &cwd.path().join("berth-data/plugins")).await;
}

#[tokio::test]
async fn a_relative_plugins_dir_is_watched_and_known_by_one_name_across_restarts() {
    let cwd = tempfile::tempdir().unwrap();
    let plugins = cwd.path().join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    let env = [("BERTH_PLUGINS_DIR", "plugins"), ("BERTH_DATA_DIR", "data")];
    let port = free_port();
    let server = Server::start_in(cwd.path(), port, &env);
    swap_by_file(&server, &plugins).await;

    // A file that was live when berth stopped, then removed while it was
    // down, is undeployed at the next start.
    drop_into(&plugins, "hello.wasm", &component("hello"));
    let client = Client::new();
    let url = format!("{}/hello/x", server.url);
    wait_for(&client, &url, 200, Some("1.0.0")).await;
    server.kill();
    std::fs::remove_file(plugins.join("hello.wasm")).unwrap();
    let server = Server::start_in(cwd.path(), port, &env);
    server.wait_ready(&client).await;
    wait_for(&client, &url, 404, None).await;
}

#[tokio::test]
async fn removing_a_file_whose_last_version_was_refused_undeploys_its_service() {
    let app = TestApp::spawn_with(TestConfig {
        plugins: vec!["items"],
        ..TestConfig::default()
    })
    .await;
    let hello = component("hello");
    app.drop_plugin("hello.wasm", &hello);
    let url = app.url("/hello/x");
    wait_for(&app.client, &url, 200, Some("1.0.0")).await;

    app.drop_plugin("hello.wasm", &hello[..hello.len() / 2]);
    let started = Instant::now();
    while app.service("hello").await["last_error"].is_null() {
        assert!(started.elapsed() < Duration::from_secs(3), "never refused");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    wait_for(&app.client, &url, 200, Some("1.0.0")).await;

    std::fs::remove_file(app.plugins_dir().join("hello.wasm")).unwrap();
    wait_for(&app.client, &url, 404, None).await;
    let (status, _) = json(app.get("/items").await).await;
    assert_eq!(status, 200, "other services are untouched");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn components_larger_than_a_request_body_deploy_up_to_the_component_limit() {
    let app = TestApp::spawn_with(TestConfig {
        plugins: vec![],
        toml: "[limits]\nmax_body_bytes = 65536\nmax_component_bytes = 8388608".into(),
        ..TestConfig::default()
    })
    .await;
    let big = padded("hello", 6 << 20);
    let response = app
        .admin(Method::PUT, "/services/hello", Some(big.clone()))
        .await;
    let (status, body) = json(response).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["deployed"]["digest"], berth::registry::digest(&big));
    let (status, body) = json(app.get("/hello/big").await).await;
    assert_eq!((status, &body["version"]), (200, &"1.0.0".into()));

    // The same through the CLI.
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), padded("hello", 7 << 20)).unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["deploy", file.path().to_str().unwrap(), "--name", "big"])
        .env("BERTH_URL", app.admin_url(""))
        .env("BERTH_ADMIN_TOKEN", ADMIN_TOKEN)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let (status, _) = json(app.get("/big/cli").await).await;
    assert_eq!(status, 200);

    // Past the component limit: refused whole, nothing changes. (The
    // server answers 413 as soon as the announced length is too large and
    // closes; a client still writing may see the connection cut instead.)
    let response = app
        .client
        .put(app.admin_url("/admin/services/hello"))
        .bearer_auth(ADMIN_TOKEN)
        .body(padded("hello", 9 << 20))
        .send()
        .await;
    if let Ok(response) = response {
        error(response, 413, "payload_too_large").await;
    }
    let (status, _) = json(app.get("/hello/big").await).await;
    assert_eq!(status, 200);
}
