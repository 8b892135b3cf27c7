//! Readiness, metrics, the OpenAPI document and the docs page.

use crate::helpers::{TestApp, json};

#[tokio::test]
async fn readyz_reports_ready_with_the_service_count() {
    let app = TestApp::spawn().await;
    let (status, body) = json(app.get("/readyz").await).await;
    assert_eq!(status, 200);
    assert_eq!(body["services"], 2);
}

#[tokio::test]
async fn metrics_count_requests_per_service_and_status() {
    let app = TestApp::spawn().await;
    app.get("/hello/metrics-test").await;
    let response = app
        .client
        .get(app.admin_url("/metrics"))
        .bearer_auth(crate::helpers::ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    assert!(text.contains("berth_requests_total"), "{text}");
    assert!(text.contains(r#"service="hello""#), "{text}");
    assert!(
        text.contains("berth_request_duration_seconds_bucket"),
        "{text}"
    );
}

#[tokio::test]
async fn openapi_describes_every_route_with_its_schemas() {
    let app = TestApp::spawn().await;
    let (status, doc) = json(app.get("/openapi.json").await).await;
    assert_eq!(status, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    let post = &doc["paths"]["/items"]["post"];
    assert_eq!(post["summary"], "Create an item");
    let reference = post["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        .as_str()
        .unwrap();
    let name = reference.rsplit('/').next().unwrap();
    let schema = &doc["components"]["schemas"][name];
    assert_eq!(schema["properties"]["name"]["maxLength"], 100, "{schema}");
    assert!(doc["paths"]["/items/{id}"]["patch"].is_object());
    assert_eq!(
        doc["paths"]["/items/{id}"]["get"]["parameters"][0]["name"],
        "id"
    );
    assert!(doc["paths"]["/hello/{name}"]["get"].is_object());
    assert!(doc["paths"]["/items/{id}"]["delete"]["responses"]["204"].is_object());

    let docs = app.get("/docs").await;
    assert_eq!(docs.status(), 200);
    assert!(docs.text().await.unwrap().contains("/openapi.json"));
}
