//! Typed handler arguments and replies, in the manner of FastAPI's and
//! axum's: [`Path`], [`Query`] and [`Json`] parse what a route receives,
//! and each also describes itself to the host (parameters with their types
//! and bounds, the body's JSON Schema), which checks requests against that
//! description before the service runs. [`Json`], [`Created`] and
//! [`NoContent`] are the replies, and say which status they answer with.

use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::json::json_schema;
use crate::types::{Param, ParamLocation, Problem, Request, Response};

/// What a route says about itself, filled in by its handler's arguments
/// and reply.
#[derive(Debug, Default)]
pub struct RouteDoc {
    /// The route's template, e.g. `/{id}`.
    pub template: &'static str,
    pub params: Vec<Param>,
    pub request_schema: Option<String>,
    pub response_schema: Option<String>,
    pub status: Option<u16>,
}

/// A handler argument: built from the request, and described in the
/// manifest.
pub trait Extract: Sized {
    /// Reads the argument from the request; a failure is the client's (422).
    fn extract(request: &Request) -> Result<Self, Problem>;
    /// Adds what the argument expects to the route's description.
    fn describe(_route: &mut RouteDoc) {}
}

/// What a handler answers on success.
pub trait Reply {
    /// The response, for `request`.
    fn into_response(self, request: &Request) -> Response;
    /// Adds the success status and body schema to the route's description.
    fn describe(_route: &mut RouteDoc) {}
}

/// Path parameters: a struct whose fields are the template's `{name}`s, or
/// one value when the template has one. Their types and `schemars` bounds
/// are published and checked by the host.
pub struct Path<T>(pub T);

/// Query parameters: a struct whose fields are the keys (`Option` or
/// `#[serde(default)]` for optional ones), with types and bounds checked
/// by the host.
pub struct Query<T>(pub T);

/// A JSON body, as an argument (checked by the host against `T`'s schema)
/// or as a reply (200 with `T`'s schema published).
pub struct Json<T>(pub T);

/// A 201 reply with a `location` header: the request path followed by
/// `segment` (see [`Created::at`]).
pub struct Created<T> {
    body: T,
    segment: String,
}

impl<T> Created<T> {
    /// 201 with `body`, created at the request's path + `/` + `segment`.
    pub fn at(segment: impl std::fmt::Display, body: T) -> Created<T> {
        Created {
            body,
            segment: segment.to_string(),
        }
    }
}

/// A 204 reply.
pub struct NoContent;

impl Extract for Request {
    fn extract(request: &Request) -> Result<Self, Problem> {
        Ok(request.clone())
    }
}

impl<T: DeserializeOwned + JsonSchema> Extract for Path<T> {
    fn extract(request: &Request) -> Result<Self, Problem> {
        fields::<T>(&request.params, "path").map(Path)
    }

    fn describe(route: &mut RouteDoc) {
        let captured: Vec<&str> = route
            .template
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|s| s.trim_start_matches('*'))
            .collect();
        let params = params_of::<T>(ParamLocation::Path, &captured);
        route.params.extend(params);
    }
}

impl<T: DeserializeOwned + JsonSchema> Extract for Query<T> {
    fn extract(request: &Request) -> Result<Self, Problem> {
        fields::<T>(&request.query, "query").map(Query)
    }

    fn describe(route: &mut RouteDoc) {
        route
            .params
            .extend(params_of::<T>(ParamLocation::Query, &[]));
    }
}

impl<T: DeserializeOwned + JsonSchema> Extract for Json<T> {
    fn extract(request: &Request) -> Result<Self, Problem> {
        request.json().map(Json)
    }

    fn describe(route: &mut RouteDoc) {
        route.request_schema = Some(json_schema::<T>());
    }
}

impl<T: Serialize + JsonSchema> Reply for Json<T> {
    fn into_response(self, _: &Request) -> Response {
        Response::json(200, &self.0)
    }

    fn describe(route: &mut RouteDoc) {
        route.status = Some(200);
        route.response_schema = Some(json_schema::<T>());
    }
}

impl<T: Serialize + JsonSchema> Reply for Created<T> {
    fn into_response(self, request: &Request) -> Response {
        let location = format!("{}/{}", request.path.trim_end_matches('/'), self.segment);
        Response::json(201, &self.body).with_header("location", &location)
    }

    fn describe(route: &mut RouteDoc) {
        route.status = Some(201);
        route.response_schema = Some(json_schema::<T>());
    }
}

impl Reply for NoContent {
    fn into_response(self, _: &Request) -> Response {
        Response::empty(204)
    }

    fn describe(route: &mut RouteDoc) {
        route.status = Some(204);
    }
}

impl Reply for Response {
    fn into_response(self, _: &Request) -> Response {
        self
    }
}

/// `pairs` (already decoded) as `T`: a struct of named fields, or a single
/// value when there is one pair. Text converts to numbers and booleans as
/// the field's type asks.
fn fields<T: DeserializeOwned>(pairs: &[(String, String)], location: &str) -> Result<T, Problem> {
    let mut encoded = form_urlencoded::Serializer::new(String::new());
    for (name, value) in pairs {
        encoded.append_pair(name, value);
    }
    let encoded = encoded.finish();
    let parsed = serde_urlencoded::from_str::<T>(&encoded).or_else(|error| match pairs {
        [(_, _)] => serde_urlencoded::from_str::<std::collections::HashMap<String, T>>(&encoded)
            .map(|mut one| one.drain().map(|(_, v)| v).next().expect("one pair")),
        _ => Err(error),
    });
    parsed.map_err(|error| {
        let message = error.to_string();
        let named = pairs
            .iter()
            .map(|(name, _)| name.as_str())
            .find(|name| message.contains(&format!("`{name}`")));
        let field = match (named, pairs) {
            (Some(name), _) => name,
            (None, [(only, _)]) => only.as_str(),
            _ => location,
        };
        Problem::validation(field, &format!("{location} parameters: {message}"))
    })
}

/// The parameters `T` describes: each property of an object schema, or the
/// one name in `single` for a scalar.
fn params_of<T: JsonSchema>(location: ParamLocation, single: &[&str]) -> Vec<Param> {
    let mut schema = schemars::schema_for!(T).to_value();
    crate::json::bound_integers(&mut schema);
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    match schema.get("properties").and_then(Value::as_object) {
        Some(properties) => properties
            .iter()
            .map(|(name, property)| {
                let (schema, nullable) = scalar(property.clone());
                param(
                    name,
                    location,
                    required.contains(&name.as_str()) && !nullable,
                    schema,
                )
            })
            .collect(),
        None => match single {
            [name] => vec![param(name, location, true, scalar(schema.clone()).0)],
            _ => Vec::new(),
        },
    }
}

fn param(name: &str, location: ParamLocation, required: bool, mut schema: Value) -> Param {
    let description = schema
        .as_object_mut()
        .and_then(|s| s.remove("description"))
        .and_then(|d| d.as_str().map(str::to_string))
        .unwrap_or_default();
    Param {
        name: name.to_string(),
        required: required || location == ParamLocation::Path,
        location,
        description,
        schema: schema.to_string(),
    }
}

/// A property schema as one scalar type: `["integer", "null"]` becomes
/// `integer` (and the parameter optional); `$schema` and `title` go.
fn scalar(mut schema: Value) -> (Value, bool) {
    let mut nullable = false;
    if let Some(object) = schema.as_object_mut() {
        object.remove("$schema");
        object.remove("title");
        if let Some(Value::Array(types)) = object.get("type") {
            nullable = types.iter().any(|t| t == "null");
            if let Some(first) = types.iter().find(|t| *t != "null").cloned() {
                object.insert("type".into(), first);
            }
        }
    }
    (schema, nullable)
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;
    use crate::Router;
    use crate::types::Method;

    #[derive(Deserialize, JsonSchema)]
    struct Id {
        /// The thing's id.
        #[schemars(range(min = 1))]
        id: i64,
    }

    #[derive(Deserialize, JsonSchema)]
    struct Page {
        #[serde(default = "twenty")]
        #[schemars(range(min = 1, max = 100))]
        limit: u32,
        #[serde(default)]
        after: Option<String>,
        exact: bool,
    }

    fn twenty() -> u32 {
        20
    }

    #[derive(Deserialize, Serialize, JsonSchema)]
    struct Thing {
        name: String,
    }

    fn request(
        route: &str,
        params: &[(&str, &str)],
        query: &[(&str, &str)],
        body: &str,
    ) -> Request {
        let pairs = |p: &[(&str, &str)]| {
            p.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        Request {
            method: Method::Get,
            path: "/things/7".into(),
            route: route.into(),
            params: pairs(params),
            query: pairs(query),
            headers: Vec::new(),
            body: body.as_bytes().to_vec(),
            request_id: "r".into(),
            tenant: "default".into(),
        }
    }

    fn show(Path(Id { id }): Path<Id>, Query(page): Query<Page>) -> Result<Json<String>, Problem> {
        Ok(Json(format!(
            "{id} {} {:?} {}",
            page.limit, page.after, page.exact
        )))
    }

    fn create(Json(thing): Json<Thing>) -> Result<Created<Thing>, Problem> {
        Ok(Created::at(3, thing))
    }

    fn one(Path(n): Path<u8>) -> Result<NoContent, Problem> {
        if n > 0 {
            Ok(NoContent)
        } else {
            Err(Problem::not_found("none"))
        }
    }

    fn router() -> Router {
        Router::new()
            .get("/{id}", "Show", show)
            .post("/", "Create", create)
            .delete("/n/{n}", "One", one)
    }

    #[test]
    fn typed_arguments_are_parsed_from_text() {
        let response = router()
            .dispatch(&request(
                "/{id}",
                &[("id", "7")],
                &[("exact", "true"), ("after", "x")],
                "",
            ))
            .unwrap();
        assert_eq!(response.status, 200);
        assert_eq!(
            String::from_utf8(response.body).unwrap(),
            r#""7 20 Some(\"x\") true""#
        );
        let problem = router()
            .dispatch(&request(
                "/{id}",
                &[("id", "seven")],
                &[("exact", "true")],
                "",
            ))
            .unwrap_err();
        assert_eq!(
            (problem.status, problem.field.as_deref()),
            (422, Some("id"))
        );
    }

    #[test]
    fn replies_carry_their_status_and_location() {
        let mut post = request("/", &[], &[], r#"{"name":"a"}"#);
        post.method = Method::Post;
        post.path = "/things".into();
        let response = router().dispatch(&post).unwrap();
        assert_eq!(response.status, 201);
        assert!(
            response
                .headers
                .contains(&("location".into(), "/things/3".into()))
        );
        let mut delete = request("/n/{n}", &[("n", "4")], &[], "");
        delete.method = Method::Delete;
        assert_eq!(router().dispatch(&delete).unwrap().status, 204);
    }

    #[test]
    fn the_description_has_typed_parameters_schemas_and_statuses() {
        let routes = router().describe();
        let show = &routes[0];
        assert_eq!(show.success_status, 200);
        let by_name = |name: &str| show.params.iter().find(|p| p.name == name).unwrap();
        let id = by_name("id");
        assert_eq!((id.location, id.required), (ParamLocation::Path, true));
        assert_eq!(id.description, "The thing's id.");
        let schema: Value = serde_json::from_str(&id.schema).unwrap();
        assert_eq!(
            (schema["type"].as_str(), schema["minimum"].as_i64()),
            (Some("integer"), Some(1))
        );
        let limit = by_name("limit");
        assert_eq!(
            (limit.location, limit.required),
            (ParamLocation::Query, false)
        );
        let limit: Value = serde_json::from_str(&limit.schema).unwrap();
        assert_eq!(
            (limit["maximum"].as_i64(), limit["default"].as_i64()),
            (Some(100), Some(20))
        );
        let after: Value = serde_json::from_str(&by_name("after").schema).unwrap();
        assert_eq!(after["type"], "string");
        assert!(!by_name("after").required);
        assert!(by_name("exact").required);
        assert_eq!(routes[1].success_status, 201);
        assert!(
            routes[1]
                .request_schema
                .as_deref()
                .unwrap()
                .contains("\"name\"")
        );
        assert!(routes[1].response_schema.is_some());
        assert_eq!(routes[2].success_status, 204);
        assert_eq!(routes[2].params[0].name, "n");
    }
}
