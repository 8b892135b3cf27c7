//! Tenant operators: a tenant's own admin token reaches its services,
//! history and logs, and nothing of any other tenant; the admin token
//! reaches everything.

use reqwest::Method;

use crate::helpers::{TestApp, TestConfig, component, error, json};

const ACME_TOKEN: &str = "acme-operator-token-0123";
const GLOBEX_TOKEN: &str = "globex-operator-token-0123";

async fn as_operator(
    app: &TestApp,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Vec<u8>>,
) -> reqwest::Response {
    let mut request = app
        .client
        .request(method, app.admin_url(&format!("/admin{path}")))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.body(body);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn a_tenants_operator_token_reaches_that_tenant_alone() {
    let app = TestApp::spawn_with(TestConfig {
        toml: format!(
            "[tenancy]\nmode = \"header\"\n[tenants.acme]\nadmin_token = \"{ACME_TOKEN}\"\n\
             [tenants.globex]\nadmin_token = \"{GLOBEX_TOKEN}\"\n"
        ),
        ..TestConfig::default()
    })
    .await;
    // Each operator deploys into its own tenant.
    for (tenant, token) in [("acme", ACME_TOKEN), ("globex", GLOBEX_TOKEN)] {
        let path = format!("/tenants/{tenant}/services/hello");
        let response = as_operator(&app, token, Method::PUT, &path, Some(component("hello"))).await;
        assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    }
    let visit = app
        .client
        .get(app.url("/hello/globex-only"))
        .header("x-berth-tenant", "globex")
        .send()
        .await
        .unwrap();
    assert_eq!(visit.status(), 200);

    // acme sees its own tenant, services, history and logs.
    let (status, body) =
        json(as_operator(&app, ACME_TOKEN, Method::GET, "/tenants", None).await).await;
    assert_eq!(status, 200);
    let names: Vec<&str> = body["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["acme"]);
    for path in [
        "/tenants/acme/services",
        "/tenants/acme/services/hello",
        "/tenants/acme/history",
        "/tenants/acme/services/hello/history",
        "/tenants/acme/services/hello/logs",
    ] {
        let response = as_operator(&app, ACME_TOKEN, Method::GET, path, None).await;
        assert_eq!(response.status(), 200, "{path}");
    }

    // Nothing of globex's, nor of the default tenant's, nor tenants.
    for (method, path) in [
        (Method::GET, "/tenants/globex/services"),
        (Method::GET, "/tenants/globex/services/hello/logs"),
        (
            Method::GET,
            "/tenants/globex/services/hello/logs?follow=true",
        ),
        (Method::GET, "/tenants/globex/history"),
        (Method::POST, "/tenants/globex/services/hello/rollback"),
        (Method::DELETE, "/tenants/globex/services/hello"),
        (Method::GET, "/services"),
        (Method::GET, "/services/hello/logs"),
        (Method::GET, "/history"),
        (Method::PUT, "/tenants/initech"),
        (Method::DELETE, "/tenants/acme"),
        (Method::DELETE, "/tenants/globex"),
        (Method::GET, "/tenants/acme-evil/services"),
        (Method::GET, "/tenants/acme/../globex/services"),
        (Method::GET, "/tenants/acme%2F..%2Fglobex/services"),
    ] {
        let response = as_operator(&app, ACME_TOKEN, method.clone(), path, None).await;
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        assert!(
            status == 403 || status == 404,
            "{method} {path} answered {status}: {text}"
        );
        assert!(!text.contains("globex-only"), "{path}: {text}");
    }
    let body = error(
        as_operator(
            &app,
            ACME_TOKEN,
            Method::GET,
            "/tenants/globex/services/hello/logs",
            None,
        )
        .await,
        403,
        "forbidden",
    )
    .await;
    assert!(body.to_string().contains("tenant `acme`"), "{body}");
    // globex's service is untouched, and its log holds its visitor.
    let response = as_operator(
        &app,
        GLOBEX_TOKEN,
        Method::GET,
        "/tenants/globex/services/hello/logs",
        None,
    )
    .await;
    assert_eq!(response.status(), 200);
    assert!(response.text().await.unwrap().contains("globex-only"));

    // The admin token still reaches everything.
    let (_, body) = json(app.admin(Method::GET, "/tenants", None).await).await;
    assert!(body["tenants"].as_array().unwrap().len() >= 3);
    let response = app
        .admin(Method::GET, "/tenants/globex/services/hello/logs", None)
        .await;
    assert_eq!(response.status(), 200);
    // A wrong token is no operator.
    error(
        as_operator(
            &app,
            "acme-operator-token-0124",
            Method::GET,
            "/tenants/acme/services",
            None,
        )
        .await,
        401,
        "unauthorized",
    )
    .await;
}

#[tokio::test]
async fn operator_tokens_are_checked_when_berth_starts() {
    for (toml, message) in [
        (
            "[tenants.acme]\nadmin_token = \"short\"",
            "at least 16 characters",
        ),
        (
            "[tenants.acme]\nadmin_token = \"same-token-for-two-0\"\n[tenants.globex]\nadmin_token = \"same-token-for-two-0\"",
            "a token of its own",
        ),
    ] {
        let layer = berth::config::Layer::from_toml(toml).unwrap();
        let refused = layer.resolve().map(drop).unwrap_err().to_string();
        assert!(refused.contains(message), "{toml}: {refused}");
        assert!(
            !refused.contains("same-token-for-two"),
            "the token is printed: {refused}"
        );
    }
    let toml = "admin_token = \"the-admin-token-0123\"\n[tenants.acme]\nadmin_token = \"the-admin-token-0123\"";
    let layer = berth::config::Layer::from_toml(toml).unwrap();
    let refused = layer.resolve().map(drop).unwrap_err().to_string();
    assert!(
        refused.contains("must differ from the admin token"),
        "{refused}"
    );
    assert!(
        !refused.contains("the-admin-token"),
        "the token is printed: {refused}"
    );
}
