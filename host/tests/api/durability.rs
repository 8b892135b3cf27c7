//! What is deployed survives restarts and crashes: the records, not the
//! plugins dir, say what is live; a `kill -9` mid-deploy leaves each service
//! at one whole version; the compile cache is used and never trusted blindly.

use std::time::Duration;

use reqwest::Method;
use serde_json::Value;
use tempfile::TempDir;

use crate::helpers::{
    ADMIN_TOKEN, Server, TestApp, TestConfig, TestDatabase, component, free_port, json,
};

async fn hello_version(app: &TestApp) -> String {
    let (status, body) = json(app.get("/hello/x").await).await;
    assert_eq!(status, 200, "{body}");
    body["version"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn an_admin_deploy_and_a_rollback_survive_a_restart() {
    let app = TestApp::spawn().await;
    assert_eq!(app.deploy("hello", "test/hello-v2").await.status(), 200);
    assert_eq!(hello_version(&app).await, "2.0.0");
    let dirs = app.stop().await;

    // hello.wasm (v1) is still in the plugins dir, unchanged: v2 stays.
    let app = TestApp::spawn_with(TestConfig {
        restart: Some(dirs),
        plugins: vec![],
        ..TestConfig::default()
    })
    .await;
    assert_eq!(hello_version(&app).await, "2.0.0");
    assert_eq!(
        app.admin(Method::POST, "/services/hello/rollback", None)
            .await
            .status(),
        200
    );
    assert_eq!(hello_version(&app).await, "1.0.0");
    let dirs = app.stop().await;

    let app = TestApp::spawn_with(TestConfig {
        restart: Some(dirs),
        plugins: vec![],
        ..TestConfig::default()
    })
    .await;
    assert_eq!(hello_version(&app).await, "1.0.0");
}

#[tokio::test]
async fn files_changed_or_removed_while_down_are_applied_at_start() {
    let app = TestApp::spawn().await;
    let dirs = app.stop().await;

    // While berth is down, hello.wasm becomes v2 and items.wasm goes.
    std::fs::remove_file(dirs.plugins.path().join("items.wasm")).unwrap();
    let app = TestApp::spawn_with(TestConfig {
        restart: Some(dirs),
        plugins: vec![],
        files: vec![("hello.wasm".into(), component("test/hello-v2"))],
        ..TestConfig::default()
    })
    .await;
    assert_eq!(app.app_loaded.restored, ["hello", "items"]);
    assert_eq!(app.app_loaded.deployed, ["hello"]);
    assert_eq!(hello_version(&app).await, "2.0.0");
    assert_eq!(app.get("/items").await.status(), 404);
}

#[tokio::test]
async fn a_restart_uses_the_compile_cache_and_rebuilds_a_corrupt_entry() {
    // A cache of its own (the tests share one otherwise).
    let own = tempfile::TempDir::new().unwrap();
    let cache = own.path().join("cache");
    let toml = format!("[runtime]\ncache_dir = {:?}", cache.display().to_string());
    let app = TestApp::spawn_with(TestConfig {
        toml: toml.clone(),
        ..TestConfig::default()
    })
    .await;
    let dirs = app.stop().await;
    let entries: Vec<_> = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "cwasm"))
        .collect();
    assert_eq!(entries.len(), 2, "one entry per component: {entries:?}");
    let mut corrupted = Vec::new();
    for entry in &entries {
        let mut bytes = std::fs::read(entry).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0xff;
        std::fs::write(entry, &bytes).unwrap();
        corrupted.push(bytes);
    }
    let app = TestApp::spawn_with(TestConfig {
        restart: Some(dirs),
        plugins: vec![],
        toml,
        ..TestConfig::default()
    })
    .await;
    assert_eq!(hello_version(&app).await, "1.0.0");
    assert_eq!(app.get("/items").await.status(), 200);
    for (entry, corrupted) in entries.iter().zip(&corrupted) {
        let bytes = std::fs::read(entry).unwrap();
        assert!(
            bytes.starts_with(b"\x7fELF") && &bytes != corrupted,
            "rewritten: {}",
            entry.display()
        );
        let seal = std::fs::read(entry.with_extension("seal")).unwrap();
        assert!(seal.starts_with(b"berthc03"), "sealed: {}", entry.display());
    }
}

#[tokio::test]
async fn kill_9_during_deploys_leaves_each_service_at_one_whole_version() {
    let data = TempDir::new().unwrap();
    let plugins = TempDir::new().unwrap();
    let database = TestDatabase::create().await;
    // (kept alive until the end of the test)
    let env: Vec<(&str, &str)> = database
        .iter()
        .map(|db| ("BERTH_DATABASE_URL", db.url.as_str()))
        .collect();
    std::fs::write(plugins.path().join("hello.wasm"), component("hello")).unwrap();
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let versions = [component("hello"), component("test/hello-v2")];

    for round in 0..6u64 {
        let port = free_port();
        let server = Server::start(&data, &plugins, port, &env);
        server.wait_ready(&client).await;
        // Deploy continuously; kill at a different moment each round.
        let url = format!("{}/admin/services/hello", server.admin_url);
        let deployer = {
            let (client, url, versions) = (client.clone(), url.clone(), versions.clone());
            tokio::spawn(async move {
                for i in 0.. {
                    let body = versions[(i + round as usize) % 2].clone();
                    if client
                        .put(&url)
                        .bearer_auth(ADMIN_TOKEN)
                        .body(body)
                        .send()
                        .await
                        .is_err()
                    {
                        break;
                    }
                }
            })
        };
        tokio::time::sleep(Duration::from_millis(40 + round * 37)).await;
        server.kill();
        let _ = deployer.await;

        let server = Server::start(&data, &plugins, port, &env);
        server.wait_ready(&client).await;
        let answer: Value = client
            .get(format!("{}/hello/x", server.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let listed: Value = client
            .get(format!("{}/admin/services/hello", server.admin_url))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let version = answer["version"].as_str().unwrap();
        let expected = if version == "2.0.0" {
            "Hello, x! (v2)"
        } else {
            "Hello, x!"
        };
        assert_eq!(
            answer["message"], expected,
            "round {round}: a whole version: {answer}"
        );
        assert_eq!(
            listed["version"], version,
            "round {round}: the records agree with what serves"
        );
        server.kill();
    }
}
