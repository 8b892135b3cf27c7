//! `/openapi.json`, built from the live services' manifests (their routes
//! and JSON Schemas); `/docs` (see `docs`) renders it.

use axum::Json;
use axum::extract::State;
use http::{HeaderMap, Uri};
use serde_json::{Map, Value, json};

use super::AppState;
use crate::registry::{DEFAULT_TENANT, RouteSpec, TenantSnapshot};

/// The document of the request's tenant (the default one when tenancy is
/// off or the request names none).
pub async fn document(State(state): State<AppState>, headers: HeaderMap, uri: Uri) -> Json<Value> {
    let snapshot = state.registry.snapshot();
    let tenant = state
        .tenancy
        .resolve(&headers, uri.authority().map(|a| a.as_str()), "/")
        .map_or_else(|_| DEFAULT_TENANT.to_string(), |(t, _)| t);
    Json(build(snapshot.tenant(&tenant).map(|t| t.as_ref())))
}

/// The OpenAPI 3.1 document of everything live for a tenant.
pub fn build(tenant: Option<&TenantSnapshot>) -> Value {
    let mut paths = Map::new();
    let mut schemas = Map::new();
    schemas.insert("Error".into(), error_schema());
    let mut tags = Vec::new();
    for deployment in tenant.iter().flat_map(|t| t.services.values()) {
        let service = &deployment.name;
        tags.push(json!({
            "name": service,
            "description": format!("{} (version {})", deployment.manifest.description, deployment.version),
        }));
        for route in &deployment.routes {
            let path = route.path.replace("{*", "{");
            let mut operation = json!({
                "tags": [service],
                "summary": route.summary,
                "operationId": operation_id(service, route.method.as_str(), &route.template),
                "responses": {
                    "default": {
                        "description": "An error",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                    }
                },
            });
            let parameters = parameters(route);
            if !parameters.is_empty() {
                operation["parameters"] = parameters.into();
            }
            if let Some(schema) =
                schema_ref(route.request_schema_text.as_deref(), service, &mut schemas)
            {
                operation["requestBody"] = json!({
                    "required": true,
                    "content": {"application/json": {"schema": schema}},
                });
            }
            let mut success = json!({ "description": "Success" });
            if let Some(schema) =
                schema_ref(route.response_schema_text.as_deref(), service, &mut schemas)
            {
                success["content"] = json!({"application/json": {"schema": schema}});
            }
            operation["responses"][route.success_status.to_string()] = success;
            // What the operator wrote of a standard component's route
            // comes first; the host fills in what it leaves out.
            if let Some(Value::Object(written)) = &route.operation {
                let generated = std::mem::take(operation.as_object_mut().expect("an object"));
                let mut merged = written.clone();
                for (key, value) in generated {
                    merged.entry(key).or_insert(value);
                }
                operation = Value::Object(merged);
            }
            let item = paths.entry(path).or_insert_with(|| json!({}));
            item[route.method.as_str().to_ascii_lowercase()] = operation;
        }
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "berth",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The services deployed on this berth host.",
        },
        "tags": tags,
        "paths": paths,
        "components": {"schemas": schemas},
    })
}

fn operation_id(service: &str, method: &str, template: &str) -> String {
    let mut id = format!("{service}_{}", method.to_ascii_lowercase());
    for part in template.split('/').filter(|p| !p.is_empty()) {
        id.push('_');
        id.extend(
            part.chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_'),
        );
    }
    id
}

/// The route's declared parameters with their schemas, and its other path
/// segments as plain strings.
fn parameters(route: &RouteSpec) -> Vec<Value> {
    let declared = route.params.specs();
    let mut parameters: Vec<Value> = path_params(&route.template)
        .into_iter()
        .filter(|name| !declared.iter().any(|d| d.location == "path" && d.name == *name))
        .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
        .collect();
    parameters.extend(declared.iter().map(|spec| {
        let mut parameter = json!({
            "name": spec.name,
            "in": spec.location,
            "required": spec.required,
            "schema": spec.schema,
        });
        if !spec.description.is_empty() {
            parameter["description"] = spec.description.clone().into();
        }
        parameter
    }));
    parameters
}

fn path_params(template: &str) -> Vec<String> {
    template
        .split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(|s| s.trim_start_matches('*').to_string())
        .collect()
}

/// Moves a schema's `$defs` into the components (named `<service>_<Name>`,
/// with their references rewritten) and returns a reference to the schema.
fn schema_ref(
    text: Option<&str>,
    service: &str,
    schemas: &mut Map<String, Value>,
) -> Option<Value> {
    let mut schema: Value = serde_json::from_str(text?).ok()?;
    let object = schema.as_object_mut()?;
    object.remove("$schema");
    if let Some(Value::Object(defs)) = object.remove("$defs") {
        for (name, mut def) in defs {
            rewrite_refs(&mut def, service);
            schemas.insert(format!("{service}_{name}"), def);
        }
    }
    rewrite_refs(&mut schema, service);
    match schema.get("title").and_then(Value::as_str) {
        Some(title) => {
            let name = format!("{service}_{title}");
            let reference = json!({ "$ref": format!("#/components/schemas/{name}") });
            schemas.insert(name, schema);
            Some(reference)
        }
        None => Some(schema),
    }
}

fn rewrite_refs(value: &mut Value, service: &str) {
    match value {
        Value::Object(map) => {
            for (key, child) in map.iter_mut() {
                match child {
                    Value::String(target) if key == "$ref" => {
                        if let Some(name) = target.strip_prefix("#/$defs/") {
                            *target = format!("#/components/schemas/{service}_{name}");
                        }
                    }
                    other => rewrite_refs(other, service),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| rewrite_refs(v, service)),
        _ => {}
    }
}

fn error_schema() -> Value {
    json!({
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message", "request_id"],
                "properties": {
                    "code": {"type": "string", "description": "A stable, machine-readable code"},
                    "message": {"type": "string"},
                    "request_id": {"type": "string"},
                    "field": {"type": "string", "description": "The request field at fault, for validation errors (the first of `errors`)"},
                    "errors": {
                        "type": "array",
                        "description": "For validation errors: every field at fault",
                        "items": {
                            "type": "object",
                            "required": ["field", "message"],
                            "properties": {
                                "field": {"type": "string"},
                                "location": {
                                    "type": "string",
                                    "enum": ["path", "query", "body"],
                                    "description": "Where the field is; given when the host checked it",
                                },
                                "message": {"type": "string"},
                            },
                        },
                    },
                },
            }
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defs_move_to_components_and_refs_follow() {
        let mut schemas = Map::new();
        let text = r##"{"$schema":"x","title":"ItemPage","type":"object",
            "properties":{"items":{"type":"array","items":{"$ref":"#/$defs/Item"}}},
            "$defs":{"Item":{"type":"object"}}}"##;
        let reference = schema_ref(Some(text), "items", &mut schemas).unwrap();
        assert_eq!(
            reference,
            json!({"$ref": "#/components/schemas/items_ItemPage"})
        );
        assert_eq!(
            schemas["items_ItemPage"]["properties"]["items"]["items"]["$ref"],
            "#/components/schemas/items_Item"
        );
        assert!(schemas.contains_key("items_Item"));
        assert!(schemas["items_ItemPage"].get("$schema").is_none());
    }

    #[test]
    fn path_parameters_and_operation_ids_come_from_the_template() {
        assert_eq!(path_params("/{id}/tags/{*rest}"), vec!["id", "rest"]);
        assert_eq!(operation_id("items", "GET", "/{id}"), "items_get_id");
        assert_eq!(operation_id("items", "POST", "/"), "items_post");
    }
}
