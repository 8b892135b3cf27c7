//! What the operator says of a standard `wasi:http/proxy` component, which
//! cannot describe itself: the routes it serves and, for `/openapi.json`,
//! an OpenAPI path item per route. Both relative to its mount point:
//!
//! ```toml
//! [services.wasi-hello]
//! routes = ["GET /hello/{name}", "POST /echo", "* /files/{*path}"]
//! [services.wasi-hello.openapi."/hello/{name}".get]
//! summary = "Greets by name"
//! ```
//!
//! Without `routes`, the paths and methods of `openapi` are its routes;
//! without either, every common method on its whole mount point.

use std::sync::Arc;

use http::Method;
use serde_json::Value;

use super::names::validate_template;

/// Methods a route written `*` (and the default catch-all) answers; `HEAD`
/// is answered by `GET` routes.
pub const ANY_METHOD: &[Method] = &[
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
    Method::OPTIONS,
];

/// Most routes one component may be given, and the largest OpenAPI
/// fragment (as JSON).
const MAX_ROUTES: usize = 256;
const MAX_OPENAPI_BYTES: usize = 64 * 1024;

/// One route of a standard component, relative to its mount point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentRoute {
    pub method: Method,
    pub template: String,
}

/// The routes and OpenAPI paths the operator gave a standard component.
#[derive(Debug, Clone, PartialEq)]
pub struct ComponentConfig {
    pub routes: Vec<ComponentRoute>,
    /// OpenAPI path items keyed by template, as configured.
    pub openapi: Option<Arc<Value>>,
}

impl ComponentConfig {
    /// Checks and resolves `routes` and `openapi` as configured.
    pub fn resolve(
        routes: Option<&[String]>,
        openapi: Option<&toml::Table>,
    ) -> Result<ComponentConfig, String> {
        let openapi = openapi.map(check_openapi).transpose()?;
        let routes = match (routes, &openapi) {
            (Some(routes), _) => routes
                .iter()
                .map(|r| parse_route(r))
                .collect::<Result<Vec<_>, _>>()?
                .concat(),
            (None, Some(paths)) => routes_of(paths)?,
            (None, None) => ["/", "/{*path}"]
                .iter()
                .flat_map(|template| {
                    ANY_METHOD.iter().map(|method| ComponentRoute {
                        method: method.clone(),
                        template: template.to_string(),
                    })
                })
                .collect(),
        };
        if routes.len() > MAX_ROUTES {
            return Err(format!(
                "{} routes; at most {MAX_ROUTES} are allowed",
                routes.len()
            ));
        }
        Ok(ComponentConfig {
            routes,
            openapi: openapi.map(Arc::new),
        })
    }

    /// The OpenAPI operation configured for a route, if any.
    pub fn operation(&self, method: &Method, template: &str) -> Option<&Value> {
        let method = method.as_str().to_ascii_lowercase();
        self.openapi.as_ref()?.get(template)?.get(method)
    }
}

/// `METHOD /template`, where `*` is every method of [`ANY_METHOD`].
fn parse_route(text: &str) -> Result<Vec<ComponentRoute>, String> {
    let (method, template) = text
        .trim()
        .split_once(char::is_whitespace)
        .ok_or_else(|| format!("route `{text}` is not `METHOD /path`"))?;
    let template = template.trim();
    validate_template(template).map_err(|e| format!("route `{text}`: {e}"))?;
    let methods = if method == "*" {
        ANY_METHOD.to_vec()
    } else {
        let method = Method::from_bytes(method.to_ascii_uppercase().as_bytes())
            .map_err(|_| format!("route `{text}`: `{method}` is not an HTTP method"))?;
        vec![method]
    };
    Ok(methods
        .into_iter()
        .map(|method| ComponentRoute {
            method,
            template: template.to_string(),
        })
        .collect())
}

/// An object of path items keyed by template, each an object: bounded.
fn check_openapi(table: &toml::Table) -> Result<Value, String> {
    let paths = serde_json::to_value(table).map_err(|e| format!("openapi: {e}"))?;
    let size = serde_json::to_string(&paths).map_or(usize::MAX, |t| t.len());
    if size > MAX_OPENAPI_BYTES {
        return Err(format!(
            "openapi is {size} bytes as JSON; at most {MAX_OPENAPI_BYTES} are allowed"
        ));
    }
    for (template, item) in paths.as_object().into_iter().flatten() {
        validate_template(template).map_err(|e| format!("openapi path `{template}`: {e}"))?;
        if !item.is_object() {
            return Err(format!("openapi path `{template}` is not a table"));
        }
    }
    Ok(paths)
}

/// The routes an OpenAPI fragment describes.
fn routes_of(paths: &Value) -> Result<Vec<ComponentRoute>, String> {
    const METHODS: &[&str] = &[
        "get", "put", "post", "delete", "options", "head", "patch", "trace",
    ];
    let mut routes = Vec::new();
    for (template, item) in paths.as_object().into_iter().flatten() {
        for method in item.as_object().into_iter().flatten().map(|(m, _)| m) {
            if METHODS.contains(&method.as_str()) {
                routes.push(ComponentRoute {
                    method: Method::from_bytes(method.to_ascii_uppercase().as_bytes())
                        .map_err(|e| e.to_string())?,
                    template: template.clone(),
                });
            }
        }
    }
    if routes.is_empty() {
        return Err("openapi describes no operation; give `routes` too".into());
    }
    Ok(routes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> toml::Table {
        text.parse().unwrap()
    }

    #[test]
    fn routes_come_from_the_list_then_the_openapi_paths_then_a_catch_all() {
        let listed = ComponentConfig::resolve(
            Some(&["GET /hello/{name}".into(), "* /files/{*path}".into()]),
            None,
        )
        .unwrap();
        assert_eq!(listed.routes.len(), 1 + ANY_METHOD.len());
        assert_eq!(listed.routes[0].template, "/hello/{name}");

        let documented =
            ComponentConfig::resolve(None, Some(&table("[\"/echo\".post]\nsummary = \"Echoes\"")))
                .unwrap();
        assert_eq!(
            documented.routes,
            [ComponentRoute {
                method: Method::POST,
                template: "/echo".into()
            }]
        );
        let operation = documented.operation(&Method::POST, "/echo").unwrap();
        assert_eq!(operation["summary"], "Echoes");

        let default = ComponentConfig::resolve(None, None).unwrap();
        assert_eq!(default.routes.len(), 2 * ANY_METHOD.len());
    }

    #[test]
    fn bad_routes_and_fragments_are_refused() {
        for bad in ["GET", "FROB@ /x", "GET x", "GET /x/", "GET /a?b"] {
            assert!(
                ComponentConfig::resolve(Some(&[bad.into()]), None).is_err(),
                "{bad}"
            );
        }
        assert!(ComponentConfig::resolve(None, Some(&table("x = 1"))).is_err());
        assert!(ComponentConfig::resolve(None, Some(&table("[\"/x\"]\ny = 1"))).is_err());
        let huge = format!("[\"/x\".get]\nsummary = \"{}\"", "a".repeat(70_000));
        assert!(ComponentConfig::resolve(None, Some(&table(&huge))).is_err());
        let many: Vec<String> = (0..300).map(|i| format!("GET /r{i}")).collect();
        assert!(ComponentConfig::resolve(Some(&many), None).is_err());
    }
}
