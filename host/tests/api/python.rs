//! Services written in Python (componentize-py, `sdk/python`): refused at
//! deploy when `describe()` raises, hot-swapped under load with no failed
//! request, and their pydantic schemas validated by the host and published
//! in OpenAPI. (Every `items` test also runs against `items-py`: see
//! `items.rs`.)

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{TestApp, TestConfig, error, json};
use crate::items::PYTHON;

#[tokio::test]
async fn a_python_service_whose_describe_raises_is_refused_and_the_host_keeps_serving() {
    let app = PYTHON.spawn().await;
    let response = app
        .deploy("hostile-py-describe", "test/hostile-py-describe")
        .await;
    let body = error(response, 422, "describe_failed").await;
    let view = app.service("hostile-py-describe").await;
    assert_eq!(
        view["last_error"]["message"], body["error"]["message"],
        "the admin API shows the error: {view}"
    );
    assert_ne!(view["state"], "live", "{view}");
    error(app.get("/hostile-py-describe").await, 404, "not_found").await;

    let (status, item) = json(
        app.post_json("/items-py", &json!({"name": "Still here", "price": 1}))
            .await,
    )
    .await;
    assert_eq!(status, 201, "{item}");
    let (status, read) = json(app.get(&format!("/items-py/{}", item["id"])).await).await;
    assert_eq!((status, &read), (200, &item));
}

/// One client's loop: list, create, read back; every answer must be 2xx.
async fn keep_busy(
    app: Arc<TestApp>,
    client: u32,
    stop: Arc<AtomicBool>,
    served: Arc<AtomicU64>,
) -> Vec<String> {
    let mut failures = Vec::new();
    let mut n = 0u32;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let response = match n % 3 {
            0 => app.get("/items-py?limit=5").await,
            1 => {
                let body = json!({"name": format!("c{client}n{n}"), "price": n});
                app.post_json("/items-py", &body).await
            }
            _ => app.get("/items-py/1").await,
        };
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        if !status.is_success() {
            failures.push(format!("{status}: {body}"));
        }
        served.fetch_add(1, Ordering::Relaxed);
    }
    failures
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_service_swaps_under_load_failing_no_request() {
    let app = Arc::new(PYTHON.spawn().await);
    // Item 1 exists before the load starts, so that reading it always succeeds.
    let (status, _) = json(
        app.post_json("/items-py", &json!({"name": "first", "price": 1}))
            .await,
    )
    .await;
    assert_eq!(status, 201);
    // Both builds compiled (or found in the shared cache) before the load.
    for (component, version) in [("test/items-py-v2", "2.0.0"), ("items-py", "1.0.0")] {
        let response = app.deploy("items-py", component).await;
        assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
        assert_eq!(app.service("items-py").await["version"], version);
    }

    let stop = Arc::new(AtomicBool::new(false));
    let served = Arc::new(AtomicU64::new(0));
    let clients: Vec<_> = (0..8)
        .map(|client| tokio::spawn(keep_busy(app.clone(), client, stop.clone(), served.clone())))
        .collect();
    let started = Instant::now();
    for swap in 0..6 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        let (component, version) = if swap % 2 == 0 {
            ("test/items-py-v2", "2.0.0")
        } else {
            ("items-py", "1.0.0")
        };
        let response = app.deploy("items-py", component).await;
        assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
        assert_eq!(
            app.service("items-py").await["version"],
            version,
            "live as soon as the deploy returns"
        );
    }
    tokio::time::sleep(Duration::from_millis(150)).await;
    stop.store(true, Ordering::Relaxed);
    let elapsed = started.elapsed();

    let mut failures = Vec::new();
    for client in clients {
        failures.extend(client.await.unwrap());
    }
    assert!(
        failures.is_empty(),
        "{} failed requests, e.g. {:?}",
        failures.len(),
        &failures[..failures.len().min(3)]
    );
    let served = served.load(Ordering::Relaxed);
    assert!(
        served >= 100,
        "the load was sustained: {served} in {elapsed:?}"
    );
    // The data outlived every swap: migrations ran once, the table is shared.
    let (_, page) = json(app.get("/items-py?limit=1").await).await;
    assert!(page["total"].as_i64().unwrap() > 1, "{page}");
}

#[tokio::test]
async fn the_python_schemas_are_published_and_enforced_by_the_host() {
    let app = PYTHON.spawn().await;
    let (status, doc) = json(app.get("/openapi.json").await).await;
    assert_eq!(status, 200);
    let schema_of = |reference: &Value| -> Value {
        let name = reference["$ref"]
            .as_str()
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap();
        doc["components"]["schemas"][name].clone()
    };
    let post = &doc["paths"]["/items-py"]["post"];
    assert_eq!(post["summary"], "Create an item");
    let input = schema_of(&post["requestBody"]["content"]["application/json"]["schema"]);
    assert_eq!(input["properties"]["name"]["maxLength"], 100, "{input}");
    assert_eq!(input["properties"]["name"]["minLength"], 1, "{input}");
    // Not all white space, as JSON Schema means it (`items::names_are_trimmed…`
    // checks the host holds every service to it).
    assert_eq!(input["properties"]["name"]["pattern"], "\\S", "{input}");
    assert_eq!(input["properties"]["price"]["minimum"], 0, "{input}");
    assert_eq!(input["additionalProperties"], false, "{input}");
    assert_eq!(input["required"], json!(["name", "price"]), "{input}");
    let read = &doc["paths"]["/items-py/{id}"]["get"];
    assert_eq!(read["parameters"][0]["name"], "id");
    let item = schema_of(&read["responses"]["200"]["content"]["application/json"]["schema"]);
    assert_eq!(
        item["properties"]["description"]["type"],
        json!(["string", "null"]),
        "{item}"
    );
    let list = &doc["paths"]["/items-py"]["get"];
    let page = schema_of(&list["responses"]["200"]["content"]["application/json"]["schema"]);
    let nested = schema_of(&page["properties"]["items"]["items"]);
    assert_eq!(nested, item, "the page's items are the same component");
    assert!(doc["paths"]["/items-py/{id}"]["delete"]["responses"]["204"].is_object());

    // The host refuses a bad body with its own validator's words (the
    // service's pydantic would say "ensure this value has at least 1
    // characters"), before any instance is made.
    let body = error(
        app.post_json("/items-py", &json!({"name": "", "price": 1}))
            .await,
        422,
        "validation_error",
    )
    .await;
    assert_eq!(body["error"]["field"], "name");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("shorter than 1 character"), "{message}");
    let (_, page) = json(app.get("/items-py").await).await;
    assert_eq!(page["total"], 0);
}

#[tokio::test]
async fn a_python_hello_greets_like_the_rust_one_from_its_settings() {
    let config = |toml: &str| TestConfig {
        plugins: vec!["test/hello-py", "hello"],
        toml: toml.into(),
        ..TestConfig::default()
    };
    let app = TestApp::spawn_with(config("")).await;
    for who in ["ada", "caf%C3%A9"] {
        let (_, rust) = json(app.get(&format!("/hello/{who}")).await).await;
        let (status, python) = json(app.get(&format!("/hello-py/{who}")).await).await;
        assert_eq!((status, &python), (200, &rust), "the same contract");
    }
    let (_, world) = json(app.get("/hello-py").await).await;
    assert_eq!(world["message"], "Hello, world!");
    let long = format!("/hello-py/{}", "x".repeat(101));
    let body = error(app.get(&long).await, 422, "validation_error").await;
    assert_eq!(body["error"]["field"], "name", "{body}");
    let (_, openapi) = json(app.get("/openapi.json").await).await;
    let get = &openapi["paths"]["/hello-py/{name}"]["get"];
    assert_eq!(get["summary"], "Greet someone by name", "{openapi}");

    let configured =
        TestApp::spawn_with(config("[services.hello-py.settings]\ngreeting = \"Howdy\"")).await;
    let (_, body) = json(configured.get("/hello-py/ada").await).await;
    assert_eq!(body, json!({"message": "Howdy, ada!", "version": "1.0.0"}));
}

#[tokio::test]
async fn an_exception_raised_in_python_is_a_500_and_the_service_keeps_serving() {
    let app = TestApp::spawn_with(TestConfig {
        plugins: vec!["test/throws-py", "hello"],
        ..TestConfig::default()
    })
    .await;
    for _ in 0..3 {
        let body = error(app.get("/throws-py/boom").await, 500, "service_failed").await;
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            !message.contains("a bug in the service"),
            "the exception's text stays in the host's log: {body}"
        );
        let (status, body) = json(app.get("/throws-py/ok").await).await;
        assert_eq!((status, &body["ok"]), (200, &json!(true)), "{body}");
    }
    let (status, _) = json(app.get("/hello/ada").await).await;
    assert_eq!(status, 200, "and the others keep serving");
}
