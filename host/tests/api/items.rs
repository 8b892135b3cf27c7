//! The `items` service: every CRUD route, its validation and pagination.
//! One test body, three services: each test runs against the Rust `items`
//! (`mod rust`), the Python `items-py` (`mod python`) and the JavaScript
//! `items-js` (`mod javascript`), which must answer alike — and again with
//! their instances reused across requests (`mod *_reused`), which must not
//! change an answer.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestConfig, error, json};

/// Which implementation of the items service a test runs against.
#[derive(Debug, Clone, Copy)]
pub struct Items {
    /// Its mount point.
    pub base: &'static str,
    /// The components the instance loads.
    pub plugins: &'static [&'static str],
    /// Its berth.toml.
    pub toml: &'static str,
}

pub const RUST: Items = Items {
    base: "/items",
    plugins: &["items", "hello"],
    toml: "",
};

pub const PYTHON: Items = Items {
    base: "/items-py",
    plugins: &["items-py"],
    toml: "",
};

pub const JAVASCRIPT: Items = Items {
    base: "/items-js",
    plugins: &["test/items-js"],
    toml: "",
};

/// Two warm instances, so that requests meet one another's instances.
const REUSED: &str = "[services.items]\nreuse_instances = 2\n\
                      [services.items-py]\nreuse_instances = 2\n\
                      [services.items-js]\nreuse_instances = 2\n";

impl Items {
    /// The same service with its instances reused across requests.
    pub const fn reused(self) -> Items {
        Items {
            toml: REUSED,
            ..self
        }
    }
}

impl Items {
    /// berth serving this implementation.
    pub async fn spawn(self) -> TestApp {
        TestApp::spawn_with(TestConfig {
            plugins: self.plugins.to_vec(),
            toml: self.toml.into(),
            ..TestConfig::default()
        })
        .await
    }

    /// A path under the service's mount point: `at("/7")`, `at("?limit=5")`.
    pub fn at(self, rest: &str) -> String {
        format!("{}{rest}", self.base)
    }
}

/// Generates, for each test body `name(items: Items)`, the tests
/// `rust::name`, `python::name`, `javascript::name` and the same in
/// `rust_reused`, `python_reused` and `javascript_reused`.
macro_rules! on_every_service {
    ($($name:ident),* $(,)?) => {
        on_every_service!(@in rust, super::RUST; $($name),*);
        on_every_service!(@in python, super::PYTHON; $($name),*);
        on_every_service!(@in javascript, super::JAVASCRIPT; $($name),*);
        on_every_service!(@in rust_reused, super::RUST.reused(); $($name),*);
        on_every_service!(@in python_reused, super::PYTHON.reused(); $($name),*);
        on_every_service!(@in javascript_reused, super::JAVASCRIPT.reused(); $($name),*);
    };
    (@in $module:ident, $items:expr; $($name:ident),*) => {
        mod $module {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name($items).await;
                }
            )*
        }
    };
}

on_every_service!(
    creating_an_item_answers_201_with_the_item_and_its_location,
    optional_fields_take_their_defaults,
    an_unknown_item_is_404,
    listing_is_ordered_by_creation_and_paginated,
    pagination_out_of_bounds_is_422_naming_the_parameter,
    put_replaces_every_field,
    patch_changes_only_the_given_fields_and_null_clears_the_description,
    delete_answers_204_then_the_item_is_gone,
    put_and_patch_of_a_missing_item_are_404,
    invalid_bodies_are_422_naming_the_field,
    malformed_json_is_422_naming_the_body,
    updates_are_validated_like_creates,
    names_are_trimmed_of_what_the_schema_calls_white_space,
);

async fn create(app: &TestApp, items: Items, body: Value) -> Value {
    let (status, item) = json(app.post_json(items.base, &body).await).await;
    assert_eq!(status, 201, "{item}");
    item
}

async fn creating_an_item_answers_201_with_the_item_and_its_location(items: Items) {
    let app = items.spawn().await;
    let response = app
        .post_json(
            items.base,
            &json!({"name": "Widget", "description": "A thing", "price": 9.5, "quantity": 3}),
        )
        .await;
    assert_eq!(response.status(), 201);
    let location = response.headers()["location"].to_str().unwrap().to_string();
    let (_, item) = json(response).await;
    assert_eq!(location, items.at(&format!("/{}", item["id"])));
    assert_eq!(item["name"], "Widget");
    assert_eq!(item["description"], "A thing");
    assert_eq!(item["price"], 9.5);
    assert_eq!(item["quantity"], 3);
    assert!(item["created_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(item["created_at"], item["updated_at"]);

    let (status, read) = json(app.get(&location).await).await;
    assert_eq!(status, 200);
    assert_eq!(read, item);
}

async fn optional_fields_take_their_defaults(items: Items) {
    let app = items.spawn().await;
    let item = create(&app, items, json!({"name": "Bare", "price": 0})).await;
    assert_eq!(item["description"], Value::Null);
    assert_eq!(item["quantity"], 0);
    assert_eq!(item["price"], 0.0);
}

async fn an_unknown_item_is_404(items: Items) {
    let app = items.spawn().await;
    let body = error(app.get(&items.at("/12345")).await, 404, "not_found").await;
    assert!(body["error"]["message"].as_str().unwrap().contains("12345"));
    error(app.get(&items.at("/abc")).await, 422, "validation_error").await;
}

async fn listing_is_ordered_by_creation_and_paginated(items: Items) {
    let app = items.spawn().await;
    for i in 0..25 {
        create(
            &app,
            items,
            json!({"name": format!("item {i}"), "price": i}),
        )
        .await;
    }
    let (status, page) = json(app.get(items.base).await).await;
    assert_eq!(status, 200);
    assert_eq!(page["total"], 25);
    assert_eq!(page["limit"], 20);
    assert_eq!(page["offset"], 0);
    let names: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 20);
    assert_eq!(names[0], "item 0");
    assert_eq!(names[19], "item 19");

    let (_, page) = json(app.get(&items.at("?limit=10&offset=20")).await).await;
    let names: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["item 20", "item 21", "item 22", "item 23", "item 24"]
    );

    let (_, page) = json(app.get(&items.at("?offset=100")).await).await;
    assert_eq!(page["items"], json!([]));
    assert_eq!(page["total"], 25);
}

async fn pagination_out_of_bounds_is_422_naming_the_parameter(items: Items) {
    let app = items.spawn().await;
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=x", "limit"),
        ("offset=-1", "offset"),
    ] {
        let body = error(
            app.get(&items.at(&format!("?{query}"))).await,
            422,
            "validation_error",
        )
        .await;
        assert_eq!(body["error"]["field"], field, "{query}: {body}");
    }
}

async fn put_replaces_every_field(items: Items) {
    let app = items.spawn().await;
    let item = create(
        &app,
        items,
        json!({"name": "Old", "description": "old", "price": 1, "quantity": 5}),
    )
    .await;
    let path = items.at(&format!("/{}", item["id"]));
    let (status, replaced) = json(
        app.send(
            Method::PUT,
            &path,
            Some(&json!({"name": "New", "price": 2.5})),
        )
        .await,
    )
    .await;
    assert_eq!(status, 200, "{replaced}");
    assert_eq!(replaced["name"], "New");
    assert_eq!(replaced["description"], Value::Null);
    assert_eq!(replaced["quantity"], 0);
    assert_eq!(replaced["price"], 2.5);
    assert_eq!(replaced["created_at"], item["created_at"]);
    let (_, read) = json(app.get(&path).await).await;
    assert_eq!(read, replaced);
}

async fn patch_changes_only_the_given_fields_and_null_clears_the_description(items: Items) {
    let app = items.spawn().await;
    let item = create(
        &app,
        items,
        json!({"name": "Widget", "description": "d", "price": 1, "quantity": 5}),
    )
    .await;
    let path = items.at(&format!("/{}", item["id"]));
    let (status, patched) = json(
        app.send(Method::PATCH, &path, Some(&json!({"quantity": 7})))
            .await,
    )
    .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["quantity"], 7);
    assert_eq!(patched["name"], "Widget");
    assert_eq!(patched["description"], "d");

    let (_, cleared) = json(
        app.send(Method::PATCH, &path, Some(&json!({"description": null})))
            .await,
    )
    .await;
    assert_eq!(cleared["description"], Value::Null);
    assert_eq!(cleared["quantity"], 7);
}

async fn delete_answers_204_then_the_item_is_gone(items: Items) {
    let app = items.spawn().await;
    let item = create(&app, items, json!({"name": "Doomed", "price": 1})).await;
    let path = items.at(&format!("/{}", item["id"]));
    let response = app.send(Method::DELETE, &path, None).await;
    assert_eq!(response.status(), 204);
    assert!(response.bytes().await.unwrap().is_empty());
    error(app.get(&path).await, 404, "not_found").await;
    error(
        app.send(Method::DELETE, &path, None).await,
        404,
        "not_found",
    )
    .await;
}

async fn put_and_patch_of_a_missing_item_are_404(items: Items) {
    let app = items.spawn().await;
    let body = json!({"name": "x", "price": 1});
    error(
        app.send(Method::PUT, &items.at("/999"), Some(&body)).await,
        404,
        "not_found",
    )
    .await;
    error(
        app.send(Method::PATCH, &items.at("/999"), Some(&json!({"price": 2})))
            .await,
        404,
        "not_found",
    )
    .await;
}

async fn invalid_bodies_are_422_naming_the_field(items: Items) {
    let app = items.spawn().await;
    let cases = [
        (json!({"name": "", "price": 1}), "name"),
        (json!({"name": "x".repeat(101), "price": 1}), "name"),
        (json!({"name": "ok", "price": -1}), "price"),
        (json!({"name": "ok", "price": "free"}), "price"),
        (
            json!({"name": "ok", "price": 1, "quantity": -2}),
            "quantity",
        ),
        (
            json!({"name": "ok", "price": 1, "quantity": 1.5}),
            "quantity",
        ),
        (json!({"name": "ok"}), "price"),
        (json!({"name": "ok", "price": 1, "colour": "red"}), "colour"),
    ];
    for (body, field) in cases {
        let response = app.post_json(items.base, &body).await;
        let error = error(response, 422, "validation_error").await;
        assert_eq!(error["error"]["field"], field, "{body} → {error}");
    }
    let (_, page) = json(app.get(items.base).await).await;
    assert_eq!(page["total"], 0, "nothing invalid was stored");
}

async fn malformed_json_is_422_naming_the_body(items: Items) {
    let app = items.spawn().await;
    for raw in [
        "{not json",
        "",
        "[1, 2]",
        "{\"name\": \"x\", \"price\": 1} trailing",
        // A field given twice is ambiguous, whichever value would win.
        "{\"name\": \"x\", \"name\": \"y\", \"price\": 1}",
    ] {
        let response = app
            .client
            .post(app.url(items.base))
            .header("content-type", "application/json")
            .body(raw)
            .send()
            .await
            .unwrap();
        let body = error(response, 422, "validation_error").await;
        assert_eq!(body["error"]["field"], "body", "{raw:?}: {body}");
    }
}

async fn updates_are_validated_like_creates(items: Items) {
    let app = items.spawn().await;
    let item = create(&app, items, json!({"name": "Widget", "price": 1})).await;
    let path = items.at(&format!("/{}", item["id"]));
    let body = error(
        app.send(Method::PUT, &path, Some(&json!({"name": " ", "price": 1})))
            .await,
        422,
        "validation_error",
    )
    .await;
    assert_eq!(body["error"]["field"], "name");
    let body = error(
        app.send(Method::PATCH, &path, Some(&json!({"price": -5})))
            .await,
        422,
        "validation_error",
    )
    .await;
    assert_eq!(body["error"]["field"], "price");
    let body = error(
        app.send(Method::PATCH, &path, Some(&json!({"id": 7})))
            .await,
        422,
        "validation_error",
    )
    .await;
    assert_eq!(body["error"]["field"], "id");
    let (_, unchanged) = json(app.get(&path).await).await;
    assert_eq!(unchanged, item);
}

/// The schema's `\S` is JSON Schema's (ECMA-262): what the host accepts as
/// "not all white space" the service must not trim to nothing (Python's
/// `str.strip` takes U+001C–U+001F and U+0085, Rust's `str::trim` U+0085),
/// and what the schema calls white space is trimmed.
async fn names_are_trimmed_of_what_the_schema_calls_white_space(items: Items) {
    let app = items.spawn().await;
    for (given, kept) in [
        ("\t\n\u{1e}", "\u{1e}"),
        ("\u{1c}\u{1f}", "\u{1c}\u{1f}"),
        ("\u{85}", "\u{85}"),
        ("\u{feff}\u{a0}Widget\u{2028}\u{3000}", "Widget"),
    ] {
        let item = create(&app, items, json!({"name": given, "price": 1})).await;
        assert_eq!(item["name"], kept, "{given:?}");
        let path = items.at(&format!("/{}", item["id"]));
        let (status, put) = json(
            app.send(
                Method::PUT,
                &path,
                Some(&json!({"name": given, "price": 2})),
            )
            .await,
        )
        .await;
        assert_eq!((status, &put["name"]), (200, &json!(kept)), "{given:?}");
        let (status, patched) = json(
            app.send(Method::PATCH, &path, Some(&json!({"name": given})))
                .await,
        )
        .await;
        assert_eq!((status, &patched["name"]), (200, &json!(kept)), "{given:?}");
    }
    let (_, page) = json(app.get(items.base).await).await;
    assert_eq!(page["total"], 4);
    // All white space to the schema: the host's 422, before the service.
    let body = error(
        app.post_json(
            items.base,
            &json!({"name": "\u{feff}\u{2003}\n", "price": 1}),
        )
        .await,
        422,
        "validation_error",
    )
    .await;
    assert_eq!(body["error"]["field"], "name", "{body}");
    assert_eq!(body["error"]["errors"][0]["location"], "body", "{body}");
    let (_, page) = json(app.get(items.base).await).await;
    assert_eq!(page["total"], 4, "nothing invalid was stored");
}
