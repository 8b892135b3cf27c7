//! Typed parameters and bodies, alike in every language's `items`: the
//! host checks declared path and query parameters and the body before the
//! service runs, lists every failing field in one 422, reads numbers as
//! JSON Schema does, and publishes the parameters' types in OpenAPI.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{error, json};
use crate::items::Items;

macro_rules! on_every_language {
    ($($name:ident),* $(,)?) => {
        on_every_language!(@in rust, RUST; $($name),*);
        on_every_language!(@in python, PYTHON; $($name),*);
        on_every_language!(@in javascript, JAVASCRIPT; $($name),*);
    };
    (@in $module:ident, $items:ident; $($name:ident),*) => {
        mod $module {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(crate::items::$items).await;
                }
            )*
        }
    };
}

on_every_language!(
    every_failing_field_is_listed_with_where_it_is,
    parameters_are_checked_before_the_service_runs,
    an_integral_float_is_an_integer,
    the_published_parameters_are_typed_and_bounded,
);

/// `(field, location)` of each problem of a 422 body.
fn problems(body: &Value) -> Vec<(String, String)> {
    body["error"]["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("no errors list: {body}"))
        .iter()
        .map(|e| {
            assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()), "{e}");
            let field = e["field"].as_str().unwrap().to_string();
            (
                field,
                e["location"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

async fn every_failing_field_is_listed_with_where_it_is(items: Items) {
    let app = items.spawn().await;
    let body = json!({"name": "", "price": -1, "quantity": "many", "colour": "red"});
    let refused = error(
        app.post_json(items.base, &body).await,
        422,
        "validation_error",
    )
    .await;
    let mut listed = problems(&refused);
    assert_eq!(
        refused["error"]["field"],
        listed[0].0.as_str(),
        "the first is `field`"
    );
    // Each rule a field breaks is listed (`name` breaks two); each field once here.
    listed.sort();
    listed.dedup();
    let expected: Vec<(String, String)> = ["colour", "name", "price", "quantity"]
        .iter()
        .map(|f| (f.to_string(), "body".to_string()))
        .collect();
    assert_eq!(listed, expected, "{refused}");

    let page = error(
        app.get(&items.at("?limit=0&offset=-1")).await,
        422,
        "validation_error",
    )
    .await;
    let mut listed = problems(&page);
    listed.sort();
    assert_eq!(
        listed,
        [
            ("limit".into(), "query".into()),
            ("offset".into(), "query".into())
        ],
        "{page}"
    );
    let (_, page) = json(app.get(items.base).await).await;
    assert_eq!(page["total"], 0, "nothing invalid was stored");
}

async fn parameters_are_checked_before_the_service_runs(items: Items) {
    let app = items.spawn().await;
    for id in ["0", "-3", "abc", "1.0", "99999999999999999999"] {
        for method in [Method::GET, Method::DELETE] {
            let response = app
                .send(method.clone(), &items.at(&format!("/{id}")), None)
                .await;
            let body = error(response, 422, "validation_error").await;
            assert_eq!(
                problems(&body),
                [("id".into(), "path".into())],
                "{method} {id}: {body}"
            );
        }
        let response = app
            .send(
                Method::PUT,
                &items.at(&format!("/{id}")),
                Some(&json!({"name": "", "price": 1})),
            )
            .await;
        let body = error(response, 422, "validation_error").await;
        let listed = problems(&body);
        assert!(listed.contains(&("id".into(), "path".into())), "{body}");
        assert!(listed.contains(&("name".into(), "body".into())), "{body}");
    }
    for query in ["limit=101", "limit=x", "limit=5&limit=6", "offset=1.5"] {
        let body = error(
            app.get(&items.at(&format!("?{query}"))).await,
            422,
            "validation_error",
        )
        .await;
        assert_eq!(problems(&body).len(), 1, "{query}: {body}");
        assert_eq!(problems(&body)[0].1, "query");
    }
    // Within bounds, at both ends, and a key the route does not declare.
    for query in ["limit=1", "limit=100&offset=0", "unknown=1"] {
        let (status, page) = json(app.get(&items.at(&format!("?{query}"))).await).await;
        assert_eq!(status, 200, "{query}: {page}");
    }
}

async fn an_integral_float_is_an_integer(items: Items) {
    let app = items.spawn().await;
    let body = json!({"name": "Widget", "price": 2, "quantity": 2978.0});
    let (status, item) = json(app.post_json(items.base, &body).await).await;
    assert_eq!(status, 201, "{item}");
    assert_eq!(item["quantity"], 2978, "{item}");
    assert_eq!(item["price"].as_f64(), Some(2.0), "{item}");
    let path = items.at(&format!("/{}", item["id"]));
    let (status, item) = json(
        app.send(Method::PATCH, &path, Some(&json!({"quantity": 5.0})))
            .await,
    )
    .await;
    assert_eq!(
        (status, item["quantity"].as_i64()),
        (200, Some(5)),
        "{item}"
    );
    let refused = app
        .send(Method::PATCH, &path, Some(&json!({"quantity": 5.5})))
        .await;
    error(refused, 422, "validation_error").await;
}

async fn the_published_parameters_are_typed_and_bounded(items: Items) {
    let app = items.spawn().await;
    let (_, doc) = json(app.get("/openapi.json").await).await;
    let by_id = &doc["paths"][format!("{}/{{id}}", items.base)];
    for method in ["get", "put", "patch", "delete"] {
        let id = &by_id[method]["parameters"][0];
        assert_eq!(
            (id["name"].as_str(), id["in"].as_str()),
            (Some("id"), Some("path")),
            "{id}"
        );
        assert_eq!(id["required"], true);
        let schema = &id["schema"];
        assert_eq!(schema["type"], "integer", "{method}: {id}");
        let positive =
            schema["minimum"].as_i64() == Some(1) || schema["exclusiveMinimum"].as_i64() == Some(0);
        assert!(positive, "{method}: {id}");
    }
    let list = doc["paths"][items.base]["get"]["parameters"]
        .as_array()
        .unwrap()
        .clone();
    let param = |name: &str| {
        list.iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("{name}: {list:?}"))
            .clone()
    };
    let (limit, offset) = (param("limit"), param("offset"));
    assert_eq!(
        (limit["in"].as_str(), limit["required"].as_bool()),
        (Some("query"), Some(false))
    );
    assert_eq!(limit["schema"]["type"], "integer");
    assert_eq!(
        (
            limit["schema"]["minimum"].as_i64(),
            limit["schema"]["maximum"].as_i64()
        ),
        (Some(1), Some(100))
    );
    assert_eq!(limit["schema"]["default"], 20);
    assert_eq!(
        (
            offset["schema"]["type"].as_str(),
            offset["schema"]["minimum"].as_i64()
        ),
        (Some("integer"), Some(0))
    );
    let errors =
        &doc["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["errors"];
    assert_eq!(errors["type"], "array", "the 422 list is documented");
}
