//! Checking what a service says about itself before anything of it goes
//! live: its name, routes, schemas, migrations and capabilities.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::bindings::{Capability, Manifest, Method};
use crate::config::names::{validate_service_name, validate_template};
use crate::registry::params::Params;
use crate::registry::pattern::Budget;
use crate::registry::schema::{Invalid, RequestSchema};
use crate::routing;

/// A route of a deployment, ready to serve.
#[derive(Debug)]
pub struct RouteSpec {
    pub method: http::Method,
    /// As the service declared it, relative to its mount point.
    pub template: String,
    /// Mounted: prefix + template.
    pub path: String,
    pub summary: String,
    pub success_status: u16,
    pub request_schema: Option<Arc<RequestSchema>>,
    pub request_schema_text: Option<String>,
    pub response_schema_text: Option<String>,
    /// The path and query parameters it declares.
    pub params: Params,
    /// The OpenAPI operation the operator wrote for a standard component's
    /// route.
    pub operation: Option<serde_json::Value>,
}

/// What checking a request against its route found.
#[derive(Debug, PartialEq)]
pub enum Checked {
    /// Every declared parameter and the body fit.
    Valid,
    /// Every problem found, in one list (at most [`super::MAX_PROBLEMS`]).
    Invalid(Vec<Invalid>),
    /// Matching its values against the route's patterns would take more
    /// than the budget it was given: not checked.
    TooCostly,
}

impl RouteSpec {
    /// Checks a request's declared parameters and its body against the
    /// route, matching patterns within `budget` of CPU time (see
    /// [`Budget`]).
    pub fn check(
        &self,
        params: &[(String, String)],
        query: &[(String, String)],
        body: &[u8],
        budget: std::time::Duration,
    ) -> Checked {
        let (problems, exhausted) = Budget::run(budget, || {
            let mut problems = self.params.check(params, query);
            if let Some(schema) = &self.request_schema {
                problems.extend(schema.check(body).err().unwrap_or_default());
            }
            problems
        });
        match (exhausted, problems.is_empty()) {
            (true, _) => Checked::TooCostly,
            (false, true) => Checked::Valid,
            (false, false) => {
                let mut problems = problems;
                problems.truncate(super::MAX_PROBLEMS);
                Checked::Invalid(problems)
            }
        }
    }
}

pub fn http_method(method: &Method) -> Result<http::Method, String> {
    let text = match method {
        Method::Get => "GET",
        Method::Head => "HEAD",
        Method::Post => "POST",
        Method::Put => "PUT",
        Method::Patch => "PATCH",
        Method::Delete => "DELETE",
        Method::Options => "OPTIONS",
        Method::Other(other) => other.as_str(),
    };
    http::Method::from_bytes(text.as_bytes()).map_err(|_| format!("`{text}` is not an HTTP method"))
}

/// How much a manifest may declare: a service describes itself, and the
/// host holds what it says for as long as the version is live.
pub mod bounds {
    pub const ROUTES: usize = 256;
    pub const MIGRATIONS: usize = 1_000;
    pub const MIGRATION_SQL_BYTES: usize = crate::capabilities::database::backend::MAX_SQL_BYTES;
    pub const ALL_MIGRATIONS_BYTES: usize = 16 << 20;
    pub const SETTINGS: usize = 256;
    pub const SCHEMA_BYTES: usize = 64 * 1024;
    pub const TEXT_BYTES: usize = 4 * 1024;
    pub const VERSION_BYTES: usize = 64;
}

fn bounded(what: &str, len: usize, max: usize) -> Result<(), String> {
    if len > max {
        Err(format!("{what} is {len} long; at most {max} is allowed"))
    } else {
        Ok(())
    }
}

/// Checks that nothing in the manifest is larger or more numerous than
/// [`bounds`] allow.
fn check_bounds(manifest: &Manifest) -> Result<(), String> {
    bounded("the version", manifest.version.len(), bounds::VERSION_BYTES)?;
    bounded(
        "the description",
        manifest.description.len(),
        bounds::TEXT_BYTES,
    )?;
    bounded("the route list", manifest.routes.len(), bounds::ROUTES)?;
    bounded(
        "the migration list",
        manifest.migrations.len(),
        bounds::MIGRATIONS,
    )?;
    bounded(
        "the setting list",
        manifest.settings.len(),
        bounds::SETTINGS,
    )?;
    bounded("the capability list", manifest.capabilities.len(), 16)?;
    for route in &manifest.routes {
        bounded("a route path", route.path.len(), 1024)?;
        bounded("a route summary", route.summary.len(), bounds::TEXT_BYTES)?;
        for schema in [&route.request_schema, &route.response_schema]
            .into_iter()
            .flatten()
        {
            bounded("a route schema", schema.len(), bounds::SCHEMA_BYTES)?;
        }
    }
    let mut total = 0;
    for migration in &manifest.migrations {
        bounded("a migration name", migration.name.len(), 256)?;
        for sql in
            std::iter::once(&migration.sql).chain(migration.dialect_sql.iter().map(|(_, sql)| sql))
        {
            bounded("a migration's SQL", sql.len(), bounds::MIGRATION_SQL_BYTES)?;
            total += sql.len();
        }
    }
    bounded("the migrations' SQL", total, bounds::ALL_MIGRATIONS_BYTES)?;
    for setting in &manifest.settings {
        bounded("a setting key", setting.key.len(), 128)?;
        bounded(
            "a setting's description",
            setting.description.len(),
            bounds::TEXT_BYTES,
        )?;
        bounded(
            "a setting's default",
            setting.default.as_ref().map_or(0, String::len),
            bounds::TEXT_BYTES,
        )?;
    }
    Ok(())
}

/// Checks the manifest and turns its routes into mounted route specs.
pub fn check(
    manifest: &Manifest,
    prefix: &str,
    granted: &[Capability],
) -> Result<Vec<RouteSpec>, String> {
    validate_service_name(&manifest.name)?;
    check_bounds(manifest)?;
    if manifest.version.trim().is_empty() {
        return Err("the manifest has an empty version".into());
    }
    for capability in &manifest.capabilities {
        if !granted.contains(capability) {
            return Err(format!(
                "the service needs the {capability:?} capability, which is not granted"
            ));
        }
    }
    let mut last = 0;
    for migration in &manifest.migrations {
        if migration.version <= last {
            return Err(format!(
                "migration versions must start at 1 and strictly increase (found {} after {last})",
                migration.version
            ));
        }
        last = migration.version;
    }
    if !manifest.migrations.is_empty() && !manifest.capabilities.contains(&Capability::Database) {
        return Err(
            "the service has migrations but does not ask for the database capability".into(),
        );
    }
    let mut keys = BTreeMap::new();
    for setting in &manifest.settings {
        if keys.insert(setting.key.as_str(), ()).is_some() {
            return Err(format!("setting `{}` is declared twice", setting.key));
        }
    }
    manifest
        .routes
        .iter()
        .map(|route| {
            let method = http_method(&route.method)?;
            validate_template(&route.path)
                .map_err(|e| format!("route {method} {}: {e}", route.path))?;
            if !(100..=599).contains(&route.success_status) {
                return Err(format!(
                    "route {method} {}: status {} is not an HTTP status",
                    route.path, route.success_status
                ));
            }
            let request_schema = route
                .request_schema
                .as_deref()
                .map(RequestSchema::compile)
                .transpose()
                .map_err(|e| format!("route {method} {}: request schema: {e}", route.path))?
                .map(Arc::new);
            let params = Params::compile(&route.params, &route.path)
                .map_err(|e| format!("route {method} {}: {e}", route.path))?;
            if let Some(text) = &route.response_schema {
                serde_json::from_str::<serde_json::Value>(text).map_err(|e| {
                    format!(
                        "route {method} {}: response schema is not JSON: {e}",
                        route.path
                    )
                })?;
            }
            Ok(RouteSpec {
                path: routing::mount(prefix, &route.path),
                method,
                template: route.path.clone(),
                summary: route.summary.clone(),
                success_status: route.success_status,
                request_schema,
                request_schema_text: route.request_schema.clone(),
                response_schema_text: route.response_schema.clone(),
                params,
                operation: None,
            })
        })
        .collect()
}
