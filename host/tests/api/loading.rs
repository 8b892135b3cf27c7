//! Loading the plugins directory: good components serve, bad ones are
//! refused with a reason and do not stop the others; settings and prefixes
//! from the operator apply.

use serde_json::json;

use crate::helpers::{TestApp, TestConfig, error, json};

#[tokio::test]
async fn a_non_component_and_a_component_of_another_world_are_refused_while_the_good_ones_serve() {
    let app = TestApp::spawn_with(TestConfig {
        plugins: vec!["items", "hello", "test/not-a-service"],
        files: vec![
            ("garbage.wasm".into(), b"this is not webassembly".to_vec()),
            ("core-module.wasm".into(), b"\0asm\x01\0\0\0".to_vec()),
            (
                "truncated.wasm".into(),
                crate::helpers::component("hello")[..5000].to_vec(),
            ),
            ("notes.txt".into(), b"not even a .wasm file".to_vec()),
        ],
        ..TestConfig::default()
    })
    .await;
    let mut refused: Vec<String> = app
        .app_loaded
        .refused
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    refused.sort();
    assert_eq!(
        refused,
        [
            "core-module.wasm",
            "garbage.wasm",
            "not-a-service.wasm",
            "truncated.wasm"
        ]
    );
    assert_eq!(app.app_loaded.deployed, ["hello", "items"]);
    let (status, _) = json(app.get("/hello/world").await).await;
    assert_eq!(status, 200);
    let (status, _) = json(app.get("/items").await).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn the_greeting_comes_from_the_deployment_settings() {
    let default = TestApp::spawn().await;
    let (_, body) = json(default.get("/hello/ada").await).await;
    assert_eq!(body["message"], "Hello, ada!");
    // Path parameters reach the service percent-decoded.
    let (_, body) = json(default.get("/hello/caf%C3%A9%20cr%C3%A8me").await).await;
    assert_eq!(body["message"], "Hello, café crème!");

    let configured = TestApp::spawn_with(TestConfig {
        toml: "[services.hello.settings]\ngreeting = \"Howdy\"".into(),
        ..TestConfig::default()
    })
    .await;
    let (_, body) = json(configured.get("/hello/ada").await).await;
    assert_eq!(body, json!({"message": "Howdy, ada!", "version": "1.0.0"}));
}

#[tokio::test]
async fn an_operator_prefix_moves_a_service() {
    let app = TestApp::spawn_with(TestConfig {
        toml: "[services.hello]\nprefix = \"/greetings\"".into(),
        ..TestConfig::default()
    })
    .await;
    let (status, body) = json(app.get("/greetings/ada").await).await;
    assert_eq!(status, 200, "{body}");
    error(app.get("/hello/ada").await, 404, "not_found").await;
}

#[tokio::test]
async fn a_service_whose_routes_conflict_with_another_is_refused() {
    // hello's `GET /` mounted at /items collides with items' `GET /items`.
    let app = TestApp::spawn_with(TestConfig {
        toml: "[services.hello]\nprefix = \"/items\"".into(),
        ..TestConfig::default()
    })
    .await;
    assert_eq!(
        app.app_loaded.deployed,
        ["hello"],
        "items loads second and is refused"
    );
    assert_eq!(app.app_loaded.refused.len(), 1);
    let (status, body) = json(app.get("/items/ada").await).await;
    assert_eq!((status, &body["message"]), (200, &json!("Hello, ada!")));
}

#[tokio::test]
async fn berth_refuses_tenants_tokens_without_an_admin_token_and_an_operator_port_taken_by_the_services()
 {
    let binary = env!("CARGO_BIN_EXE_berth");
    let data = tempfile::tempdir().unwrap();
    let config = data.path().join("berth.toml");
    std::fs::write(
        &config,
        "[tenants.acme]\nadmin_token = \"acme-operator-token-0123456789\"\n",
    )
    .unwrap();
    let output = std::process::Command::new(binary)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
        ])
        .env("BERTH_DATA_DIR", data.path())
        .env("BERTH_CONFIG", &config)
        .env_remove("BERTH_ADMIN_TOKEN")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("tenant acme has an operator token") && stderr.contains("admin API is off"),
        "{stderr}"
    );
    let output = std::process::Command::new(binary)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:8765",
            "--admin-listen",
            "0.0.0.0:8765",
        ])
        .env("BERTH_DATA_DIR", data.path())
        .env_remove("BERTH_CONFIG")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("port of its own"), "{stderr}");
}

#[tokio::test]
async fn berth_refuses_to_start_with_a_bad_listen_address_or_plugins_dir() {
    let binary = env!("CARGO_BIN_EXE_berth");
    let data = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(binary)
        .args(["serve", "--listen", "not-an-address"])
        .env("BERTH_DATA_DIR", data.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("listen address") && stderr.contains("not-an-address"),
        "{stderr}"
    );

    let output = std::process::Command::new(binary)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--plugins-dir",
            "/nonexistent/plugins",
        ])
        .env("BERTH_DATA_DIR", data.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("plugins dir") && stderr.contains("/nonexistent/plugins"),
        "{stderr}"
    );
}

#[tokio::test]
async fn every_reserved_path_is_answered_by_the_host_and_no_service_can_take_one() {
    let app = TestApp::spawn().await;
    for path in berth::config::names::RESERVED_PATHS {
        // The operator's plane on its own listener, the rest on the public one.
        let response = match *path {
            berth::config::names::ADMIN_PREFIX => {
                app.admin(reqwest::Method::GET, "/services", None).await
            }
            "/metrics" | berth::config::names::CONSOLE_PATH => {
                let request = app.client.get(app.admin_url(path));
                let request = request.bearer_auth(crate::helpers::ADMIN_TOKEN);
                request.send().await.unwrap()
            }
            _ => app.get(path).await,
        };
        assert_eq!(response.status(), 200, "{path}");
        // A service mounted over it is refused.
        let name = format!("x{}", path.trim_start_matches('/').replace('.', "-"));
        let toml = format!("[services.{name}]\nprefix = \"{path}\"");
        let layer = berth::config::Layer::from_toml(&toml).unwrap();
        let refused = layer.resolve().map(drop).unwrap_err().to_string();
        assert!(refused.contains("served by the host"), "{path}: {refused}");
    }
}
