//! Data survives a restart, and migrations are applied once.

use serde_json::json;

use crate::helpers::{TestApp, TestConfig, json};

#[tokio::test]
async fn data_survives_a_restart_of_the_host() {
    let app = TestApp::spawn().await;
    for name in ["first", "second"] {
        let (status, _) = json(
            app.post_json("/items", &json!({"name": name, "price": 1}))
                .await,
        )
        .await;
        assert_eq!(status, 201);
    }
    let dirs = app.stop().await;

    let app = TestApp::spawn_with(TestConfig {
        restart: Some(dirs),
        plugins: vec![],
        ..TestConfig::default()
    })
    .await;
    assert_eq!(
        app.app_loaded.restored,
        ["hello", "items"],
        "the recorded versions come back"
    );
    assert!(
        app.app_loaded.deployed.is_empty(),
        "unchanged files are not deployed again"
    );
    let (status, page) = json(app.get("/items").await).await;
    assert_eq!(status, 200);
    let names: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["first", "second"]);
    let (status, item) = json(
        app.post_json("/items", &json!({"name": "third", "price": 1}))
            .await,
    )
    .await;
    assert_eq!((status, &item["id"]), (201, &json!(3)));
}
