//! The operator's plane apart from tenants' code: the admin API, `/console`
//! and `/metrics` on a listener of their own (another origin than any
//! service's), answering only to their own host names; the single-port
//! mode, where `/metrics` needs a token; and what a service may not make a
//! browser do on an origin it shares (register a service worker over
//! another's pages, clear the origin's data). The attack itself, in a real
//! browser, is `tests/web/takeover.py`.

use crate::helpers::{ADMIN_TOKEN, TestApp, TestConfig, error};
use reqwest::Method;

const ACME_TOKEN: &str = "acme-operator-token-0123456789";

fn config(toml: &str) -> TestConfig {
    TestConfig {
        plugins: vec!["items", "hello", "test/hostile", "test/sw-thief"],
        toml: toml.to_string(),
        ..TestConfig::default()
    }
}

async fn get(app: &TestApp, url: String, token: Option<&str>) -> reqwest::Response {
    let mut request = app.client.get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("answered")
}

#[tokio::test]
async fn the_operators_plane_is_served_on_its_own_listener_and_nowhere_else() {
    let app = TestApp::spawn_with(config("")).await;
    assert_ne!(app.address, app.admin_address);
    for path in [
        "/admin/services",
        "/console",
        "/console/console.js",
        "/metrics",
    ] {
        // Not on the services' listener: no service's page shares its origin.
        let public = get(&app, app.url(path), Some(ADMIN_TOKEN)).await;
        error(public, 404, "not_found").await;
        let own = get(&app, app.admin_url(path), Some(ADMIN_TOKEN)).await;
        assert_eq!(own.status(), 200, "{path}");
    }
    // The probes answer on both; the services and their documents only on
    // the public one.
    for path in ["/healthz", "/readyz"] {
        assert_eq!(get(&app, app.url(path), None).await.status(), 200);
        assert_eq!(get(&app, app.admin_url(path), None).await.status(), 200);
    }
    assert_eq!(get(&app, app.url("/hello/ada"), None).await.status(), 200);
    for path in ["/hello/ada", "/openapi.json", "/docs"] {
        error(get(&app, app.admin_url(path), None).await, 404, "not_found").await;
    }
    // The admin API and the metrics still want a token there: tenants'
    // operators reach this listener too.
    for path in ["/admin/services", "/metrics"] {
        let response = get(&app, app.admin_url(path), None).await;
        error(response, 401, "unauthorized").await;
    }
    // Without an admin API (and so no tenant's token), /metrics is open to
    // whoever reaches the operator's listener, as Prometheus expects.
    let open = TestApp::spawn_with(TestConfig {
        admin_token: None,
        ..config("")
    })
    .await;
    let metrics = get(&open, open.admin_url("/metrics"), None).await;
    assert_eq!(metrics.status(), 200);
    error(
        get(&open, open.url("/metrics"), None).await,
        404,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn the_operators_listener_answers_only_to_its_own_host_names() {
    let app = TestApp::spawn_with(config("admin_hosts = [\"admin.berth.test\"]")).await;
    let port = app.admin_address.port();
    let with_host = |host: String| {
        app.client
            .get(app.admin_url("/metrics"))
            .bearer_auth(ADMIN_TOKEN)
            .header("host", host)
            .send()
    };
    // A page of another site that rebinds its name to this address (DNS
    // rebinding) names that site: refused.
    for foreign in [
        format!("evil.example:{port}"),
        format!("127.0.0.1.evil.example:{port}"),
    ] {
        let response = with_host(foreign.clone()).await.unwrap();
        let body = error(response, 421, "misdirected_request").await;
        assert!(!body.to_string().contains("berth_"), "{foreign}: {body}");
    }
    for own in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        format!("[::1]:{port}"),
        format!("admin.berth.test:{port}"),
    ] {
        assert_eq!(with_host(own.clone()).await.unwrap().status(), 200, "{own}");
    }
    // The public listener answers to any name: tenants' own domains.
    let public = app
        .client
        .get(app.url("/hello/ada"))
        .header("host", "evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(public.status(), 200);
}

#[tokio::test]
async fn in_shared_mode_the_plane_sits_beside_the_services_and_metrics_need_a_token() {
    let app = TestApp::spawn_with(config(&format!(
        "admin_listen = \"shared\"\n[tenancy]\nmode = \"header\"\n\
         [tenants.acme]\nadmin_token = \"{ACME_TOKEN}\"\n[tenants.globex]\n"
    )))
    .await;
    assert_eq!(app.address, app.admin_address);
    for tenant in ["acme", "globex"] {
        let created = app
            .admin(Method::PUT, &format!("/tenants/{tenant}"), None)
            .await;
        assert!(created.status().is_success(), "{tenant}");
        let deployed = app.deploy_to(tenant, "hello", "hello").await;
        assert_eq!(deployed.status(), 200, "{tenant}");
        let greeted = app
            .client
            .get(app.url("/hello/ada"))
            .header("x-berth-tenant", tenant)
            .send()
            .await
            .unwrap();
        assert_eq!(greeted.status(), 200);
    }
    assert_eq!(get(&app, app.url("/console"), None).await.status(), 200);
    // Beside the services, /metrics names nothing to whoever asks.
    for token in [None, Some("not-a-token-0123456789")] {
        let response = get(&app, app.url("/metrics"), token).await;
        let body = error(response, 401, "unauthorized").await;
        assert!(!body.to_string().contains("globex"), "{body}");
    }
    let all = get(&app, app.url("/metrics"), Some(ADMIN_TOKEN)).await;
    assert_eq!(all.status(), 200);
    let all = all.text().await.unwrap();
    assert!(all.contains("tenant=\"acme\"") && all.contains("tenant=\"globex\""));
    // A tenant's operator sees its own series, and no other tenant's.
    let own = get(&app, app.url("/metrics"), Some(ACME_TOKEN)).await;
    assert_eq!(own.status(), 200);
    let own = own.text().await.unwrap();
    assert!(
        own.contains("berth_requests_total{tenant=\"acme\""),
        "{own}"
    );
    assert!(!own.contains("globex"), "{own}");
    assert!(!own.contains("tenant=\"default\""), "{own}");
}

#[tokio::test]
async fn a_service_worker_script_is_refused_unless_allowed_and_then_only_below_the_mount() {
    let refused = TestApp::spawn_with(config("")).await;
    for path in ["/sw-thief", "/sw-thief/sw.js", "/hello/ada", "/hostile/ok"] {
        let response = refused
            .client
            .get(refused.url(path))
            .header("service-worker", "script")
            .send()
            .await
            .unwrap();
        error(response, 403, "service_worker_refused").await;
        // The same request from a page (no such header) is served.
        assert_eq!(get(&refused, refused.url(path), None).await.status(), 200);
    }
    // The refusal is counted, and shows in the service's own log.
    let metrics = refused.metrics().await;
    assert!(
        metrics.contains("outcome=\"service_worker_refused\""),
        "{metrics}"
    );

    let allowed =
        TestApp::spawn_with(config("[services.sw-thief]\nallow_service_workers = true")).await;
    let script = |path: &'static str| {
        allowed
            .client
            .get(allowed.url(path))
            .header("service-worker", "script")
            .send()
    };
    // Below its mount point, a worker's scope is at most `/sw-thief/`.
    let below = script("/sw-thief/sw.js").await.unwrap();
    assert_eq!(below.status(), 200);
    assert!(below.headers().get("service-worker-allowed").is_none());
    // At the mount point itself its scope would be `/`: every service's
    // pages. Refused even when allowed, and other services stay refused.
    for path in ["/sw-thief", "/hello/ada"] {
        error(script(path).await.unwrap(), 403, "service_worker_refused").await;
    }

    // Mounted at `/`, a service has no directory of its own to scope to.
    let root = TestApp::spawn_with(config(
        "[services.sw-thief]\nprefix = \"/\"\nallow_service_workers = true",
    ))
    .await;
    assert_eq!(get(&root, root.url("/sw.js"), None).await.status(), 200);
    let response = root
        .client
        .get(root.url("/sw.js"))
        .header("service-worker", "script")
        .send()
        .await
        .unwrap();
    error(response, 403, "service_worker_refused").await;
}

#[tokio::test]
async fn with_path_tenancy_an_allowed_worker_stays_below_its_tenants_mount() {
    let app = TestApp::spawn_with(config(
        "[tenancy]\nmode = \"path\"\n[tenants.acme.services.sw-thief]\nallow_service_workers = true",
    ))
    .await;
    let created = app.admin(Method::PUT, "/tenants/acme", None).await;
    assert!(created.status().is_success());
    assert_eq!(
        app.deploy_to("acme", "sw-thief", "test/sw-thief")
            .await
            .status(),
        200
    );
    let script = |path: &'static str| {
        app.client
            .get(app.url(path))
            .header("service-worker", "script")
            .send()
    };
    assert_eq!(script("/acme/sw-thief/sw.js").await.unwrap().status(), 200);
    // `/acme/sw-thief`'s directory is `/acme/`: all of acme's services.
    error(
        script("/acme/sw-thief").await.unwrap(),
        403,
        "service_worker_refused",
    )
    .await;
}

/// The `Clear-Site-Data` header of `hostile`'s `/set-cookie` answer.
async fn clear_site_data(app: &TestApp, tenant: Option<&str>, path: &str) -> Option<String> {
    let mut request = app.client.get(app.url(path));
    if let Some(tenant) = tenant {
        request = request.header("x-berth-tenant", tenant);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200);
    response
        .headers()
        .get("clear-site-data")
        .map(|v| v.to_str().unwrap().to_string())
}

#[tokio::test]
async fn clear_site_data_passes_only_where_the_origin_is_the_services_tenants_own() {
    // One tenant, its own origin: the service may clear it.
    let own = TestApp::spawn_with(config("")).await;
    let kept = clear_site_data(&own, None, "/hostile/set-cookie").await;
    assert!(kept.is_some_and(|v| v.contains("storage")));
    // Tenants sharing one origin: one must not wipe the others' storage.
    let header = TestApp::spawn_with(config("[tenancy]\nmode = \"header\"")).await;
    assert_eq!(
        clear_site_data(&header, Some("default"), "/hostile/set-cookie").await,
        None
    );
    let path = TestApp::spawn_with(config("[tenancy]\nmode = \"path\"")).await;
    assert_eq!(
        clear_site_data(&path, None, "/default/hostile/set-cookie").await,
        None
    );
    // Sharing its origin with the console: not the service's to clear.
    let shared = TestApp::spawn_with(config("admin_listen = \"shared\"")).await;
    assert_eq!(
        clear_site_data(&shared, None, "/hostile/set-cookie").await,
        None
    );
    // An origin of its own, but a site shared with the other tenants'
    // subdomains, whose cookies `"cookies"` would clear: the rest passes.
    let subdomain = TestApp::spawn_with(config(
        "[tenancy]\nmode = \"subdomain\"\nbase_domain = \"berth.test\"",
    ))
    .await;
    let response = subdomain
        .client
        .get(subdomain.url("/hostile/set-cookie"))
        .header("host", "default.berth.test")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["clear-site-data"], "\"storage\"");
}
